"""Lowering passes checked on the kernel programs themselves (nothing is compiled here):
cheap nodes computed in the loop that reads them (``fusion.sink``) and products added into
the loop output that reads them (``codegen.lower.accumulate``), and scratch memory shared
between arrays whose lives do not overlap (``codegen.lower.memory``). The values these programs
compute are checked against numpy by the compiled tests (test_kernels, test_grad)."""

import re

import numpy as np
import pytest

import codegen
import codegen.tensor as T
from codegen.compile.module import assemble
from codegen.lower.memory import in_place_updates, shared_scratch
from codegen.lower.program import (
    ArrayRef,
    Assign,
    Buffer,
    DotStep,
    Expr,
    GatherStep,
    LoopKernel,
    Operand,
    Origin,
    Program,
    ScanStep,
    Store,
    View,
    all_steps,
    copied,
)
from codegen.lower.rows import independent_rows


def _programs(**functions):
    module = codegen.Module("lowering_test")
    for name, (inputs, outputs, updates) in functions.items():
        module.add_function(name, inputs, outputs, updates=updates)
    return {p.name: p for p in assemble(module.name, module.specs)[2]}


def _stores(program):
    """Loop kernel name -> names of the arrays it writes (not reductions)."""
    return {s.name: [op.ref.name for op in s.operands if op.role == "out"]
            for s in program.steps if isinstance(s, LoopKernel)}


def _loads(program):
    return {s.name: [op.ref.name for op in s.operands if op.role == "in"]
            for s in program.steps if isinstance(s, LoopKernel)}


def test_sigmoid_gradient_is_computed_in_the_backward_loop():
    """s * (1 - s) is not stored by the forward loop for the backward loop to load: the
    backward loop computes it from s, which the next product reads anyway."""
    x, y = T.matrix("x"), T.matrix("y")
    W = codegen.shared(np.ones((4, 3)), name="W")
    V = codegen.shared(np.ones((2, 4)), name="V")
    h = T.nnet.sigmoid(T.dot(W, x))
    cost = T.sum((T.dot(V, h) - y) ** 2)
    p = _programs(train=([x, y], [cost] + T.grad(cost, [W, V]), None))["train"]
    stores, loads = _stores(p), _loads(p)
    forward = next(k for k, outs in stores.items() if any(o.startswith("sigmoid") for o in outs))
    (sig,) = [o for o in stores[forward] if o.startswith("sigmoid")]
    assert stores[forward] == [sig]  # the sigmoid only, not its gradient
    assert sum(sig in names for names in loads.values()) == 1  # the backward loop reads it


def test_nodes_stay_where_moving_them_would_store_more_or_cost_more():
    """u * u stays in the loop of u = exp(x) when u itself is not stored there (moving it
    would store u instead); exp is not cheap, so exp(a) stays stored even though a is."""
    x, w = T.matrix("x"), T.matrix("w")
    u = T.exp(x)
    a = u + 1  # stored: the product reads it
    programs = _programs(f=([x, w], [T.sum(T.dot(w, a) * (u * u))], None),
                         g=([x, w], [T.sum(T.dot(w, a) * T.exp(a))], None))
    for name, kept in (("f", "mul"), ("g", "exp")):
        stores = _stores(programs[name])
        first = next(k for k, outs in stores.items() if any(o.startswith("add") for o in outs))
        assert any(o.startswith(kept) for o in stores[first]), (name, stores)


