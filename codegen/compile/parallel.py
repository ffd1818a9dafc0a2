"""Data-parallel training: a training function split at the point between its gradients and
its update.

Each rank of a data-parallel job computes the gradients of its shard of the minibatch; the
gradients of all ranks are summed (an MPI all-reduce) and every rank applies the same update,
so the parameters stay identical everywhere. A function with updates cannot be used that way
as it is, since one call computes the gradients and applies the update. ``split`` makes two
functions of it, over the same state:

- ``<name>_gradients(<inputs>)`` returns the function's outputs and then one flat vector
  holding every gradient the updates read, back to back; it changes no state;
- ``<name>_apply(gradients, <scalar inputs>)`` applies every update, computed from the state
  and the given flat vector: all-reduce it between the two calls. One call of each is one
  call of the function.

Gradients are the variables ``grad`` returned (``T.grad`` tags them); only those that depend
on the function's inputs are reduced. An update that reads the data other than through a
gradient would leave each rank with a different value, so it is an error (scalar inputs,
such as a learning rate, are passed on to ``<name>_apply``).
"""

import numpy as np

from codegen.compile.inputs import In
from codegen.graph import SharedVariable, descendants, toposort
from codegen.graph.basic import Provenance, clone_replace, provenance_as
from codegen.graph.fgraph import FunctionGraph
from codegen.lower.module import FunctionSpec


class DataParallelError(ValueError):
    pass


def _gradients_read(values, data):
    """The tagged gradients (depending on the data) that ``values`` read, in order of first
    use; the walk stops at each, so a gradient used inside another is not counted twice."""
    found, seen, stack = {}, set(), list(reversed(values))
    while stack:
        var = stack.pop()
        if var.id in seen:
            continue
        seen.add(var.id)
        if getattr(var.tag, "gradient_of", None) is not None and var.id in data:
            found.setdefault(var.id, var)
            continue
        if var.owner is not None:
            stack.extend(reversed(var.owner.inputs))
    return list(found.values())


def _inputs_read(values, inputs):
    leaves = {v.id for node in toposort(values) for v in node.inputs} | {v.id for v in values}
    return [v for v in inputs if v.id in leaves]


def _where(var):
    return f" (built at {var.owner.provenance})" if var.owner is not None else ""


def _piece_shape(grad, fname):
    """The shape of ``grad`` as the apply function can know it: its parameter's (a shared
    variable) at run time, or the static shape of its type."""
    from codegen.tensor.basic import shape_of
    wrt = grad.tag.gradient_of
    if isinstance(wrt, SharedVariable) and wrt.ndim == grad.ndim:
        return [shape_of(wrt, k) for k in range(wrt.ndim)]
    shape = getattr(grad.type, "shape", None)
    if shape is not None and all(s is not None for s in shape):
        return list(shape)
    raise DataParallelError(
        f"{fname}: the gradient with respect to {wrt.label()} has no shape known without the "
        f"data; data-parallel training differentiates with respect to shared variables")


def _role(var, role):
    prov = var.owner.provenance if var.owner is not None else Provenance("<unknown>", 0)
    return provenance_as(Provenance(prov.filename, prov.lineno, role))


def _flatten(grads, dtype):
    """The gradients back to back in one vector of ``dtype``."""
    from codegen.tensor import basic as t
    flat = []
    for g in grads:
        with _role(g, "gradient out, data-parallel"):
            f = t.flatten(g) if g.ndim != 1 else g
            flat.append(f if f.dtype == dtype else t.cast(f, dtype))
    if len(flat) == 1:
        return flat[0]
    with _role(grads[0], "gradients out, data-parallel"):
        return t.concatenate(flat)


def _unflatten(grads, flat, fname):
    """{gradient: its piece of ``flat``, shaped and typed as it}; ``flat``'s length is
    checked first."""
    from codegen.tensor import basic as t
    shapes, sizes = [_piece_shape(g, fname) for g in grads], []
    for shape in shapes:
        size = 1
        for s in shape:
            size = size * s
        sizes.append(size)
    total = sizes[0]
    for size in sizes[1:]:
        total = total + size
    with _role(grads[0], "gradients in, data-parallel"):
        flat = t.specify_shape(flat, [total])
    pieces, offset = {}, 0
    for g, shape, size in zip(grads, shapes, sizes):
        with _role(g, "gradient in, data-parallel"):
            piece = t.reshape(flat[offset:offset + size], shape)
            pieces[g] = piece if g.dtype == flat.dtype else t.cast(piece, g.dtype)
        offset = offset + size
    return pieces


def split(spec):
    """``[<name>_gradients, <name>_apply]`` specs for ``spec``, or [] when its updates read
    no gradient of the data (nothing to reduce)."""
    from codegen.tensor import basic as t
    fgraph, name = spec.fgraph, spec.name
    data = descendants(fgraph.all_outputs, fgraph.inputs)  # what reads the data
    values = [v for _, v in fgraph.updates]
    grads = _gradients_read(values, data)
    if not grads:
        return []
    dtype = np.result_type(*[g.dtype for g in grads]).name
    flat_in = t.tensor(dtype, (False,), name="gradients")
    new_values = clone_replace(values, _unflatten(grads, flat_in, name))
    for (shared, value), new in zip(fgraph.updates, new_values):
        leak = [v for v in _inputs_read([new], fgraph.inputs) if v.ndim > 0]
        if leak:
            raise DataParallelError(
                f"{name}: the update of {shared.label()}{_where(value)} reads input "
                f"{leak[0].label()} other than through a gradient, so each rank would compute "
                f"its own value; data-parallel training needs updates that see the data only "
                f"through T.grad")
    first = FunctionGraph(fgraph.inputs, fgraph.outputs + [_flatten(grads, dtype)], [],
                          f"{name}_gradients")
    scalars = _inputs_read(new_values, fgraph.inputs)
    by_id = {s.variable.id: s for s in spec.ins}
    ins = [In(flat_in, name="gradients")] + [by_id[v.id] for v in scalars]
    updates = [(shared, new) for (shared, _), new in zip(fgraph.updates, new_values)]
    second = FunctionGraph([flat_in] + scalars, [], updates, f"{name}_apply")
    layout = [(g.tag.gradient_of, np.shape(g.tag.gradient_of.get_value(borrow=True)))
              for g in grads] if all(isinstance(g.tag.gradient_of, SharedVariable)
                                     for g in grads) else []
    return [FunctionSpec(f"{name}_gradients", spec.ins, first, False, spec.allow_downcast,
                         layout),
            FunctionSpec(f"{name}_apply", ins, second, False, spec.allow_downcast, layout)]
