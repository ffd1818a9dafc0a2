"""The gradient of a loop: another loop, backwards over the stored states (BPTT).

Iteration ``t`` of the forward loop read its states' values ``lag`` steps back and wrote the
new value at ``t``. Going backwards, the gradient of the value written at ``t`` is complete once
the iterations after ``t`` have added what they owe it; so the backward loop carries, per
float state of longest lag ``L``, a window of ``L`` partial gradients: ``C[j]`` for the value
``j`` steps before the one the current iteration wrote. Iteration ``t``:

- ``G = gB[t] + C[0]``, the whole gradient of the state written at ``t`` (``gB``: what the
  outer graph sends back to the state's buffer);
- the step's vector-jacobian product with ``G`` (and the gradients of the step's per-iteration
  outputs) gives ``d_lag`` for each tap, ``d_x`` for each sequence element, ``d_w`` for each
  non-sequence;
- the window moves on: ``C'[j] = C[j + 1] + d_{j + 1}`` (``C[L]`` is 0);
- non-sequence gradients add up in an accumulator state, sequence gradients are stacked.

The backward loop reads the forward sequences, the forward states at every tap and the outer
gradients as its own sequences, reversed. The window left after the last backward iteration is
the gradient of the initial values. With ``truncate_gradient = k``, only the last ``k``
iterations are differentiated (Theano's truncated BPTT): earlier sequence elements get zero,
and the initial values only what the outer graph sends them unless ``k`` covers every step.
"""

from codegen.graph import late, toposort
from codegen.graph.basic import clone_replace, provenance_as
from codegen.ops.scan import Scan, clone_inner


def _t():
    from codegen.tensor import basic
    return basic


def _float(var):
    return var.dtype.startswith("float")