def test_momentum_gradient_product_accumulates_into_the_new_momentum():
    """m' = 0.9 m + 0.1 dot(d, h.T): the loop writes 0.9 m (and p - 0.01 m), then the product
    adds 0.1 d.h^T into m' with no buffer of its own; other sums keep their products."""
    d, h, e, d2, h2 = (T.matrix(n) for n in ("d", "h", "e", "d2", "h2"))
    P = codegen.shared(np.ones((3, 4)), name="P")
    M = codegen.shared(np.zeros((3, 4)), name="M")
    programs = _programs(
        step=([d, h], [T.sum(M)], [(P, P - 0.01 * M), (M, 0.9 * M + 0.1 * T.dot(d, h.T))]),
        forms=([d, h, d2, h2, e], [e - 0.5 * T.dot(d, h.T), T.exp(T.dot(d2, h2.T)) + e,
                                   e * T.dot(h.T, d)], None),
        zero=([d, h, e], [e + 0.0 * T.dot(d, h.T)], None))  # 0 * NaN is NaN; BLAS skips it
    step = programs["step"]
    (product,) = [s for s in step.steps if isinstance(s, DotStep)]
    new_m = dict(step.updates)["M"]
    assert product.accumulate and product.alpha == 0.1 and product.out == new_m
    writer = next(k for k, s in enumerate(step.steps)
                  if isinstance(s, LoopKernel) and new_m.name in _stores(step)[s.name])
    assert step.steps[writer + 1] is product  # right after the loop that writes 0.9 m
    assert not any(b.ref.name.startswith("dot") for b in step.buffers)  # no product buffer
    assert "+= 0.1 * step_k" in step.describe()
    # the loop's comments say what it computes, and which product adds to it after
    said = [o.text for o in step.steps[writer].origins]
    assert "(TensorConstant{0.9} * M), to which the product after this loop adds " \
           "0.1 * dot(d, h.T)" in said, said
    assert not any("dot_" in text for text in said)  # the product's array is gone
    forms = [s for s in programs["forms"].steps if isinstance(s, DotStep)]
    assert sorted((s.accumulate, s.alpha) for s in forms) == [(False, 1.0), (False, 1.0),
                                                              (True, -0.5)]
    assert not any(getattr(s, "accumulate", False) for s in programs["zero"].steps)


def test_scratch_memory_is_shared_in_place_and_after_an_array_dies():
    """In a train step, sigmoid(W.x + b) goes over W.x and the backward loops over the
    products they read; arrays that leave the call and filled ones keep their own memory."""
    x, y = T.matrix("x"), T.matrix("y")
    W = codegen.shared(np.ones((4, 3)), name="W")
    V = codegen.shared(np.ones((2, 4)), name="V")
    b = codegen.shared(np.ones((4, 1)), name="b", broadcastable=(False, True))
    h = T.nnet.sigmoid(T.dot(W, x) + b)
    cost = T.sum((T.dot(V, h) - y) ** 2)
    p = _programs(train=([x, y], [cost] + T.grad(cost, [W, V, b]), None))["train"]
    taken = {name: previous for name, _, previous in shared_scratch(p)}
    stores = _stores(p)
    (sig,) = [o for outs in stores.values() for o in outs if o.startswith("sigmoid")]
    assert taken[sig].startswith("dot")
    backward = [k for k, outs in stores.items() for o in outs if taken.get(o, "").startswith(
        "dot") and o != sig]
    assert backward  # the sigmoid's gradient times W^T.delta, over W^T.delta
    leaving = {r.name for r in p.outputs if hasattr(r, "dims")}
    filled = {bf.ref.name for bf in p.buffers if bf.fill is not None}
    assert not (set(taken) | set(taken.values())) & (leaving | filled)


def _loop(name, dims, operands):
    """A loop kernel copying its first operand to its last (the body does not matter here)."""
    body = (Assign("v", "float64", Expr("load", value=0), Origin(name, "")),)
    return LoopKernel(name, dims, tuple(operands), (), body, (Store(len(operands) - 1, "v"),),
                      (Origin(name, ""),))


