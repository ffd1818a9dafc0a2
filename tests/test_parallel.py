"""Data-parallel training: a training function split into ``<f>_gradients`` and ``<f>_apply``
(``codegen.compile.parallel``). Ranks are simulated in this process (each shard's gradients
summed, as an all-reduce would), and run for real under MPI when mpi4py is installed."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import codegen
import codegen.tensor as T
from codegen.compile.module import load_module
from codegen.compile.parallel import DataParallelError
from codegen.graph.basic import clone_replace
from codegen.tensor.shared_randomstreams import RandomStreams

SIZES = (6, 5, 3)
LR, MOM = 0.05, 0.9


def _params(seed=0, dtype="float64"):
    rng = np.random.RandomState(seed)
    params = []
    for k, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        params.append(codegen.shared((rng.randn(a, b) / np.sqrt(a)).astype(dtype), name=f"W{k}"))
        params.append(codegen.shared(np.full(b, 0.1, dtype), name=f"b{k}"))
    return params


def _forward(params, x, drop=None):
    h = x
    for W, b in zip(params[::2], params[1::2]):
        h = T.tanh(T.dot(h, W) + b)
        if drop is not None and W is params[0]:
            h = h * drop(h.shape)
    return h


def _momentum(cost, params, lr=LR):
    updates = []
    for p, g in zip(params, T.grad(cost, params)):
        v = codegen.shared(np.zeros_like(p.get_value()), name=f"v_{p.name}")
        updates += [(p, p - lr * v), (v, MOM * v + g)]
    return updates


def _module():
    """One module, several training functions, each on state of its own."""
    m = codegen.Module("dp_test", data_parallel=True)
    x, y = T.matrix("x"), T.matrix("y")
    p = _params(0)
    cost = T.sum((_forward(p, x) - y) ** 2)
    m.add_function("fit_sum", [x, y], cost, updates=_momentum(cost, p))
    p = _params(1)
    cost = T.mean(T.sum((_forward(p, x) - y) ** 2, axis=1)) + 1e-3 * T.sum(p[0] ** 2)
    m.add_function("fit_mean", [x, y], cost, updates=_momentum(cost, p))
    # a learning rate given per call, and dropout drawn from a random stream
    p, lr = _params(2), T.scalar("lr")
    srng = RandomStreams(7)
    cost = T.sum((_forward(p, x, lambda s: srng.binomial(s, p=0.8, dtype="float64")) - y) ** 2)
    m.add_function("fit_lr", [x, y, lr], cost, updates=_momentum(cost, p, lr))
    # minibatches taken from a shared dataset through givens (the tutorials' way)
    rng = np.random.RandomState(3)
    data_x = codegen.shared(rng.randn(40, SIZES[0]), name="data_x")
    data_y = codegen.shared(rng.randn(40, SIZES[-1]), name="data_y")
    p, index = _params(3), T.lscalar("index")
    cost = T.sum((_forward(p, x) - y) ** 2)
    m.add_function("fit_given", [index], cost, updates=_momentum(cost, p),
                   givens={x: data_x[index * 10:(index + 1) * 10],
                           y: data_y[index * 10:(index + 1) * 10]})
    m.add_function("predict", [x], _forward(p, x))
    return m


@pytest.fixture(scope="module")
def dp(tmp_path_factory):
    return load_module(_module().build(str(tmp_path_factory.mktemp("dp_test"))))


def _data(n, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randn(n, SIZES[0]), rng.randn(n, SIZES[-1])


def _restore(module, state):
    for name, value in state.items():
        module.set_value(name, value)


def _run_full(dp, fname, args, steps):
    return [float(getattr(dp, fname)(*args)) for _ in range(steps)], dp.state()


def test_only_training_functions_are_split(dp):
    names = {n for n in dir(dp) if n.endswith(("_gradients", "_apply")) and n[0] != "_"}
    assert names == {f"{f}_{part}" for f in ("fit_sum", "fit_mean", "fit_lr", "fit_given")
                     for part in ("gradients", "apply")}


def test_one_rank_is_the_function(dp):
    """gradients then apply, on the whole batch, is one call of the function, to the bit."""
    X, Y = _data(16)
    start = dp.state()
    costs, after = _run_full(dp, "fit_sum", (X, Y), 3)
    _restore(dp, start)
    split_costs = []
    for _ in range(3):
        cost, g = dp.fit_sum_gradients(X, Y)
        dp.fit_sum_apply(g)
        split_costs.append(float(cost))
    assert split_costs == costs
    for name, value in dp.state().items():
        np.testing.assert_array_equal(value, after[name], err_msg=name)


def test_gradients_change_no_state(dp):
    before = dp.state()
    dp.fit_lr_gradients(*_data(8), 0.1)
    for name, value in dp.state().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def _layout(doc):
    lines = [line.strip() for line in doc.splitlines() if line.strip().startswith("gradients[")]
    return [line.split(":")[0] + ":" + line.split(":")[1] for line in lines]


def test_layout_in_the_docstring(dp):
    doc = dp.fit_sum_gradients.__doc__
    assert "gradients[0:30]: gradient of 'W0', shape (6, 5)" in doc
    assert "gradients[30:35]: gradient of 'b0', shape (5,)" in doc
    _, g = dp.fit_sum_gradients(*_data(4))
    assert g.shape == (30 + 5 + 15 + 3,)
    assert _layout(doc) == _layout(dp.fit_sum_apply.__doc__)


@pytest.mark.parametrize("shards", [[8, 8], [4, 4, 4, 4], [5, 11]])
def test_sum_cost_ranks_equal_full_batch(dp, shards):
    """A sum cost: the gradients of the shards, summed, are the full batch's."""
    X, Y = _data(sum(shards), seed=len(shards))
    start = dp.state()
    _, full = _run_full(dp, "fit_sum", (X, Y), 4)
    _restore(dp, start)
    bounds = np.cumsum([0] + shards)
    for _ in range(4):
        g = sum(dp.fit_sum_gradients(X[a:b], Y[a:b])[1] for a, b in zip(bounds, bounds[1:]))
        dp.fit_sum_apply(g)
    for name, value in dp.state().items():
        np.testing.assert_allclose(value, full[name], rtol=0, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("shards", [[8, 8], [3, 13]])
def test_mean_cost_ranks_weighted_by_shard(dp, shards):
    """A mean cost: each rank's gradient weighted by its share of the batch; the weight
    decay term (no data) is not reduced, so it counts once."""
    X, Y = _data(sum(shards), seed=5)
    start = dp.state()
    _, full = _run_full(dp, "fit_mean", (X, Y), 4)
    _restore(dp, start)
    bounds, n = np.cumsum([0] + shards), sum(shards)
    for _ in range(4):
        g = sum(dp.fit_mean_gradients(X[a:b], Y[a:b])[1] * ((b - a) / n)
                for a, b in zip(bounds, bounds[1:]))
        dp.fit_mean_apply(g)
    for name, value in dp.state().items():
        np.testing.assert_allclose(value, full[name], rtol=0, atol=1e-12, err_msg=name)


def test_scalar_input_and_random_stream(dp):
    """The learning rate goes to apply; the dropout stream advances once per apply, as once
    per call of the function, so the split draws the same masks."""
    X, Y = _data(12)
    start = dp.state()
    costs, full = _run_full(dp, "fit_lr", (X, Y, 0.2), 3)
    _restore(dp, start)
    split_costs = []
    for _ in range(3):
        cost, g = dp.fit_lr_gradients(X, Y, 0.2)
        dp.fit_lr_apply(g, 0.2)
        split_costs.append(float(cost))
    assert split_costs == costs
    for name, value in dp.state().items():
        np.testing.assert_array_equal(value, full[name], err_msg=name)
    assert "fit_lr_apply(gradients: float64 vector, lr: float64 scalar)" in \
        dp.fit_lr_apply.__doc__


def test_givens_minibatches(dp):
    start = dp.state()
    _, full = _run_full(dp, "fit_given", (2,), 2)
    _restore(dp, start)
    for _ in range(2):
        dp.fit_given_apply(dp.fit_given_gradients(2)[1])
    for name, value in dp.state().items():
        np.testing.assert_array_equal(value, full[name], err_msg=name)


def test_bad_gradient_vector_changes_nothing(dp):
    before = dp.state()
    with pytest.raises(ValueError, match=r"gradients does not have the shape given .*"
                       r"gradients \(7,\), expected \(53,\)"):
        dp.fit_sum_apply(np.zeros(7))
    with pytest.raises(TypeError, match="gradients"):
        dp.fit_sum_apply(np.zeros((53, 1)))
    for name, value in dp.state().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_update_reading_data_is_an_error():
    x, y = T.matrix("x"), T.matrix("y")
    p = _params(0)
    cost = T.sum((_forward(p, x) - y) ** 2)
    running = codegen.shared(np.zeros(SIZES[0]), name="running_mean")
    m = codegen.Module("dp_bad", data_parallel=True)
    m.add_function("fit", [x, y], cost,
                   updates=_momentum(cost, p) + [(running, 0.9 * running + 0.1 * x.mean(0))])
    with pytest.raises(DataParallelError, match=r"update of running_mean .*test_parallel.py:\d+"
                       r".* reads input x other than through a gradient"):
        m.sources()


def test_name_taken_is_an_error():
    x, y = T.matrix("x"), T.matrix("y")
    p = _params(0)
    cost = T.sum((_forward(p, x) - y) ** 2)
    m = codegen.Module("dp_names", data_parallel=True)
    m.add_function("fit", [x, y], cost, updates=_momentum(cost, p))
    m.add_function("fit_apply", [x], x.sum())
    with pytest.raises(ValueError, match="'fit_apply', which the module already defines"):
        m.sources()


def test_off_by_default():
    x, y = T.matrix("x"), T.matrix("y")
    p = _params(0)
    cost = T.sum((_forward(p, x) - y) ** 2)
    m = codegen.Module("dp_off")
    m.add_function("fit", [x, y], cost, updates=_momentum(cost, p))
    assert [s.name for s in m.functions()] == ["fit"]
    m.data_parallel = True
    assert [s.name for s in m.functions()] == ["fit", "fit_gradients", "fit_apply"]


def test_gradients_are_tagged():
    x, w = T.vector("x"), codegen.shared(np.ones(3), name="w")
    g = T.grad(T.sum(T.tanh(x * w)), w)
    assert g.tag.gradient_of is w
    assert getattr(x.tag, "gradient_of", None) is None
    (g2,) = clone_replace([g], {x: T.vector("x2")})
    assert g2 is not g and g2.tag.gradient_of is w


@pytest.mark.skipif(shutil.which("mpiexec") is None and not os.path.exists(
    os.path.join(os.path.dirname(sys.executable), "mpiexec")), reason="no MPI installed")
def test_mpi_two_ranks(dp, tmp_path):
    """The same under MPI: two processes, gradients all-reduced, parameters equal to one
    process training on the whole batch."""
    pytest.importorskip("mpi4py")
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    mpiexec = mpiexec if os.path.exists(mpiexec) else shutil.which("mpiexec")
    X, Y = _data(16, seed=9)
    np.savez(tmp_path / "data.npz", X=X, Y=Y, **dp.state())
    script = tmp_path / "rank.py"
    script.write_text(
        "import sys, numpy as np\n"
        "from mpi4py import MPI\n"
        f"sys.path.insert(0, {os.path.dirname(dp.__file__)!r})\n"
        "import dp_test as dp\n"
        "comm = MPI.COMM_WORLD\n"
        f"d = np.load({str(tmp_path / 'data.npz')!r})\n"
        "for name in dp.state(): dp.set_value(name, d[name])\n"
        "X, Y = np.array_split(d['X'], comm.size)[comm.rank], "
        "np.array_split(d['Y'], comm.size)[comm.rank]\n"
        "for _ in range(3):\n"
        "    cost, g = dp.fit_sum_gradients(X, Y)\n"
        "    comm.Allreduce(MPI.IN_PLACE, g)\n"
        "    dp.fit_sum_apply(g)\n"
        f"if comm.rank == 0: np.savez({str(tmp_path / 'out.npz')!r}, **dp.state())\n")
    subprocess.run([mpiexec, "-n", "2", sys.executable, str(script)], check=True, timeout=120,
                   env={**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1",
                        "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})
    start = dp.state()
    _, full = _run_full(dp, "fit_sum", (X, Y), 3)
    _restore(dp, start)
    out = np.load(tmp_path / "out.npz")
    for name, value in full.items():
        np.testing.assert_allclose(out[name], value, rtol=0, atol=1e-12, err_msg=name)


def test_functions_pickle_by_reference(dp):
    import pickle
    data = pickle.dumps(dp.predict)
    assert len(data) < 100 and pickle.loads(data) is dp.predict


def test_dask_map_blocks(dp, tmp_path):
    """Batch inference with Dask: map_blocks over a large X on a LocalCluster of two worker
    processes, which import the module by name and load the trained state once each; the
    result equals the calls made here."""
    pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    import dask.array as da
    X = np.random.RandomState(4).randn(6000, SIZES[0])
    dp.fit_sum(*_data(32))  # a state that is not the module's initial one
    state = str(tmp_path / "trained.npz")
    dp.save(state)
    expected = dp.predict(X)
    module_dir = os.path.dirname(dp.__file__)

    def predict_block(block, module_name="dp_test", state=state):
        import importlib
        module = importlib.import_module(module_name)  # imported once per worker process
        if getattr(module, "loaded_state", None) != state:
            module.load(state)
            module.loaded_state = state
            module.state_loads = getattr(module, "state_loads", 0) + 1
        return module.predict(block)

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        client.run(lambda: sys.path.insert(0, module_dir))  # where the workers import it from
        blocks = da.from_array(X, chunks=(500, SIZES[0]))
        out = blocks.map_blocks(predict_block, dtype=X.dtype,
                                chunks=(500, SIZES[-1])).compute()
        loads = client.run(lambda: getattr(sys.modules.get("dp_test"), "state_loads", 0))
        pids = client.run(os.getpid)
    # the same calls as here, to the bit; one call on the whole array rounds its products in
    # another order (the BLAS picks its blocking by size), hence the tolerance
    np.testing.assert_array_equal(out, np.concatenate([dp.predict(X[k:k + 500])
                                                       for k in range(0, len(X), 500)]))
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-14)
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
    assert set(loads.values()) <= {0, 1} and sum(loads.values()) >= 1  # once per worker