def scan_grad(node, output_grads):
    t = _t()
    op = node.op
    n, seqs, inits, nonseqs = op.outer_parts(node.inputs)
    m, lengths = op.n_states, op.lengths()
    if any(store != "all" for store in op.store):  # the history is needed: compute it
        full = Scan(op.inner_inputs, op.inner_outputs, op.n_seqs, op.taps, op.n_nitsot,
                    truncate=op.truncate, name=op.name)(*node.inputs)
        full = full if isinstance(full, list) else [full]
        bufs = full[:m]
        g_bufs = []
        for k, (g, L) in enumerate(zip(output_grads[:m], lengths)):
            if op.store[k] == "last":  # the gradient of the last L values, in the buffer
                g = t.set_subtensor(t.zeros_like(bufs[k])[n:], g)
            g_bufs.append(g)
    else:
        bufs = node.outputs[:m]
        g_bufs = list(output_grads[:m])
    g_nitsot = list(output_grads[m:])

    # the forward step again, on fresh inputs the backward loop feeds
    seq_in, taps_in, nonseq_in = op.inner_parts()
    fresh_seq = [v.type(v.name) for v in seq_in]
    fresh_taps = [[v.type(v.name) for v in taps] for taps in taps_in]
    fresh_ns = [v.type(v.name) for v in nonseq_in]
    replace = {old.id: new for old, new in zip(
        op.inner_inputs, fresh_seq + [v for taps in fresh_taps for v in taps] + fresh_ns)}
    copies = {}
    _, outs = clone_inner(op.inner_inputs, op.inner_outputs, replace, copies)

    states = [k for k in range(m) if _float(inits[k])]
    nitsots = [k for k in range(op.n_nitsot) if _float(outs[m + k])]
    g_t = {k: t.TensorType(g_bufs[k].dtype, g_bufs[k].broadcastable[1:])("g_" + _name(bufs[k]))
           for k in states}
    gn_t = {k: t.TensorType(g_nitsot[k].dtype, g_nitsot[k].broadcastable[1:])("g_out")
            for k in nitsots}
    carries = {}
    for k in states:
        elem = fresh_taps[k][0].type
        carries[k] = (elem if lengths[k] == 1 else
                      t.TensorType(elem.dtype, (False,) + tuple(elem.broadcastable)))("carry")
    float_ns = [k for k, v in enumerate(fresh_ns) if _float(v)]
    accs = {k: fresh_ns[k].type("acc_" + _name(nonseqs[k])) for k in float_ns}

    # the vector-jacobian product of one step
    total = {}
    known = {}
    for k in states:
        L = lengths[k]
        G = g_t[k] + (carries[k] if L == 1 else carries[k][0])
        total[k] = G
        _add(known, outs[k], G)
    for k in nitsots:
        _add(known, outs[m + k], gn_t[k])
    wrt = ([v for v in fresh_seq if _float(v)]
           + [v for k in states for v in fresh_taps[k]] + [fresh_ns[k] for k in float_ns])
    grads = {}
    if wrt and known:
        grad_raw = late.get("grad_raw")
        for var, g in zip(wrt, grad_raw(None, wrt, known_grads=known,
                                        disconnected_inputs="ignore")):
            grads[var.id] = g

    def d(var):
        return grads.get(var.id, t.zeros_like(var))

    # the step's outputs were stored by the forward loop: the product reads them there
    # instead of computing them again (tanh's gradient reads tanh's value, say)
    stored = []
    for k, out in enumerate(outs):
        if out.owner is not None and out.id not in {v.id for v in fresh_seq}:
            stored.append((k, out, out.type("value")))
    found = _used(list(grads.values()), [out for _, out, _ in stored])
    stored = [item for item in stored if item[1].id in found]
    if stored:
        keys = list(grads)
        swapped = clone_replace([grads[key] for key in keys],
                                {out: value for _, out, value in stored})
        grads = dict(zip(keys, swapped))
    products, product_values = _keep_products(node, grads, copies)
    if products:
        keys = list(grads)
        swapped = clone_replace([grads[key] for key in keys],
                                {copy: value for _, copy, value in products})
        grads = dict(zip(keys, swapped))

    new_carries = []
    for k in states:
        L = lengths[k]
        by_lag = dict(zip(op.taps[k], fresh_taps[k]))
        rows = []
        for j in range(L):
            lag = j + 1
            row = d(by_lag[lag]) if lag in by_lag else t.zeros_like(total[k])
            if j + 1 < L:
                row = carries[k][j + 1] + row
            rows.append(row)
        new_carries.append(rows[0] if L == 1 else t.stack(rows))
    # sum_t X_t^T Y_t (a weight's gradient through a product) is one product after the loop
    # of X and Y stacked over the iterations: one large gemm instead of one small per step
    pushed = {}  # k -> [(X, Y)]
    for k in float_ns:
        g = grads.get(fresh_ns[k].id)
        if g is None:
            continue
        kept, out = [], []
        for term in _terms(g):
            pair = _outer_product(term)
            (out if pair is not None and term.dtype == g.dtype else kept).append(
                pair if pair is not None and term.dtype == g.dtype else term)
        if out:
            pushed[k] = out
            if kept:
                total_k = kept[0]
                for term in kept[1:]:
                    total_k = total_k + term
                grads[fresh_ns[k].id] = total_k
            else:
                del grads[fresh_ns[k].id]
    float_ns = [k for k in float_ns if k not in pushed or fresh_ns[k].id in grads]
    new_accs = [accs[k] + d(fresh_ns[k]) for k in float_ns]
    seq_grads = [d(v) for v in fresh_seq if _float(v)]
    for pairs in pushed.values():  # per-iteration values stacked for the products after
        for x_t, y_t in pairs:  # the loop (once: a sequence's gradient may be one of them)
            seq_grads += [v for v in (x_t, y_t) if all(v is not g for g in seq_grads)]

    # the backward loop: its sequences reversed, over the last n_b iterations
    n_b = n if op.truncate is None or op.truncate < 0 else t.minimum(n, op.truncate)
    start = n - n_b if n_b is not n else 0

    def backwards(x, offset=0):  # x[offset + start : offset + n], last first
        lo, hi = _plus(offset, start), _plus(offset, n)
        return x[lo:hi][::-1]

    b_seqs, b_inner = [], []
    for x, v in zip(seqs, fresh_seq):
        b_seqs.append(backwards(x))
        b_inner.append(v)
    for k in range(m):
        for lag, v in zip(op.taps[k], fresh_taps[k]):
            b_seqs.append(backwards(bufs[k], lengths[k] - lag))
            b_inner.append(v)
    for k in states:
        b_seqs.append(backwards(g_bufs[k], lengths[k]))
        b_inner.append(g_t[k])
    for k in nitsots:
        b_seqs.append(backwards(g_nitsot[k]))
        b_inner.append(gn_t[k])
    for k, _, value in stored:  # the step's outputs, as the forward loop stored them
        b_seqs.append(backwards(bufs[k], lengths[k]) if k < m else
                      backwards(node.outputs[k]))
        b_inner.append(value)
    for (_, _, value), values in zip(products, product_values):  # its products' values
        b_seqs.append(backwards(values))
        b_inner.append(value)
    b_inits = []
    for k in states:
        zero = t.zeros_like(inits[k])  # (1, ...) for one lag, (L, ...) for more
        b_inits.append(zero if lengths[k] == 1 else zero[None])
    for k in float_ns:
        b_inits.append(t.zeros_like(nonseqs[k])[None])
    inner_inputs = b_inner + [carries[k] for k in states] + [accs[k] for k in float_ns] \
        + fresh_ns
    inner_outputs = new_carries + new_accs + seq_grads
    for k, out in enumerate(inner_outputs[:len(states) + len(float_ns)]):
        like = inner_inputs[len(b_inner) + k]
        if out.dtype != like.dtype:
            inner_outputs[k] = t.cast(out, like.dtype)
    back = Scan(inner_inputs, inner_outputs, len(b_inner),
                [(1,)] * (len(states) + len(float_ns)), len(seq_grads),
                name=f"grad_of_{op.name}")
    results = back(n_b, *b_seqs, *b_inits, *nonseqs)
    results = results if isinstance(results, list) else [results]

    g_inputs = [None] * len(node.inputs)
    covered = None if n_b is n else t.cast(t.eq(n_b, n), inits[0].dtype if inits else "int8")
    for j, k in enumerate(states):
        L = lengths[k]
        window = results[j][-1]
        carried = window[None] if L == 1 else window[::-1]
        if covered is not None:
            carried = carried * t.cast(covered, carried.dtype)
        g_inputs[1 + op.n_seqs + k] = carried + g_bufs[k][:L]
    for j, k in enumerate(float_ns):
        g_inputs[1 + op.n_seqs + m + k] = results[len(states) + j][-1]
    float_seqs = [k for k, v in enumerate(fresh_seq) if _float(v)]
    for j, k in enumerate(float_seqs):
        stacked = results[len(states) + len(float_ns) + j][::-1]
        if n_b is n and _length_of(n, seqs[k]):  # every element was read
            g_inputs[1 + k] = stacked
        else:
            g_inputs[1 + k] = t.set_subtensor(t.zeros_like(seqs[k])[start:n], stacked)
    first = len(states) + len(float_ns)
    for k, pairs in pushed.items():
        for x_t, y_t in pairs:
            xs, ys = (results[first + next(j for j, g in enumerate(seq_grads) if g is v)]
                      for v in (x_t, y_t))
            rows = t.reshape(xs, (-1, t.shape_of(xs, 2)))
            term = t.dot(rows.T, t.reshape(ys, (-1, t.shape_of(ys, 2))))
            slot = 1 + op.n_seqs + m + k
            g_inputs[slot] = term if g_inputs[slot] is None else g_inputs[slot] + term
    return g_inputs