def test_scratch_memory_is_not_shared_where_an_element_would_be_overwritten_first():
    """A loop reading an array transposed, directly or through a view, never writes over it;
    nor over one read by a later step or held by a view kept for numpy; a filled buffer
    takes no other's memory (its fill would be lost)."""
    dims = ("n", "n")
    x, a, t, o = (ArrayRef(n, "float64", dims) for n in ("x", "a", "t", "o"))
    aT = ArrayRef("aT", "float64", dims)

    def program(steps, views=(), buffers=("a", "t"), fills=()):
        refs = {"a": a, "t": t}
        return Program("p", [], [], [], [], [], [Buffer(refs[n], 0 if n in fills else None)
                                                   for n in buffers], list(views), steps,
                       [o], [])

    write_a = _loop("k0", dims, [Operand(x, (0, 1), "in"), Operand(a, (0, 1), "out")])
    same = _loop("k1", dims, [Operand(a, (0, 1), "in"), Operand(t, (0, 1), "out")])
    swapped = _loop("k1", dims, [Operand(a, (1, 0), "in"), Operand(t, (0, 1), "out")])
    viewed = _loop("k1", dims, [Operand(aT, (0, 1), "in"), Operand(t, (0, 1), "out")])
    last = _loop("k2", dims, [Operand(t, (0, 1), "in"), Operand(o, (0, 1), "out")])
    reads_a = _loop("k2", dims, [Operand(t, (0, 1), "in"), Operand(a, (0, 1), "in"),
                                 Operand(o, (0, 1), "out")])
    pointer_view = View(aT, "a", "a.T", axes=(1, 0))
    assert shared_scratch(program([write_a, same, last])) == [("t", "a", "a")]
    assert shared_scratch(program([write_a, swapped, last])) == []
    assert shared_scratch(program([write_a, viewed, last], [pointer_view])) == []
    assert shared_scratch(program([write_a, same, reads_a])) == []
    assert shared_scratch(program([write_a, same, last], fills=("t",))) == []
    numpy_view = View(aT, "a", "a.T.copy()")  # what numpy does with it is not seen
    assert shared_scratch(program([write_a, same, last], [numpy_view])) == []


def test_a_reduction_of_a_reduction_over_the_same_loop_shape():
    """sum(prod(a, keepdims)) of a broadcastable a: both loop over one element, but the sum
    reads the product only once it is complete, so they are two loops (they were one, and the
    kernel took the product as both its input and its target; found by the fuzzer)."""
    a = T.tensor("float64", (True,), name="a")
    p = T.prod(T.clip(a, -10, 10), axis=0, keepdims=True)
    f = codegen.function([a], [T.sum(p) * 2, T.grad(T.sum(p) * T.sum(p), a)])
    total, grad = f(np.array([-3.0]))
    assert total == -6.0 and grad.tolist() == [-6.0]


def test_a_minibatch_taken_through_givens_fuses_as_an_argument_does():
    """The tutorials' step: a minibatch sliced from a shared dataset by an index (givens).
    Its loops have the slice's length, computed at run time; they fuse as the loops of the
    same step over an argument do (before, every elementwise op after the slice was a loop
    of its own: 43 kernels for the DeepLearningTutorials MLP instead of 21)."""
    data_x = codegen.shared(np.ones((60, 6)), name="data_x")
    data_y = codegen.shared(np.zeros(60, dtype="int32"), name="data_y")
    index, x, y = T.lscalar("index"), T.matrix("x"), T.ivector("y")

    def kernels(inputs, givens):
        W = codegen.shared(np.ones((6, 5)), name="W")
        V = codegen.shared(np.ones((5, 3)), name="V")
        p = T.nnet.softmax(T.dot(T.tanh(T.dot(x, W)), V))
        cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y]) + 1e-4 * (W ** 2).sum()
        module = codegen.Module("givens_fusion")
        module.add_function("train", inputs, cost, givens=givens, updates=[
            (q, q - 0.1 * g) for q, g in zip([W, V], T.grad(cost, [W, V]))])
        (program,) = assemble(module.name, module.specs)[2]
        return sum(isinstance(s, LoopKernel) for s in program.steps)

    plain = kernels([x, y], None)
    given = kernels([index], {x: data_x[index * 20:(index + 1) * 20],
                              y: data_y[index * 20:(index + 1) * 20]})
    assert given == plain


def _loops(program):
    return [s for s in all_steps(program.steps) if isinstance(s, ScanStep)]


