"""conv2d and pool_2d against numpy loops and finite differences, on the reference, the
Cython backend, emulated CUDA and the c target; conv3d and pool_3d likewise on the Cython
backend and emulated CUDA."""

import numpy as np
import pytest

import codegen
import codegen.tensor as T
from codegen.compile.module import load_module
from codegen.gradient import verify_grad
from codegen.tensor.signal import pool

IN, FILT = (2, 3, 7, 6), (4, 3, 3, 2)


def np_conv(x, f, mode="valid", stride=(1, 1), flip=True, dil=(1, 1)):
    f = f[:, :, ::-1, ::-1] if flip else f
    kh, kw = f.shape[2:]
    eh, ew = dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1
    ph, pw = {"valid": (0, 0), "full": (eh - 1, ew - 1), "half": (eh // 2, ew // 2)}.get(
        mode, mode)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (xp.shape[2] - eh) // stride[0] + 1
    ow = (xp.shape[3] - ew) // stride[1] + 1
    out = np.zeros((x.shape[0], f.shape[0], oh, ow))
    for i in range(oh):
        for j in range(ow):
            r, c = i * stride[0], j * stride[1]
            patch = xp[:, :, r:r + eh:dil[0], c:c + ew:dil[1]]
            out[:, :, i, j] = np.einsum("bchw,fchw->bf", patch, f)
    return out


def np_pool(x, ws, stride=None, pad=(0, 0), mode="max", ignore_border=True):
    stride = stride or ws
    b, c, h, w = x.shape
    ph, pw = pad
    if ignore_border:
        oh, ow = (h + 2 * ph - ws[0]) // stride[0] + 1, (w + 2 * pw - ws[1]) // stride[1] + 1
    else:
        oh = (h - 1) // stride[0] + 1 if stride[0] >= ws[0] else \
            max(0, (h - 1 - ws[0] + stride[0]) // stride[0]) + 1
        ow = (w - 1) // stride[1] + 1 if stride[1] >= ws[1] else \
            max(0, (w - 1 - ws[1] + stride[1]) // stride[1]) + 1
    out = np.zeros((b, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride[0] - ph, j * stride[1] - pw
            r1, c1 = r0 + ws[0], c0 + ws[1]
            win = x[:, :, max(r0, 0):min(r1, h), max(c0, 0):min(c1, w)]
            if mode == "max":
                out[:, :, i, j] = win.max(axis=(2, 3))
            elif mode == "sum":
                out[:, :, i, j] = win.sum(axis=(2, 3))
            elif mode == "average_exc_pad":
                out[:, :, i, j] = win.mean(axis=(2, 3))
            else:  # average_inc_pad: the padding counts, a partial window's outside not
                rows = min(r1, h + ph) - max(r0, -ph)
                cols = min(c1, w + pw) - max(c0, -pw)
                out[:, :, i, j] = win.sum(axis=(2, 3)) / (rows * cols)
    return out


CONVS = [dict(), dict(border_mode="full"), dict(border_mode="half"),
         dict(border_mode=(1, 2), subsample=(2, 1)), dict(filter_flip=False),
         dict(filter_dilation=(2, 1))]
POOLS = [dict(ws=(2, 2)), dict(ws=(3, 2), stride=(1, 2)), dict(ws=(2, 2), mode="sum"),
         dict(ws=(2, 3), ignore_border=False), dict(ws=(3, 3), stride=(2, 2), ignore_border=False),
         dict(ws=(2, 2), pad=(1, 1), mode="average_inc_pad"),
         dict(ws=(2, 2), pad=(1, 1), mode="average_exc_pad"), dict(ws=(3, 2), pad=(1, 0))]
POOLS = [{"ignore_border": True, **kw} for kw in POOLS]  # Theano's default is False


def _conv_case(kw):
    def ref(x, f):
        return np_conv(x, f, kw.get("border_mode", "valid"), kw.get("subsample", (1, 1)),
                       kw.get("filter_flip", True), kw.get("filter_dilation", (1, 1)))
    return ref


def _pool_case(kw):
    def ref(x):
        return np_pool(x, kw["ws"], kw.get("stride"), kw.get("pad", (0, 0)),
                       kw.get("mode", "max"), kw.get("ignore_border", True))
    return ref


def _x():
    return T.tensor("float64", (False,) * 4, "x", shape=(None,) + IN[1:])


def _values():
    rng = np.random.RandomState(0)
    return rng.randn(*IN), rng.randn(*FILT)


def _module(name):
    m = codegen.Module(name)
    for k, kw in enumerate(CONVS):
        x, w = _x(), T.tensor4("w")
        m.add_function(f"conv{k}", [x, w], T.nnet.conv2d(x, w, filter_shape=FILT, **kw))
    for k, kw in enumerate(POOLS):
        x = _x()
        m.add_function(f"pool{k}", [x], pool.pool_2d(x, **kw))
    return m


def _check(call):
    xv, wv = _values()
    for k, kw in enumerate(CONVS):
        np.testing.assert_allclose(call(f"conv{k}", xv, wv), _conv_case(kw)(xv, wv),
                                   rtol=1e-12, atol=1e-12, err_msg=str(kw))
    for k, kw in enumerate(POOLS):
        np.testing.assert_allclose(call(f"pool{k}", xv), _pool_case(kw)(xv), rtol=1e-12,
                                   atol=1e-12, err_msg=str(kw))


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_through_function(mode):
    specs = {s.name: s for s in _module("unused").specs}

    def call(name, *args):
        s = specs[name]
        return codegen.function([i.variable for i in s.ins], s.fgraph.outputs[0],
                                mode=mode)(*args)
    _check(call)


def test_on_the_cython_backend(tmp_path):
    mod = load_module(_module("conv_cython").build(str(tmp_path)))
    _check(lambda name, *args: getattr(mod, name)(*args))


def test_on_emulated_cuda(tmp_path, cuda_emulated):
    with cuda_emulated():
        mod = load_module(_module("conv_cuda").build(str(tmp_path)))
    _check(lambda name, *args: getattr(mod, name)(*args))


def test_in_the_c_library(tmp_path):
    from clib import CLibrary
    lib = CLibrary(_module("conv_c"), str(tmp_path))
    try:
        _check(lambda name, *args: lib.call(name, *args)[0])
    finally:
        lib.close()


@pytest.mark.parametrize("kw", CONVS[:4], ids=str)
def test_conv2d_gradients_against_finite_differences(kw):
    rng = np.random.RandomState(1)
    xv, wv = rng.randn(2, 2, 5, 4), rng.randn(3, 2, 3, 2)

    def fn(x, w):
        x = T.as_tensor_variable(x)
        return T.nnet.conv2d(x, w, input_shape=(None, 2, 5, 4), filter_shape=(3, 2, 3, 2), **kw)
    verify_grad(fn, [xv, wv], rng=rng)


@pytest.mark.parametrize("kw", POOLS, ids=str)
def test_pool_gradients_against_finite_differences(kw):
    rng = np.random.RandomState(2)
    xv = rng.permutation(2 * 2 * 5 * 4).reshape(2, 2, 5, 4) / 7.0  # no ties for max

    def fn(x):
        return pool.pool_2d(_shaped(x), **kw)
    verify_grad(fn, [xv], rng=rng)


def _shaped(x):
    """``x`` with its shape known past the first axis (a reshape to it)."""
    return x.reshape((-1, 2, 5, 4))


def np_conv3d(x, f, pads=(0, 0, 0), stride=(1, 1, 1), flip=True, dil=(1, 1, 1)):
    f = f[:, :, ::-1, ::-1, ::-1] if flip else f
    ext = [d * (k - 1) + 1 for d, k in zip(dil, f.shape[2:])]
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in pads))
    outs = [(n - e) // s + 1 for n, e, s in zip(xp.shape[2:], ext, stride)]
    out = np.zeros((x.shape[0], f.shape[0], *outs))
    for i, j, k in np.ndindex(*outs):
        a, b, c = i * stride[0], j * stride[1], k * stride[2]
        patch = xp[:, :, a:a + ext[0]:dil[0], b:b + ext[1]:dil[1], c:c + ext[2]:dil[2]]
        out[:, :, i, j, k] = np.einsum("bcdhw,fcdhw->bf", patch, f)
    return out


def np_pool3d(x, ws, stride, mode):
    outs = [(n - k) // s + 1 for n, k, s in zip(x.shape[2:], ws, stride)]
    out = np.zeros(x.shape[:2] + tuple(outs))
    for i, j, k in np.ndindex(*outs):
        win = x[:, :, i * stride[0]:i * stride[0] + ws[0], j * stride[1]:j * stride[1] + ws[1],
                k * stride[2]:k * stride[2] + ws[2]]
        out[:, :, i, j, k] = win.max(axis=(2, 3, 4)) if mode == "max" else \
            win.mean(axis=(2, 3, 4))
    return out


CONV3DS = [(dict(), {}), (dict(border_mode="full"), dict(pads=(1, 2, 1))),
           (dict(border_mode=(1, 0, 2), subsample=(2, 1, 2), filter_flip=False),
            dict(pads=(1, 0, 2), stride=(2, 1, 2), flip=False)),
           (dict(border_mode="half", filter_dilation=(1, 2, 1)),
            dict(pads=(1, 2, 1), dil=(1, 2, 1)))]
POOL3DS = [dict(ws=(2, 2, 2), ignore_border=True),
           dict(ws=(2, 3, 2), stride=(1, 2, 1), ignore_border=True),
           dict(ws=(2, 2, 1), mode="average_exc_pad", ignore_border=True)]


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_conv3d_and_pool_3d_against_numpy_loops(device, cuda_emulated, tmp_path):
    """conv3d (each border mode, strides, no flip, dilation) and pool_3d (tiling max,
    overlapping max, average) compiled, against numpy loops."""
    shape, filt = (2, 2, 5, 6, 4), (3, 2, 2, 3, 2)
    m = codegen.Module(f"conv3d_{device}")
    for k, (kw, _) in enumerate(CONV3DS):
        x, w = T.tensor("float64", (False,) * 5, "x", shape=(None,) + shape[1:]), T.tensor5("w")
        m.add_function(f"conv{k}", [x, w], T.nnet.conv3d(x, w, filter_shape=filt, **kw))
    for k, kw in enumerate(POOL3DS):
        x = T.tensor("float64", (False,) * 5, "x", shape=(None,) + shape[1:])
        m.add_function(f"pool{k}", [x], pool.pool_3d(x, **kw))
    if device == "cuda":
        with cuda_emulated():
            mod = load_module(m.build(str(tmp_path)))
    else:
        mod = load_module(m.build(str(tmp_path)))
    rng = np.random.RandomState(3)
    xv, wv = rng.randn(*shape), rng.randn(*filt)
    for k, (_, ref) in enumerate(CONV3DS):
        np.testing.assert_allclose(getattr(mod, f"conv{k}")(xv, wv), np_conv3d(xv, wv, **ref),
                                   rtol=1e-12, atol=1e-12, err_msg=str(ref))
    for k, kw in enumerate(POOL3DS):
        want = np_pool3d(xv, kw["ws"], kw.get("stride", kw["ws"]), kw.get("mode", "max"))
        np.testing.assert_allclose(getattr(mod, f"pool{k}")(xv), want, rtol=1e-12,
                                   atol=1e-12, err_msg=str(kw))


def test_conv3d_and_pool_3d_gradients_against_finite_differences():
    rng = np.random.RandomState(4)
    xv, wv = rng.permutation(2 * 2 * 4 * 3 * 4).reshape(2, 2, 4, 3, 4) / 9.0, rng.randn(2, 2,
                                                                                       2, 2, 3)

    def fn(x, w):
        x = T.as_tensor_variable(x).reshape((-1, 2, 4, 3, 4))
        y = T.nnet.conv3d(x, w, filter_shape=(2, 2, 2, 2, 3), border_mode="half",
                          subsample=(1, 2, 1))
        return y.sum() + pool.pool_3d(x, ws=(2, 1, 2), stride=(1, 1, 2), ignore_border=False,
                                      mode="average_exc_pad").sum() + pool.pool_3d(
            x, ws=(2, 3, 2), ignore_border=True).sum()
    # every term is linear in x and in w (pieces of it, for max), so a step of 1e-4 is exact
    # but for rounding, and no max changes its argument (the values are 1/9 apart)
    verify_grad(fn, [xv, wv], rng=rng, eps=1e-4)


# ---------------------------------------------------------------- abstract_conv

def _padded(x, pads):
    return np.pad(x, ((0, 0), (0, 0), *pads))


def test_transposed_convolution_and_the_weights_gradient_are_adjoints_of_conv2d():
    """conv2d_grad_wrt_inputs and conv2d_grad_wrt_weights as Theano defines them: for the
    forward convolution C (asymmetric border, strides, dilation, a flip), <C(x, w), g> is
    <x, grad_inputs(g, w)> and <w, grad_weights(x, g)>; compiled, as the reference computes
    them; and differentiable in turn."""
    from codegen.tensor.nnet import abstract_conv as ac
    rng = np.random.default_rng(5)
    border, stride, dil = ((1, 0), 2), (2, 1), (1, 2)
    xv, wv = rng.standard_normal((2, 2, 7, 6)), rng.standard_normal((3, 2, 3, 2))
    out = np_conv(_padded(xv, ((1, 0), (2, 2))), wv, stride=stride, dil=dil)
    gv = rng.standard_normal(out.shape)
    g, w, x = T.tensor4("g"), T.tensor4("w"), T.tensor4("x")
    kw = dict(border_mode=border, subsample=stride, filter_dilation=dil)
    gx = T.nnet.abstract_conv.conv2d_grad_wrt_inputs(g, w, (None, 2, 7, 6), (3, 2, 3, 2), **kw)
    gw = ac.conv2d_grad_wrt_weights(x, g, (3, 2, 3, 2), (None, 2, 7, 6), **kw)
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        got_x, got_w = codegen.function([x, g, w], [gx, gw], mode=mode)(xv, gv, wv)
        assert got_x.shape == xv.shape and got_w.shape == wv.shape
        np.testing.assert_allclose(np.sum(xv * got_x), np.sum(out * gv), rtol=1e-12)
        np.testing.assert_allclose(np.sum(wv * got_w), np.sum(out * gv), rtol=1e-12)
    # each output element against numpy: the transposed convolution of one-hot gradients
    one = np.zeros_like(gv)
    one[1, 2, 1, 3] = 1.0
    column = codegen.function([g, w], gx, mode="FAST_COMPILE")(one, wv)
    expected = np.zeros_like(xv)
    for idx in np.ndindex(*xv.shape):
        e = np.zeros_like(xv)
        e[idx] = 1.0
        expected[idx] = np_conv(_padded(e, ((1, 0), (2, 2))), wv, stride=stride, dil=dil)[
            1, 2, 1, 3]
    np.testing.assert_allclose(column, expected, atol=1e-14)

    def transposed(gg, ww):
        return T.nnet.abstract_conv.conv2d_grad_wrt_inputs(
            gg, ww, (None, 2, 7, 6), (3, 2, 3, 2), **kw)
    verify_grad(transposed, [gv, wv], rng=np.random.RandomState(0), mode="FAST_COMPILE")
    with pytest.raises(ValueError, match="output_grad .* does not have the convolution's "
                                         r"output shape \(None, 3, 3, 8\)"):
        ac.conv2d_grad_wrt_inputs(T.TensorType("float64", (False,) * 4, (None, 3, 5, 4))(),
                                  w, (None, 2, 7, 6), (3, 2, 3, 2), **kw)
    # the input's rows symbolic (Keras' Conv2DTranspose passes the lengths it computes
    # from the input's shape): the same values, compiled and in the reference
    symbolic = ac.conv2d_grad_wrt_inputs(g, w, (None, 2, x.shape[2], 6), (3, 2, 3, 2), **kw)
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        np.testing.assert_allclose(codegen.function([x, g, w], symbolic, mode=mode,
                                                    on_unused_input="ignore")(xv, gv, wv),
                                   got_x, rtol=1e-12)


def _twice_theirs(x, r):
    """Bilinear upsampling of a 2 x 2 image as Theano's tests write it out: the corners'
    weights 0..r along each axis, the border rows and columns repeated (r - 1) // 2 times
    on each side, once more at the end for an even r, all divided by r ** 2."""
    k = np.arange(r + 1.0)
    rows = x[:, :, :, :1] * k[::-1] + x[:, :, :, 1:] * k
    up = rows[:, :, :1, :] * k[::-1, None] + rows[:, :, 1:, :] * k[:, None]
    for _ in range((r - 1) // 2):
        up = np.concatenate([up[:, :, :1], up, up[:, :, -1:]], axis=2)
        up = np.concatenate([up[:, :, :, :1], up, up[:, :, :, -1:]], axis=3)
    if r % 2 == 0:
        up = np.concatenate([up, up[:, :, -1:]], axis=2)
        up = np.concatenate([up, up[:, :, :, -1:]], axis=3)
    return up / r ** 2


def test_bilinear_upsampling_as_theano_computes_it():
    """bilinear_upsampling: the written-out values of Theano's tests (2 x 2, ratios 1-9),
    and the same values as Theano's own construction, the border-extended input through
    conv2d_grad_wrt_inputs with the 1-d kernel, rows then columns (ratios 2, 3, random input
    of unknown shape, compiled); its gradient against finite differences."""
    ac = T.nnet.abstract_conv
    x = T.tensor4("x")
    two = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    for r in range(1, 10):
        got = codegen.function([x], ac.bilinear_upsampling(x, r), mode="FAST_COMPILE")(two)
        np.testing.assert_allclose(got, _twice_theirs(two, r), rtol=1e-12)
    np.testing.assert_allclose(ac.bilinear_kernel_2D(3).eval(),
                               np.outer([1, 2, 3, 2, 1], [1, 2, 3, 2, 1]) / 9.0)
    rng = np.random.default_rng(2)
    xv = rng.random((2, 3, 5, 4))
    theirs, ours = [], []
    for r in (2, 3):
        k = ac.bilinear_kernel_1D(r)
        ext = T.concatenate([x[:, :, :1], x, x[:, :, -1:]], axis=2)
        ext = T.concatenate([ext[:, :, :, :1], ext, ext[:, :, :, -1:]], axis=3)
        ext = ext.reshape((-1, 1, 7, 6))
        pad = 2 * r - (r - 1) // 2 - 1
        rows = ac.conv2d_grad_wrt_inputs(ext, k[None, None, :, None], (None, 1, 5 * r, 6),
                                         (1, 1, 2 * r - 1, 1), border_mode=(pad, 0),
                                         subsample=(r, 1))
        both = ac.conv2d_grad_wrt_inputs(rows, k[None, None, None, :], (None, 1, 5 * r, 4 * r),
                                         (1, 1, 1, 2 * r - 1), border_mode=(0, pad),
                                         subsample=(1, r))
        theirs.append(both.reshape((2, 3, 5 * r, 4 * r)))
        ours.append(ac.bilinear_upsampling(x, r))
    values = codegen.function([x], theirs + ours)(xv)
    for a, b in zip(values[:2], values[2:]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)
    verify_grad(lambda v: ac.bilinear_upsampling(v, 3), [xv[:1, :1]],
                rng=np.random.RandomState(1), mode="FAST_COMPILE")
    with pytest.raises(NotImplementedError, match="fractional ratios"):
        ac.bilinear_upsampling(x, frac_ratio=(3, 2), use_1D_kernel=False)


def test_causal_conv1d_and_one_channel_padding():
    """causal_conv1d: output t sees the input up to t only (dilated, against numpy); and a
    one-channel input padded by conv2d (its padding frame once refused the channel axis)."""
    ac = T.nnet.abstract_conv
    rng = np.random.default_rng(7)
    xv, wv = rng.standard_normal((2, 3, 9)), rng.standard_normal((4, 3, 3))
    x, w, x4, w4 = T.tensor3("x"), T.tensor3("w"), T.tensor4("x4"), T.tensor4("w4")
    one, filt = rng.standard_normal((2, 1, 5, 4)), rng.standard_normal((2, 1, 3, 3))
    got, padded = codegen.function([x, w, x4, w4], [
        ac.causal_conv1d(x, w, (4, 3, 3), (None, 3, 9), filter_dilation=2),
        T.nnet.conv2d(x4, w4, (None, 1, 5, 4), (2, 1, 3, 3), border_mode="half")])(
            xv, wv, one, filt)
    expected = np.zeros((2, 4, 9))
    for s in range(9):
        for j in range(3):  # a convolution: the filter's tap j reads time s - 2 j
            src = s - 2 * j
            if src >= 0:
                expected[:, :, s] += xv[:, :, src] @ wv[:, :, j].T
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(padded, np_conv(one, filt, "half"), rtol=1e-12)


def test_max_pool_2d_same_size_keeps_each_patchs_maxima():
    """max_pool_2d_same_size: each non-overlapping patch keeps its maxima (every tie, as
    Theano's max-pool gradient gives them) and zeros elsewhere; a partial patch at the border
    is zeros; compiled and in the reference interpreter."""
    x = T.TensorType("float64", (False,) * 4, (None, 2, 5, 7))("x")
    rng = np.random.default_rng(3)
    v = rng.integers(0, 4, (3, 2, 5, 7)).astype(float)  # small integers: many ties
    expected = np.zeros_like(v)
    for i in range(0, 4, 2):
        for j in range(0, 6, 3):
            patch = v[:, :, i:i + 2, j:j + 3]
            top = patch.max(axis=(2, 3), keepdims=True)
            expected[:, :, i:i + 2, j:j + 3] = np.where(patch == top, patch, 0)
    y = pool.max_pool_2d_same_size(x, (2, 3))
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        np.testing.assert_array_equal(codegen.function([x], y, mode=mode)(v), expected)


def test_shapes_known_only_as_the_function_runs():
    """conv2d and pool_2d of a plain T.tensor4 (no shape hints, as Lasagne builds them):
    the index arrays come from the lengths as the function runs, so one compiled function
    takes images of two sizes; against numpy loops, and the gradients against the
    reference interpreter. (The cases whose code differs from the static path's: strides,
    padding, dilation, partial windows, the two averages' counts.) A 1-d convolution and
    pooling through an axis made broadcastable (Lasagne's conv1d and Pool1DLayer) too."""
    conv_cases, pool_cases = [CONVS[3], CONVS[5]], [POOLS[4], POOLS[5], POOLS[6]]
    x, w = T.tensor4("x"), T.tensor4("w")
    convs = [T.nnet.conv2d(x, w, **kw) for kw in conv_cases]
    pools = [pool.pool_2d(x, **kw) for kw in pool_cases]
    x3, w3 = T.tensor3("x3"), T.tensor3("w3")
    line = T.nnet.conv2d(x3.dimshuffle(0, 1, 2, "x"), w3.dimshuffle(0, 1, 2, "x"))[:, :, :, 0]
    line_pool = pool.pool_2d(x3.dimshuffle(0, 1, 2, "x"), ws=(2, 1),
                             ignore_border=False)[:, :, :, 0]
    cost = sum((o ** 2).sum() for o in convs + pools) + (line ** 2).sum()
    grads = T.grad(cost, [x, w, w3])
    outs = convs + pools + [line, line_pool]
    f = codegen.function([x, w, x3, w3], outs + grads)
    reference = codegen.function([x, w, x3, w3], grads, mode="FAST_COMPILE")
    rng = np.random.RandomState(5)
    for shape in [IN, (1, 3, 9, 5)]:
        xv, wv = rng.randn(*shape), rng.randn(*FILT)
        lv, lw = rng.randn(2, 3, 11), rng.randn(4, 3, 3)
        got = f(xv, wv, lv, lw)
        for k, kw in enumerate(conv_cases):
            np.testing.assert_allclose(got[k], _conv_case(kw)(xv, wv), rtol=1e-12,
                                       atol=1e-12, err_msg=str(kw))
        for k, kw in enumerate(pool_cases):
            np.testing.assert_allclose(got[len(convs) + k], _pool_case(kw)(xv), rtol=1e-12,
                                       atol=1e-12, err_msg=str(kw))
        n = len(convs) + len(pools)
        np.testing.assert_allclose(got[n], np_conv(lv[..., None], lw[..., None])[..., 0],
                                   rtol=1e-12)
        np.testing.assert_allclose(got[n + 1], np_pool(lv[..., None], (2, 1),
                                                       ignore_border=False)[..., 0])
        for g, r in zip(got[len(outs):], reference(xv, wv, lv, lw)):
            np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-10)


def test_grouped_convolutions_and_theanos_abstract_conv_ops():
    """conv2d with num_groups (Keras' depthwise and separable convolutions): each group of
    filters sees its group of channels, against numpy per group, compiled and in the
    reference, a depthwise one with a stride and dilation; its gradients by finite
    differences; the transposed grouped convolution is the adjoint. Theano's
    AbstractConv2d ops, called as Keras calls them, build the same graphs as the
    functions."""
    ac = T.nnet.abstract_conv
    rng = np.random.default_rng(11)
    xv = rng.standard_normal((2, 4, 6, 5))
    wv, dv = rng.standard_normal((6, 2, 3, 2)), rng.standard_normal((8, 1, 3, 3))
    x, w, d = T.tensor4("x"), T.tensor4("w"), T.tensor4("d")
    grouped = T.nnet.conv2d(x, w, (None, 4, 6, 5), (6, 2, 3, 2), num_groups=2)
    depthwise = T.nnet.conv2d(x, d, (None, 4, 6, 5), (8, 1, 3, 3), border_mode="half",
                              subsample=(2, 1), filter_dilation=(1, 2), num_groups=4,
                              filter_flip=False)
    want = [np.concatenate([np_conv(xv[:, :2], wv[:3]), np_conv(xv[:, 2:], wv[3:])], 1),
            np.concatenate([np_conv(xv[:, k:k + 1], dv[2 * k:2 * k + 2], (1, 2), (2, 1),
                                    flip=False, dil=(1, 2)) for k in range(4)], 1)]
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        got = codegen.function([x, w, d], [grouped, depthwise], mode=mode)(xv, wv, dv)
        for g, e in zip(got, want):
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-13)
    verify_grad(lambda a, b: T.nnet.conv2d(a, b, (None, 4, 6, 5), (6, 2, 3, 2), num_groups=2),
                [xv, wv], rng=np.random.RandomState(1), mode="FAST_COMPILE")
    # the abstract ops: the forward one, and the transposed convolution as the adjoint
    gv = rng.standard_normal(want[0].shape)
    g = T.tensor4("g")
    forward = ac.AbstractConv2d(kshp=(6, 2, 3, 2), num_groups=2)(x, w)
    back = ac.AbstractConv2d_gradInputs(kshp=(6, 2, 3, 2), num_groups=2)(w, g, (6, 5))
    weights = ac.AbstractConv2d_gradWeights(imshp=(None, 4, 6, 5), kshp=(6, 2, None, None),
                                            num_groups=2)(x, g, (3, 2))
    out, gx, gw = codegen.function([x, w, g], [forward, back, weights])(xv, wv, gv)
    np.testing.assert_allclose(out, want[0], rtol=1e-12, atol=1e-13)
    assert gx.shape == xv.shape and gw.shape == wv.shape
    np.testing.assert_allclose(np.sum(xv * gx), np.sum(want[0] * gv), rtol=1e-12)
    np.testing.assert_allclose(np.sum(wv * gw), np.sum(want[0] * gv), rtol=1e-12)
    with pytest.raises(ValueError, match="2 channels per group, 3 groups, the input 4"):
        T.nnet.conv2d(x, w, (None, 4, 6, 5), (6, 2, 3, 2), num_groups=3)
    with pytest.raises(NotImplementedError, match="unshared"):
        T.nnet.conv2d(x, w, (None, 4, 6, 5), (6, 2, 3, 2), unshared=True)


def test_conv2d_transpose_spreads_each_input_through_the_filters():
    """Theano 1.0's conv2d_transpose: each input element adds its value times the (flipped)
    filter into the output at ``input_dilation`` strides (numpy's loop), and is the
    gradient of the conv2d that maps that output back."""
    from codegen.tensor.nnet import conv2d_transpose
    rng = np.random.RandomState(0)
    x, w = T.tensor4("x"), T.tensor4("w")
    xv, wv = rng.rand(2, 3, 4, 5), rng.rand(3, 2, 3, 3)
    s = 2
    shape = (2, 2, 3 * s + 3, 4 * s + 3)
    f = codegen.function([x, w], conv2d_transpose(x, w, shape, filter_shape=(3, 2, 3, 3),
                                                  input_dilation=(s, s)))
    want = np.zeros(shape)
    for i in range(4):
        for j in range(5):
            want[:, :, i * s:i * s + 3, j * s:j * s + 3] += np.einsum(
                "bc,cokl->bokl", xv[:, :, i, j], wv[:, :, ::-1, ::-1])
    np.testing.assert_allclose(f(xv, wv), want, rtol=1e-12)
    # conv2d of the output with the same filters and strides gives back its gradient
    out = T.tensor4("out")
    grad = T.grad(T.sum(T.nnet.conv2d(out, w, subsample=(s, s)) * x), out)
    np.testing.assert_allclose(codegen.function([out, x, w], grad)(want, xv, wv), want,
                               rtol=1e-12)


def test_separable_conv2d_is_depthwise_then_pointwise():
    from codegen.tensor.nnet import separable_conv2d
    rng = np.random.RandomState(1)
    x = T.tensor4("x")
    xv, dw, pw = rng.rand(2, 3, 5, 6), rng.rand(6, 1, 3, 3), rng.rand(4, 6, 1, 1)
    f = codegen.function([x], separable_conv2d(x, T.constant(dw), T.constant(pw), 3,
                                               border_mode="half"))
    depthwise = np.concatenate([np_conv(xv[:, k // 2:k // 2 + 1], dw[k:k + 1], "half")
                                for k in range(6)], axis=1)
    np.testing.assert_allclose(f(xv), np.einsum("bkij,ok->boij", depthwise, pw[:, :, 0, 0]),
                               rtol=1e-12)


@pytest.mark.parametrize("mode", ["valid", "full"])
def test_signal_conv2d_of_images_and_stacks_is_scipys(mode):
    """theano.tensor.signal.conv.conv2d: an image or a stack of them with a filter or a
    stack of filters, scipy's convolve2d each, the axes the operands have."""
    from scipy.signal import convolve2d

    from codegen.tensor.signal import conv
    rng = np.random.RandomState(0)
    im, stack = rng.rand(7, 6), rng.rand(3, 7, 6)
    k, ks = rng.rand(3, 2), rng.rand(4, 3, 2)
    x2, x3, f2, f3 = T.dmatrix(), T.dtensor3(), T.dmatrix(), T.dtensor3()
    outs = [conv.conv2d(x, f, border_mode=mode, filter_shape=shape)
            for x, f, shape in ((x2, f2, (3, 2)), (x3, f2, (3, 2)), (x2, f3, (4, 3, 2)),
                                (x3, f3, (4, 3, 2)))]
    got = codegen.function([x2, x3, f2, f3], outs)(im, stack, k, ks)
    want = [convolve2d(im, k, mode), np.stack([convolve2d(s, k, mode) for s in stack]),
            np.stack([convolve2d(im, kk, mode) for kk in ks]),
            np.stack([[convolve2d(s, kk, mode) for kk in ks] for s in stack])]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12)
    with pytest.raises(ValueError, match="'valid' or 'full'"):
        conv.conv2d(x2, f2, border_mode="half")


def test_pool_without_ignore_border_keeps_the_edges_as_theano_with_its_warning():
    """Theano's pool_2d (and downsample.max_pool_2d) without ignore_border: False, with a
    warning (the Theano-Tutorials' convnet relies on its 3 x 3 maps from 7 x 7)."""
    from codegen.tensor.signal import downsample
    x = T.tensor4("x")
    xv = np.arange(2 * 7 * 7.0).reshape(1, 2, 7, 7)
    with pytest.warns(UserWarning, match="ignore_border not given: False, as in Theano") as seen:
        y = downsample.max_pool_2d(x, (2, 2))
    assert seen[0].filename == __file__  # the user's line, through the older spelling too
    got = codegen.function([x], y)(xv)
    assert got.shape == (1, 2, 4, 4)
    np.testing.assert_array_equal(got, np_pool(xv, (2, 2), ignore_border=False))
    with pytest.warns(UserWarning), pytest.raises(NotImplementedError, match="padding needs"):
        pool.pool_2d(x, ws=(2, 2), pad=(1, 1))