def _keep_products(node, grads, copies):
    """The products of the step that the gradients read (computed again in the backward
    step, each a product per iteration otherwise): [(the product in the step, its copy in the
    backward step, the variable the backward loop reads instead)], and the values of each
    over the iterations, from the loop again with them as outputs too (``merge_scans`` makes
    that loop and ``node`` one)."""
    from codegen.ops.blas import Dot
    op = node.op
    varying = {v.id for v in op.inner_inputs[:len(op.inner_inputs) - op.n_nonseqs]}
    products = []
    for nd in toposort(op.inner_outputs):
        if any(v.id in varying for v in nd.inputs):
            varying.update(v.id for v in nd.outputs)
            if isinstance(nd.op, Dot) and nd.out.id in copies:
                products.append(nd.out)
    found = _used(list(grads.values()), [copies[v.id] for v in products])
    kept = [(v, copies[v.id], copies[v.id].type("product")) for v in products
            if copies[v.id].id in found]
    if not kept:
        return [], []
    m = op.n_states
    again = Scan(op.inner_inputs, op.inner_outputs + [v for v, _, _ in kept], op.n_seqs,
                 op.taps, op.n_nitsot + len(kept), truncate=op.truncate, name=op.name)
    with provenance_as(node.provenance):  # the user's loop, where merge_scans keeps it
        outputs = again(*node.inputs)
    return kept, outputs[m + op.n_nitsot:]


def _length_of(n, x):
    """Whether ``n`` is ``x.shape[0]``."""
    from codegen.ops.shape import ShapeOf
    return (n.owner is not None and isinstance(n.owner.op, ShapeOf) and n.owner.op.axis == 0
            and n.owner.inputs[0] is x)


def _terms(g):
    """The terms of a sum (``a + b + c`` -> [a, b, c])."""
    from codegen.ops.elemwise import is_elemwise
    if g.owner is not None and is_elemwise(g.owner, "add") and len(g.owner.inputs) == 2 \
            and all(v.broadcastable == g.broadcastable for v in g.owner.inputs):
        return _terms(g.owner.inputs[0]) + _terms(g.owner.inputs[1])
    return [g]


def _outer_product(term):
    """(X, Y) when ``term`` is ``dot(X.T, Y)`` of two matrices, else None."""
    from codegen.ops.blas import Dot
    from codegen.ops.shape import DimShuffle
    node = term.owner
    if node is None or not isinstance(node.op, Dot) or term.ndim != 2:
        return None
    a, b = node.inputs
    if node.op.trans[1] or a.ndim != 2 or b.ndim != 2:
        return None
    if node.op.trans[0]:
        return a, b
    owner = a.owner
    if owner is not None and isinstance(owner.op, DimShuffle) and \
            tuple(owner.op.new_order) == (1, 0):
        return owner.inputs[0], b
    return None


def _used(outputs, candidates):
    """Ids of the ``candidates`` that some node computing ``outputs`` reads."""
    ids = {v.id for v in candidates}
    return {v.id for node in toposort(outputs) for v in node.inputs if v.id in ids}


def _add(known, var, g):
    known[var] = known[var] + g if var in known else g


def _plus(a, b):
    if isinstance(a, int) and a == 0:
        return b
    if isinstance(b, int) and b == 0:
        return a
    return a + b


def _name(var):
    return var.name or "state"


__all__ = ["scan_grad"]
