"""Theano's ``theano.tensor.nnet.neighbours``: ``images2neibs`` cuts each image of a 4-d
tensor into patches, one row of a matrix each; ``neibs2images`` puts such rows back.

Patches that tile the image (the step is the patch's shape) are a reshape and a
transposition, for any image size; other steps and the padded and wrapping modes gather
each patch through a constant index array, so the image's rows and columns must be known
when the graph is built. Either way the gradient is that of the reshape or the gather.
"""

import numpy as np

from codegen.tensor import basic as t
from codegen.tensor.conv import _pad, _pair, _windows

MODES = ("valid", "ignore_borders", "half", "full", "wrap_centered")


def images2neibs(ten4, neib_shape, neib_step=None, mode="valid"):
    """The (rows, columns) = ``neib_shape`` patches of each image ``ten4[i, j]``, every
    ``neib_step`` (``neib_shape`` by default) apart, as rows of a matrix: images in order,
    each image's patches in row-major order, each patch's elements likewise.

    ``mode``: 'valid' (the patches must cover the image exactly), 'ignore_borders' (rows
    and columns past the last whole patch are left out), 'half' and 'full' (the image
    padded with zeros by half the patch or all of it but one, on each side), or
    'wrap_centered' (a patch centred on every step-th pixel, wrapping around the edges; odd
    patch shapes)."""
    ten4 = t.as_tensor_variable(ten4)
    if ten4.ndim != 4:
        raise TypeError(f"images2neibs: ten4 must be a 4-d tensor, got {ten4.type} "
                        f"({ten4.label()})")
    if mode not in MODES:
        raise ValueError(f"images2neibs: mode must be one of {', '.join(MODES)}, got "
                         f"{mode!r}")
    nh, nw = _pair(neib_shape, "images2neibs: neib_shape")
    sh, sw = _pair(neib_shape if neib_step is None else neib_step, "images2neibs: neib_step")
    h, w = (ten4.type.shape or (None,) * 4)[2:]
    if mode == "valid" and h is not None and w is not None and ((h - nh) % sh or (w - nw) % sw):
        raise ValueError(f"images2neibs: in mode 'valid' the patches ({nh} x {nw}, every "
                         f"{sh} x {sw}) must cover the image ({h} x {w}) exactly; use "
                         f"mode='ignore_borders' to leave the rest out")
    if mode in ("valid", "ignore_borders") and (sh, sw) == (nh, nw):
        return _tiles(ten4, nh, nw, mode)
    if h is None or w is None:
        raise NotImplementedError(f"images2neibs: with mode {mode!r} and a step of "
                                  f"{(sh, sw)} for patches of {(nh, nw)}, the rows and columns "
                                  f"of {ten4.label()} must be known when the graph is built "
                                  f"(give its type a shape), got {ten4.type.shape}")
    if mode == "wrap_centered":
        if nh % 2 == 0 or nw % 2 == 0 or nh > h or nw > w:
            raise ValueError(f"images2neibs: mode 'wrap_centered' needs odd patch shapes no "
                             f"larger than the image ({h} x {w}), got {(nh, nw)}")
        rows = (np.arange(0, h, sh)[:, None, None, None] + np.arange(nh)[None, None, :, None]
                - nh // 2) % h
        cols = (np.arange(0, w, sw)[None, :, None, None] + np.arange(nw)[None, None, None, :]
                - nw // 2) % w
        spots = (rows * w + cols).reshape(-1, nh * nw)
        return ten4.reshape((-1, h * w))[:, spots].reshape((-1, nh * nw))
    ph, pw = {"half": (nh // 2, nw // 2), "full": (nh - 1, nw - 1)}.get(mode, (0, 0))
    hp, wp = h + 2 * ph, w + 2 * pw
    out_h, out_w = (hp - nh) // sh + 1, (wp - nw) // sw + 1
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"images2neibs: patches of {(nh, nw)} do not fit the image "
                         f"({h} x {w}) in mode {mode!r}")
    image = _pad(ten4, (None, t.shape_of(ten4, 1), h, w), (ph, pw)).reshape((-1, hp * wp))
    spots = _windows((hp, wp), (nh, nw), (sh, sw), (1, 1), (out_h, out_w))
    return image[:, spots].reshape((-1, nh * nw))


def _tiles(ten4, nh, nw, mode):
    """Patches that tile the image: its rows and columns split into (patch, within) pairs,
    the within axes moved last."""
    gh, gw = t.shape_of(ten4, 2) // nh, t.shape_of(ten4, 3) // nw
    if mode == "ignore_borders":
        ten4 = ten4[:, :, :gh * nh, :gw * nw]
    return ten4.reshape((-1, gh, nh, gw, nw)).dimshuffle(0, 1, 3, 2, 4).reshape((-1, nh * nw))


def neibs2images(neibs, neib_shape, original_shape, mode="valid"):
    """The inverse of ``images2neibs`` for patches that tile the image: ``neibs`` (one patch
    a row) put back into a tensor of ``original_shape``; with 'ignore_borders', the rows and
    columns no patch covered are zeros."""
    neibs = t.as_tensor_variable(neibs)
    if mode not in ("valid", "ignore_borders"):
        raise NotImplementedError(f"neibs2images: mode must be 'valid' or 'ignore_borders' "
                                  f"(as in Theano), got {mode!r}")
    if neibs.ndim != 2:
        raise TypeError(f"neibs2images: neibs must be a matrix, got {neibs.type} "
                        f"({neibs.label()})")
    nh, nw = _pair(neib_shape, "neibs2images: neib_shape")
    shape = [original_shape[k] for k in range(4)]
    gh, gw = shape[2] // nh, shape[3] // nw
    tiles = neibs.reshape((shape[0], shape[1], gh, gw, nh, nw)).dimshuffle(0, 1, 2, 4, 3, 5)
    images = tiles.reshape((shape[0], shape[1], gh * nh, gw * nw))
    if mode == "valid":
        return t.specify_shape(images, shape)
    frame = t.zeros(shape, dtype=neibs.dtype)
    return t.set_subtensor(frame[:, :, :gh * nh, :gw * nw], images)


__all__ = ["images2neibs", "neibs2images"]