def test_loops_whose_rows_are_independent():
    """A recurrent network over a minibatch: row r of every array of an iteration depends on
    row r of the others only, in the forward loop and in its gradient's loop, so blocks of
    rows can each run the whole loop (``lower.rows``). Loops that mix rows, or read how many
    there are, are found out."""
    xs, h0 = T.tensor3("xs"), T.matrix("h0")
    U = codegen.shared(np.ones((4, 4)), name="U")
    Uc = codegen.shared(np.ones((4, 4)), name="Uc")

    def rnn(step, init=h0, seq=xs):
        hs, _ = codegen.scan(step, sequences=seq, outputs_info=init)
        return hs

    def cost_and_grads(hs):
        cost = T.sum(hs[-1] ** 2)
        return [cost, *T.grad(cost, [U, Uc, xs], disconnected_inputs="ignore")]

    cases = {
        "rows": rnn(lambda x, h: T.tanh(x + T.dot(h, U)) * T.nnet.sigmoid(T.dot(h, Uc))),
        "columns": rnn(lambda x, h: T.tanh(x.T + T.dot(U, h)), h0.T),  # (units, batch)
        "sums_rows": rnn(lambda x, h: T.tanh(x + T.dot(h, U)) + h.sum(axis=0)),
        "reads_count": rnn(lambda x, h: T.tanh(x + T.dot(h, U)) / h.shape[0]),
        "reverses_rows": rnn(lambda x, h: T.tanh(x + T.dot(h, U))[::-1]),
        # along the units too (U.h's columns are h's): only the units' axis is independent
        "units": rnn(lambda x, h: T.tanh(x + T.dot(U, h))),
        "rows_mixed": rnn(lambda x, h: T.tanh(x + T.dot(h, U) + T.dot(U, h))),
    }
    programs = _programs(**{name: ([xs, h0], cost_and_grads(hs), None)
                            for name, hs in cases.items()})
    rows_found = [(name, k) for name in ("rows", "columns") for k in (0, 1)]
    for name, k in rows_found[:3]:  # the columns' gradient loop adds up U's gradient
        loop = _loops(programs[name])[k]
        rows = independent_rows(loop, programs[name].checks)
        assert rows is not None and "xs_n1" in rows.dims, (name, loop.name)
        assert set(rows.dims) == {"xs_n1", "h0_n0"}  # equal by the call's checks
        axes = dict(rows.axes)
        assert axes["U"] is None and axes.get("Uc") is None
        want = 0 if name == "rows" else 1  # the batch axis of an iteration's arrays
        for ref in loop.arrays:
            if ref.name not in ("U", "Uc") and len(ref.dims) == 2:
                assert axes[ref.name] == want, (name, ref)
    forward, backward = _loops(programs["rows"])
    assert forward.origins[-1].where == backward.origins[-1].where.replace(" (grad of scan)", "")

    units = independent_rows(_loops(programs["units"])[0], programs["units"].checks)
    assert set(units.dims) == {"h0_n1", "xs_n2"}
    columns_grad = _loops(programs["columns"])[1]  # over its rows, inside the loop
    assert independent_rows(columns_grad, programs["columns"].checks) is None
    for name in ("sums_rows", "reads_count", "reverses_rows", "rows_mixed"):
        assert independent_rows(_loops(programs[name])[0], programs[name].checks) is None, name


def test_a_loops_gradient_reads_the_products_its_loop_computed():
    """The backward loop reads each product of the forward step from what the forward loop
    stored (one loop: the gradient's copy of the loop, which stores them, and the loop the
    program runs are merged), instead of computing it again at each iteration: its products
    are the gradient's only (dh.U^T, dh.Uc^T)."""
    xs, h0 = T.tensor3("xs"), T.matrix("h0")
    U = codegen.shared(np.ones((4, 4)), name="U")
    Uc = codegen.shared(np.ones((4, 4)), name="Uc")
    hs, _ = codegen.scan(lambda x, h: T.tanh(x + T.dot(h, U)) * T.nnet.sigmoid(T.dot(h, Uc)),
                         sequences=xs, outputs_info=h0)
    cost = T.sum(hs[-1] ** 2)
    program = _programs(f=([xs, h0], [cost, *T.grad(cost, [U, Uc, xs])], None))["f"]
    forward, backward = _loops(program)
    products = [[s for s in loop.steps if isinstance(s, DotStep)] for loop in (forward, backward)]
    assert [p.b.name for p in products[0]] == ["U", "Uc"]
    assert len(products[1]) == 2 and all(p.trans == (False, True) for p in products[1])
    assert "(grad of scan)" not in forward.origins[-1].where


def test_loops_over_an_alloc_of_symbolic_lengths_fuse():
    """``T.alloc(0., n, d)`` / ``T.zeros((x.shape[0], d))`` (an LSTM's initial state, a sparse
    product's result) has the lengths of its int inputs: the elementwise work that reads it
    fuses into one loop (before, alloc's shape was unknown to fusion, and every op after it,
    forward and backward, was a loop of its own: 14 loops for W8's sparse layer instead of 5)."""
    n = T.lscalar("n")
    b = T.vector("b")
    h0 = T.alloc(0.0, n, b.shape[0]) + b
    h = T.tanh(h0 * 2) * T.exp(h0)
    (program,) = _programs(f=([n, b], [h.sum(), T.grad(h.sum(), b)], None)).values()
    loops = [s for s in program.steps if isinstance(s, LoopKernel)]
    fused = [s for s in loops if len(s.body) > 3]
    assert len(fused) == 1, [s.name for s in loops]
    f = codegen.function([n, b], [h.sum(), T.grad(h.sum(), b)])
    bv = np.array([0.5, -1.0, 2.0])
    hv = np.tanh(bv * 2) * np.exp(bv)
    s, g = f(4, bv)
    np.testing.assert_allclose(s, 4 * hv.sum())
    np.testing.assert_allclose(g, 4 * (2 * (1 - np.tanh(2 * bv) ** 2) * np.exp(bv) + hv))


def test_lengths_as_written_are_not_clamped_again():
    """``arange(x.shape[0])`` has ``x_n0`` elements and a square matrix's diagonal
    ``min(n, n) = n``: no ``len(range(.))`` or minimum around a length (in W9's gradient they
    made two run-time checks and kept five loops apart); ``arange`` of a scalar argument,
    which may be negative, keeps its clamp."""
    x, k = T.matrix("x"), T.lscalar("k")
    outs = [T.arange(x.shape[0]) + T.diagonal(T.dot(x, x.T)), T.arange(k)]
    program = codegen.function([x, k], outs).executable.program
    text = program.describe()
    assert "_dim_min" not in text and "_slice_len(x_n0" not in text, text
    assert not program.checks, program.checks
    assert re.search(r"arange_2: int64\[_slice_len\(k\w*_v, 0, 0, 1, 0\)\]", text), text
    xv = np.arange(9.0).reshape(3, 3)
    got = codegen.function([x, k], outs)(xv, -2)
    np.testing.assert_array_equal(got[0], np.arange(3) + np.diagonal(xv @ xv.T))
    assert got[1].shape == (0,)


@pytest.mark.parametrize("streams, steps", [("RandomStreams", 4), ("MRG_RandomStreams", 5)])
def test_a_dropout_mask_is_drawn_in_the_loop_that_applies_it(streams, steps):
    """``h * srng.binomial(size=h.shape)`` of a hidden layer ``h``: the mask's length is
    ``h``'s shape, known before any loop runs, so the layer, its mask, the cost and the
    backward pass are one loop that stores neither ``h`` nor the mask. RandomStreams' draws
    are computed in that loop (each a function of its index: before, 13 steps, the mask
    stored and loaded by 6 loops); MRG_RandomStreams' (Lasagne's and Keras' dropout) are a
    kernel of their own, read in place (before, 8 steps: h stored, the draws copied)."""
    from codegen.sandbox.rng_mrg import MRG_RandomStreams
    from codegen.tensor.shared_randomstreams import RandomStreams
    Streams = {"RandomStreams": RandomStreams, "MRG_RandomStreams": MRG_RandomStreams}[streams]

    def layer():  # a stream of its own for each function
        x, W = T.matrix("x"), T.matrix("W")
        h = T.tanh(T.dot(x, W))
        cost = (h * Streams(7).binomial(size=h.shape, p=0.5, dtype=h.dtype)).sum()
        return [x, W], [cost, T.grad(cost, W)]
    (program,) = _programs(f=(*layer(), None)).values()
    assert len(program.steps) == steps, [s.name for s in program.steps]
    loops = [s for s in program.steps if isinstance(s, LoopKernel)]
    (fused,) = [s for s in loops if len(s.body) > 3]
    assert any("tanh" in o.text for o in fused.origins)
    assert any("binomial" in o.text or "< TensorConstant{0.5}" in o.text
               for o in fused.origins)
    assert [b.ref.dims for b in program.buffers].count(("x_n0", "W_n1")) == 2  # dot, mul
    f = codegen.function(*layer())
    reference = codegen.function(*layer(), mode="FAST_COMPILE")
    xv, Wv = np.random.RandomState(0).randn(2, 5, 5)
    for _ in range(2):  # the stream advances in both alike
        for a, b in zip(f(xv, Wv), reference(xv, Wv)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_a_step_on_gathered_rows_scatters_into_the_state_in_place():
    """``W - lr * grad(W[idx])`` becomes a scatter of ``-lr * (the rows' gradient)`` into W
    (no dense gradient of W's shape, no zeros to fill); the scatter starts from a copy of W
    that in place is skipped, so the update is written in place. Where the call returns the
    old W, the new one has memory of its own; a dense gradient step is no scatter."""
    idx, lr = T.ivector("idx"), T.dscalar("lr")
    W = codegen.shared(np.ones((5, 2)), name="W")
    cost = T.sum(W[idx] ** 2)
    g = T.grad(cost, W)
    programs = _programs(sgd=([idx, lr], cost, [(W, W - lr * g)]),
                         plus=([idx], cost, [(W, g + W)]),
                         returned=([idx], [cost, W], [(W, W - 0.1 * g)]),
                         dense=([idx], cost, [(W, W - 0.1 * T.grad(T.sum(W ** 2) + cost, W))]))
    for name in ("sgd", "plus"):
        p = programs[name]
        assert [s.kind for s in p.steps if isinstance(s, GatherStep)] == ["gather", "scatter"]
        assert not any(b.fill is not None for b in p.buffers), name  # no zeros of W's shape
        assert in_place_updates(p) == [True], name
        assert copied(p.steps[-2]) == ("W", p.updates[0][1].name)
    assert in_place_updates(programs["returned"]) == [False]
    assert not any(s.kind == "scatter" and s.out.name == programs["dense"].updates[0][1].name
                   for s in programs["dense"].steps if isinstance(s, GatherStep))


def test_a_fill_of_its_operands_own_type_is_that_operand_with_the_check_kept():
    """second(x, y) (Theano's fill) alone between two products, y of the result's type: no
    loop copies y; the result is a view of it, and the check that x's length agrees with
    y's stays. (The CTC cost's gradient had 330 such copies.)"""
    A, B = T.matrix("A"), T.matrix("B")
    v, x = T.vector("v"), T.vector("x")
    out = T.dot(B, T.second(x, T.dot(A, v)))
    program = _programs(f=([A, B, v, x], [out], []))["f"]
    assert not [s for s in program.steps if isinstance(s, LoopKernel)]
    assert [view.kind for view in program.views] == ["axes"]
    assert [c.message for c in program.checks if {c.lhs, c.rhs} == {"x_n0", "A_n0"}] == [
        "second: dimension 0 of x and dot must be equal"]
