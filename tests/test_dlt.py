"""The DeepLearningTutorials' training loops as written (examples/dlt: logistic regression,
the MLP, the denoising autoencoder), step for step against numpy implementations of the same
models (1e-9), on small data."""

import contextlib
import os
import sys

import numpy as np
import pytest

import codegen
from codegen.ops.random import philox, uniform01

DLT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                   "dlt")
sys.path.insert(0, DLT)  # the examples import each other as the tutorials do
import logistic_sgd  # noqa: E402


def _example(name):
    """An example by its file (a name of its own: other tests import modules named mlp)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(f"dlt_{name}", os.path.join(DLT, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mlp = _example("mlp")
dA_tutorial = _example("dA")

STEPS = 12


@pytest.fixture(scope="module")
def datasets():
    return logistic_sgd.load_data(n_train=120, n_valid=40, n_test=40)


def _dataset(datasets, k):
    x, y = datasets[k]
    return x.get_value(), y.owner.inputs[0].get_value().astype("int32")


def _softmax(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@contextlib.contextmanager
def _in_mode(mode):
    """Build the functions made inside in ``mode`` (the tutorials give none)."""
    codegen.config.mode, saved = mode, codegen.config.mode
    try:
        yield
    finally:
        codegen.config.mode = saved


def _close(got, expected):
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_logistic_regression_step_for_step(datasets, mode):
    with _in_mode(mode):
        classifier, train_model, validate_model, test_model = logistic_sgd.build_model(
            datasets, learning_rate=0.13, batch_size=20)
    X, Y = _dataset(datasets, 0)
    W, b = np.zeros((784, 10)), np.zeros(10)
    for step in range(STEPS):
        i = step % 6
        x, y = X[i * 20:(i + 1) * 20], Y[i * 20:(i + 1) * 20]
        p = _softmax(x @ W + b)
        cost = -np.mean(np.log(p)[np.arange(20), y])
        d = p.copy()
        d[np.arange(20), y] -= 1
        d /= 20
        W, b = W - 0.13 * (x.T @ d), b - 0.13 * d.sum(axis=0)
        _close(train_model(i), cost)
        _close(classifier.W.get_value(), W)
        _close(classifier.b.get_value(), b)
    vx, vy = _dataset(datasets, 1)
    expected = np.mean(np.argmax(vx[:20] @ W + b, axis=1) != vy[:20])
    _close(validate_model(0), expected)


def test_conjugate_gradients_as_written_match_numpy_iterate_for_iterate(datasets, tmp_path):
    """logistic_cg.py: theta is one shared vector, W and b views of it; scipy's fmin_cg
    drives compiled cost and gradient functions of the minibatch offset. The same fmin_cg
    over numpy's cost and gradient takes the same iterates."""
    import scipy.optimize
    logistic_cg = _example("logistic_cg")
    X, Y = _dataset(datasets, 0)
    vx, vy = _dataset(datasets, 1)
    batch = 20

    def cost_grad(theta):
        W, b = theta[:7840].reshape(784, 10), theta[7840:]
        costs, grads = [], []
        for i in range(0, len(X), batch):
            x, y = X[i:i + batch], Y[i:i + batch]
            p = _softmax(x @ W + b)
            costs.append(-np.mean(np.log(p)[np.arange(batch), y]))
            d = p.copy()
            d[np.arange(batch), y] -= 1
            d /= batch
            grads.append(np.concatenate([(x.T @ d).ravel(), d.sum(axis=0)]))
        return np.mean(costs), np.sum(grads, axis=0) / len(grads)

    iterates = []
    expected = scipy.optimize.fmin_cg(
        f=lambda t: cost_grad(t)[0], fprime=lambda t: cost_grad(t)[1], x0=np.zeros(7850),
        callback=lambda t: iterates.append(t.copy()), disp=0, maxiter=4)
    png = tmp_path / "cg.png"
    history, theta = logistic_cg.cg_optimization(n_epochs=4, batch_size=batch,
                                                 datasets=datasets, png=str(png))
    np.testing.assert_allclose(theta, expected, rtol=1e-7, atol=1e-10)
    assert len(iterates) == 4 and len(history["validation"][1]) == 4
    errors = [100 * np.mean(np.argmax(vx @ t[:7840].reshape(784, 10) + t[7840:], axis=1) != vy)
              for t in iterates]
    np.testing.assert_allclose(history["validation"][1], errors)
    assert png.read_bytes()[:4] == b"\x89PNG"
    # each call returns its own array: the tutorial's ``grad += batch_grad(...)`` sums
    classifier, _, batch_grad, _, _ = logistic_cg.build_model(datasets, batch)
    classifier.theta.set_value(expected)
    total = batch_grad(0)
    for i in range(1, 6):
        total += batch_grad(i * batch)
    _close(total / 6, cost_grad(expected)[1])


def test_mlp_step_for_step(datasets):
    L1, L2, lr = 0.001, 0.0001, 0.01
    classifier, train_model, _, _ = mlp.build_model(datasets, lr, L1, L2, batch_size=20,
                                                    n_hidden=30)
    W1, b1, W2, b2 = (p.get_value().copy() for p in classifier.params)
    X, Y = _dataset(datasets, 0)
    for step in range(STEPS):
        i = step % 6
        x, y = X[i * 20:(i + 1) * 20], Y[i * 20:(i + 1) * 20]
        h = np.tanh(x @ W1 + b1)
        p = _softmax(h @ W2 + b2)
        cost = (-np.mean(np.log(p)[np.arange(20), y])
                + L1 * (np.abs(W1).sum() + np.abs(W2).sum())
                + L2 * ((W1 ** 2).sum() + (W2 ** 2).sum()))
        d = p.copy()
        d[np.arange(20), y] -= 1
        d /= 20
        gW2 = h.T @ d + L1 * np.sign(W2) + 2 * L2 * W2
        gb2 = d.sum(axis=0)
        dh = (d @ W2.T) * (1 - h ** 2)
        gW1 = x.T @ dh + L1 * np.sign(W1) + 2 * L2 * W1
        gb1 = dh.sum(axis=0)
        W1, b1, W2, b2 = W1 - lr * gW1, b1 - lr * gb1, W2 - lr * gW2, b2 - lr * gb2
        _close(train_model(i), cost)
        for param, value in zip(classifier.params, (W1, b1, W2, b2)):
            _close(param.get_value(), value)


@pytest.mark.parametrize("corruption", [0.0, 0.3])
def test_denoising_autoencoder_step_for_step(datasets, corruption):
    """The mask is the stream's own (Philox at the stream's seed and counter), computed here
    by numpy from the stream state the module holds."""
    lr = 0.1
    X, _ = _dataset(datasets, 0)
    da, train_da = dA_tutorial.build_model(datasets[0][0], corruption, lr, batch_size=20,
                                           n_hidden=25)
    W, b, bp = (p.get_value().copy() for p in da.params)
    (stream, _), = da.theano_rng.state_updates
    for step in range(STEPS):
        i = step % 6
        x = X[i * 20:(i + 1) * 20]
        seed, counter = stream.get_value()
        u = uniform01(philox(np.arange(x.size, dtype=np.uint64), counter, seed), "float64")
        tilde = (u < 1 - corruption).reshape(x.shape) * x
        y = 1 / (1 + np.exp(-(tilde @ W + b)))
        z = 1 / (1 + np.exp(-(y @ W.T + bp)))
        cost = np.mean(-np.sum(x * np.log(z) + (1 - x) * np.log(1 - z), axis=1))
        dz = (z - x) / 20  # through the sigmoid and the cross-entropy
        dy = (dz @ W) * y * (1 - y)
        gW = tilde.T @ dy + dz.T @ y
        W, b, bp = W - lr * gW, b - lr * dy.sum(axis=0), bp - lr * dz.sum(axis=0)
        _close(train_da(i), cost)
        for param, value in zip(da.params, (W, b, bp)):
            _close(param.get_value(), value)
    assert stream.get_value()[1] == STEPS  # one draw per call


def test_logistic_regression_on_emulated_cuda(datasets, cuda_emulated):
    with cuda_emulated():
        classifier, train_model, _, _ = logistic_sgd.build_model(datasets, 0.13, 20)
        costs = [float(train_model(i % 6)) for i in range(6)]
    reference, train_ref, _, _ = logistic_sgd.build_model(datasets, 0.13, 20)
    expected = [float(train_ref(i % 6)) for i in range(6)]
    _close(costs, expected)
    _close(classifier.W.get_value(), reference.W.get_value())


def test_the_examples_write_their_learning_curves(tmp_path, datasets):
    png = str(tmp_path / "curves.png")
    history = logistic_sgd.sgd_optimization(n_epochs=3, batch_size=20, datasets=datasets,
                                            png=png)
    assert len(history["validation"][0]) == 3
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_lenet_as_written_matches_the_reference_step_for_step(datasets):
    """LeNet (two convolution + pooling layers, then the MLP) compiled, against the numpy
    reference interpreter running the same graph (costs and every parameter, 1e-9)."""
    lenet = _example("convolutional_mlp")
    runs = []
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        with _in_mode(mode):
            layers, train_model, validate_model, _ = lenet.build_model(
                datasets, 0.1, nkerns=(4, 6), batch_size=10, n_hidden=20)
        costs = [float(train_model(i % 4)) for i in range(4)]
        params = [p.get_value() for layer in layers for p in layer.params]
        runs.append((costs, params, float(validate_model(0))))
    (c1, p1, v1), (c2, p2, v2) = runs
    _close(c1, c2)
    for a, b in zip(p1, p2):
        _close(a, b)
    assert v1 == v2 and len(set(c1)) == 4  # the steps changed the parameters


def _lstm_numpy(p, x, m, y):
    """The tutorial's LSTM classifier in numpy, float64: (cost, gradients by name), the
    backward pass written out (backpropagation through time)."""
    p = {k: v.astype(np.float64) for k, v in p.items()}
    m = m.astype(np.float64)
    d = p["lstm_U"].shape[0]
    W, U, b, Uc, bc = p["lstm_W"], p["lstm_U"], p["lstm_b"], p["U"], p["b"]
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    emb = p["Wemb"][x]
    sb = emb @ W + b
    T_, B = x.shape
    h, c = np.zeros((B, d)), np.zeros((B, d))
    saved, hs = [], []
    for t in range(T_):
        pre = h @ U + sb[t] + b
        i, f, o, g = sig(pre[:, :d]), sig(pre[:, d:2 * d]), sig(pre[:, 2 * d:3 * d]), \
            np.tanh(pre[:, 3 * d:])
        mt = m[t][:, None]
        c_t = mt * (f * c + i * g) + (1 - mt) * c
        h_t = mt * (o * np.tanh(c_t)) + (1 - mt) * h
        saved.append((h, c, i, f, o, g, c_t))
        h, c = h_t, c_t
        hs.append(h_t)
    hs = np.array(hs)
    msum = m.sum(axis=0)
    proj = (hs * m[:, :, None]).sum(axis=0) / msum[:, None]
    pred = _softmax(proj @ Uc + bc)
    py = pred[np.arange(B), y] + 1e-8
    cost = -np.log(py).mean()
    dp = np.zeros_like(pred)
    dp[np.arange(B), y] = -1 / (B * py)
    dlog = pred * (dp - (dp * pred).sum(axis=1, keepdims=True))
    grads = {"U": proj.T @ dlog, "b": dlog.sum(axis=0)}
    dproj = dlog @ Uc.T
    dU, db, dsb = np.zeros_like(U), np.zeros_like(b), np.zeros_like(sb)
    dh_next, dc_next = np.zeros((B, d)), np.zeros((B, d))
    for t in reversed(range(T_)):
        h_prev, c_prev, i, f, o, g, c_t = saved[t]
        mt = m[t][:, None]
        dh = dproj * mt / msum[:, None] + dh_next
        dh_new, dh_prev = mt * dh, (1 - mt) * dh
        do = dh_new * np.tanh(c_t)
        dc = dc_next + dh_new * o * (1 - np.tanh(c_t) ** 2)
        dc_new, dc_prev = mt * dc, (1 - mt) * dc
        dc_prev = dc_prev + dc_new * f
        dpre = np.concatenate([dc_new * g * i * (1 - i), dc_new * c_prev * f * (1 - f),
                               do * o * (1 - o), dc_new * i * (1 - g ** 2)], axis=1)
        dU += h_prev.T @ dpre
        db += dpre.sum(axis=0)
        dsb[t] = dpre
        dh_next, dc_next = dh_prev + dpre @ U.T, dc_prev
    grads["lstm_U"] = dU
    grads["lstm_W"] = np.einsum("tbi,tbj->ij", emb, dsb)
    grads["lstm_b"] = db + dsb.sum(axis=(0, 1))
    dWemb = np.zeros_like(p["Wemb"])
    np.add.at(dWemb, x, dsb @ W.T)
    grads["Wemb"] = dWemb
    return cost, grads


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_lstm_step_for_step(mode):
    """lstm.py's model and adadelta, as written (float32), three updates on a minibatch of
    reviews of different lengths (the mask), against the numpy LSTM in float64."""
    lstm = _example("lstm")
    saved = codegen.config.mode, codegen.config.floatX
    codegen.config.mode, codegen.config.floatX = mode, "float32"
    try:
        options = dict(n_words=60, dim_proj=6, ydim=2, use_dropout=False)
        params = lstm.init_params(options, np.random.RandomState(5))
        tparams = lstm.init_tparams(params)
        _, _, x, mask, y, _, f_pred, cost = lstm.build_model(tparams, options)
        grads = codegen.tensor.grad(cost, wrt=list(tparams.values()))
        lr = codegen.tensor.scalar(name="lr")
        f_grad_shared, f_update = lstm.adadelta(lr, tparams, grads, x, mask, y, cost)
        reviews, labels = lstm.make_reviews(5, 9, n_words=60, shortest=3, longest=9)
        xv, mv, yv = lstm.prepare_data(reviews, labels)
    finally:
        codegen.config.mode, codegen.config.floatX = saved
    assert mv.min() == 0  # some reviews are padded
    p = {k: v.astype(np.float64) for k, v in params.items()}
    zg = {k: np.zeros_like(v) for k, v in p.items()}
    ru2 = {k: np.zeros_like(v) for k, v in p.items()}
    rg2 = {k: np.zeros_like(v) for k, v in p.items()}
    for _ in range(3):
        cost_np, g = _lstm_numpy(p, xv, mv, yv)
        np.testing.assert_allclose(f_grad_shared(xv, mv, yv), cost_np, rtol=1e-5)
        f_update(0.0)
        for k in p:  # adadelta in numpy
            zg[k] = g[k]
            rg2[k] = 0.95 * rg2[k] + 0.05 * g[k] ** 2
            step = -np.sqrt(ru2[k] + 1e-6) / np.sqrt(rg2[k] + 1e-6) * zg[k]
            ru2[k] = 0.95 * ru2[k] + 0.05 * step ** 2
            p[k] = p[k] + step
        for k, shared in tparams.items():
            np.testing.assert_allclose(shared.get_value(), p[k], rtol=1e-4, atol=2e-7,
                                       err_msg=k)
    assert f_pred(xv, mv).shape == (5,)


def test_lstm_on_emulated_cuda(cuda_emulated):
    """The same on CUDA: its adadelta keeps the embedding's gradient, a scatter into zeros,
    as state on the device."""
    with cuda_emulated():
        test_lstm_step_for_step("FAST_RUN")


def _elman_cost(p, idxs, y):
    """rnnslu's sentence cost in numpy (float64)."""
    emb, wx, wh, w, bh, b, h0 = p
    x = emb[idxs].reshape(len(idxs), -1)
    h, cost = h0, 0.0
    for t in range(len(x)):
        h = 1 / (1 + np.exp(-(x[t] @ wx + h @ wh + bh)))
        s = _softmax((h @ w + b)[None])[0]
        cost -= np.log(s[y[t]])
    return cost / len(x)


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_rnnslu_step_for_step(mode):
    """rnnslu.py's Elman network trained sentence by sentence (SGD, then the embeddings
    renormalized) against numpy: its cost, and each update against finite differences of
    numpy's cost (windows past the sentence's ends read the padding row, index -1)."""
    rnnslu = _example("rnnslu")
    with _in_mode(mode):
        np.random.seed(4)
        rnn = rnnslu.RNNSLU(nh=4, nc=3, ne=9, de=2, cs=3)
    rng = np.random.default_rng(2)
    lr = 0.1
    for length in (4, 1, 6):
        sentence = rng.integers(0, 9, length)
        labels = rng.integers(0, 3, length).astype("int32")
        idxs = np.asarray(rnnslu.contextwin(sentence, 3)).astype("int32")
        before = [p.get_value() for p in rnn.params]
        cost = rnn.train(sentence, labels, 3, lr)
        np.testing.assert_allclose(cost, _elman_cost(before, idxs, labels), rtol=1e-10)
        expected = []
        for k, p in enumerate(before):
            num = np.zeros_like(p)
            for j in np.ndindex(p.shape):
                moved = [q.copy() for q in before]
                moved[k][j] += 1e-6
                up = _elman_cost(moved, idxs, labels)
                moved[k][j] -= 2e-6
                num[j] = (up - _elman_cost(moved, idxs, labels)) / 2e-6
            expected.append(p - lr * num)
        expected[0] = expected[0] / np.sqrt((expected[0] ** 2).sum(axis=1))[:, None]
        for p, want in zip(rnn.params, expected):
            np.testing.assert_allclose(p.get_value(), want, rtol=1e-6, atol=1e-8,
                                       err_msg=p.name)
    assert rnn.classify(idxs).shape == (6,)


@pytest.mark.parametrize("persistent", [True, False])
def test_rbm_as_written_matches_the_reference_step_for_step(datasets, persistent):
    """The RBM (Gibbs chains in a scan drawing from the random stream, the gradient with the
    chain's end held constant, the pseudo-likelihood's flipped bit indexed by a shared int)
    compiled, against the numpy reference interpreter running the same graph: costs, every
    parameter and the persistent chain after each step, then the sampler's chains."""
    rbm_tutorial = _example("rbm")
    runs = []
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        with _in_mode(mode):
            rbm, train_rbm = rbm_tutorial.build_model(datasets[0][0], 0.1, batch_size=20,
                                                      n_hidden=25, k=3, persistent=persistent)
            costs = [float(train_rbm(i % 6)) for i in range(8)]
            params = [p.get_value() for p in rbm.params]
            sample_fn, chain = rbm_tutorial.build_sampler(rbm, datasets[2][0], n_chains=4,
                                                          plot_every=5)
            samples = [sample_fn() for _ in range(2)]
        runs.append((costs, params, samples, chain.get_value()))
    (c1, p1, s1, v1), (c2, p2, s2, v2) = runs
    _close(c1, c2)
    for a, b in zip(p1 + [v1], p2 + [v2]):
        _close(a, b)
    for (mf1, x1), (mf2, x2) in zip(s1, s2):
        _close(mf1, mf2)
        np.testing.assert_array_equal(x1, x2)
        assert set(np.unique(x1)) <= {0.0, 1.0}
    assert len(set(c1)) == 8  # the steps changed the parameters (and the flipped bit)


def test_hmc_as_written_samples_its_gaussian_and_matches_the_reference():
    """Hybrid Monte Carlo (leapfrog steps in a scan whose step takes a gradient, accepts
    drawn from the stream, the step size adapted in the updates): the compiled sampler's
    draws equal the reference interpreter's, and its samples have the target's mean and
    covariance."""
    hmc = _example("hmc")
    runs = []
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        with _in_mode(mode):
            sampler, mu, cov, samples = hmc.sampler_on_nd_gaussian(
                hmc.HMC_sampler.new_from_shared_positions, burnin=5, n_samples=10, dim=5)
        runs.append((samples, float(sampler.stepsize.get_value()),
                     float(sampler.avg_acceptance_rate.get_value())))
    (s1, step1, rate1), (s2, step2, rate2) = runs
    _close(s1, s2)
    _close([step1, rate1], [step2, rate2])
    sampler, mu, cov, samples = hmc.test_hmc(burnin=300, n_samples=700)
    np.testing.assert_allclose(samples.mean(axis=0), mu, atol=0.25)
    np.testing.assert_allclose(np.cov(samples.T), cov, atol=0.25)


def _stacks_agree(runs):
    """The compiled run and the reference interpreter's of a pretrained stack: (costs,
    parameters, validation scores, test scores) each; returns the compiled run's costs."""
    (c1, p1, v1, t1), (c2, p2, v2, t2) = runs
    _close(c1, c2)
    for a, b in zip(p1, p2):
        _close(a, b)
    assert v1 == v2 and t1 == t2
    return c1


def test_sda_as_written_pretrains_its_layers_and_finetunes_the_stack(datasets, tmp_path):
    """Stacked denoising autoencoders: each dA layer pretrained on the codes of the layer
    below (its functions called with keywords and with their In defaults), sharing weights
    with the MLP's sigmoid layers, then the stack finetuned. The first finetuning cost against
    numpy on the pretrained weights; costs, parameters and scores compiled against the
    reference interpreter running the same graphs, random corruption included."""
    sda_tutorial = _example("SdA")
    x, y = _dataset(datasets, 0)
    runs = []
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        with _in_mode(mode):
            sda = sda_tutorial.SdA(numpy_rng=np.random.RandomState(89677), n_ins=28 * 28,
                                   hidden_layers_sizes=[30, 20], n_outs=10)
            fns = sda.pretraining_functions(train_set_x=datasets[0][0], batch_size=20)
            costs = [float(fns[i](index=b, corruption=c, lr=0.05))
                     for i, c in ((0, 0.1), (1, 0.2)) for b in range(3)]
            costs.append(float(fns[1](4)))  # corruption 0.2 and lr 0.1, the In defaults
            train_fn, valid_score, test_score = sda.build_finetune_functions(
                datasets=datasets, batch_size=20, learning_rate=0.1)
            w0, b0, w1, b1, w, b = [p.get_value() for p in sda.params]
            h = 1 / (1 + np.exp(-(1 / (1 + np.exp(-(x[:20] @ w0 + b0))) @ w1 + b1)))
            p_y = _softmax(h @ w + b)
            costs.append(float(train_fn(0)))
            _close(costs[-1], -np.mean(np.log(p_y[np.arange(20), y[:20]])))
            costs += [float(train_fn(i % 6)) for i in range(1, 6)]
            params = [p.get_value() for p in sda.params + [d.b_prime for d in sda.dA_layers]]
            runs.append((costs, params, valid_score(), test_score()))
    c1 = _stacks_agree(runs)
    assert sda.dA_layers[1].W is sda.sigmoid_layers[1].W
    assert len(set(c1)) == len(c1)
    history = sda_tutorial.test_SdA(pretraining_epochs=1, pretrain_lr=0.01, training_epochs=2,
                                    batch_size=20, hidden_layers_sizes=[30, 20],
                                    corruption_levels=[0.1, 0.2], datasets=datasets,
                                    png=str(tmp_path / "sda.png"))
    assert len(history["validation error (%)"][0]) == 2


def test_dbn_as_written_pretrains_its_rbms_and_finetunes_the_stack(datasets, tmp_path):
    """A deep belief network: each RBM pretrained by CD-1 (a Gibbs chain in a scan drawing
    from the stream) on the hidden activations of the layer below, sharing weights with the
    MLP's sigmoid layers, then the stack finetuned: costs, parameters and scores compiled
    against the reference interpreter running the same graphs."""
    dbn_tutorial = _example("DBN")
    runs = []
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        with _in_mode(mode):
            dbn = dbn_tutorial.DBN(numpy_rng=np.random.RandomState(123), n_ins=28 * 28,
                                   hidden_layers_sizes=[30, 20], n_outs=10)
            fns = dbn.pretraining_functions(train_set_x=datasets[0][0], batch_size=20, k=1)
            costs = [float(fns[i](index=b, lr=0.05)) for i in range(2) for b in range(3)]
            costs.append(float(fns[1](4)))  # lr 0.1, the In default
            train_fn, valid_score, test_score = dbn.build_finetune_functions(
                datasets=datasets, batch_size=20, learning_rate=0.1)
            costs += [float(train_fn(i % 6)) for i in range(6)]
            params = [p.get_value() for p in dbn.params + [r.vbias for r in dbn.rbm_layers]]
            runs.append((costs, params, valid_score(), test_score()))
    c1 = _stacks_agree(runs)
    assert dbn.rbm_layers[1].W is dbn.sigmoid_layers[1].W
    assert len(set(c1)) == len(c1)
    history = dbn_tutorial.test_DBN(pretraining_epochs=1, training_epochs=2, batch_size=20,
                                    hidden_layers_sizes=[30, 20], datasets=datasets,
                                    png=str(tmp_path / "dbn.png"))
    assert len(history["validation error (%)"][0]) == 2


def test_contractive_autoencoder_step_for_step(datasets):
    """The contractive autoencoder as written, against numpy: the reconstruction cost, the
    Jacobian's squared norm (broadcast from reshapes; the tutorial's ``//`` floors it) and
    the parameters after each step. As in Theano, the floor division passes no gradient, so
    only the reconstruction moves the weights."""
    ca_tutorial = _example("cA")
    x, _ = _dataset(datasets, 0)
    ca, train_ca = ca_tutorial.build_model(datasets[0][0], learning_rate=0.05, batch_size=20,
                                           contraction_level=0.1, n_hidden=25)
    w, b, bp = [p.get_value() for p in ca.params]
    for step in range(STEPS):
        xb = x[(step % 6) * 20:(step % 6 + 1) * 20]
        rec, jac = train_ca(step % 6)
        y = 1 / (1 + np.exp(-(xb @ w + b)))
        z = 1 / (1 + np.exp(-(y @ w.T + bp)))
        _close(rec, np.mean(-np.sum(xb * np.log(z) + (1 - xb) * np.log(1 - z), axis=1)))
        jacobian = (y * (1 - y))[:, None, :] * w[None]
        _close(jac, np.floor(np.sum(jacobian ** 2) / 20))
        dz = (z - xb) / 20
        dy = dz @ w * y * (1 - y)
        w, b, bp = w - 0.05 * (xb.T @ dy + dz.T @ y), b - 0.05 * dy.sum(0), bp - 0.05 * dz.sum(0)
    for p, want in zip(ca.params, (w, b, bp)):
        _close(p.get_value(), want)


def test_rnnrbm_as_written_trains_and_generates_as_the_reference():
    """The RNN-RBM: the recurrence's scan giving each step's RBM biases, CD-15 chains of the
    batch in a second scan, the gradient with the chains' ends held constant through the
    recurrence (backpropagation through time), and generation by a scan whose every step
    runs a 25-step Gibbs chain (a scan in a scan, both drawing from the stream). Compiled
    against the reference interpreter running the same graphs: the monitored costs, every
    parameter, and the generated piano roll."""
    rnnrbm = _example("rnnrbm")
    runs = []
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        with _in_mode(mode):
            np.random.seed(5)  # the parameters' initial values and the shuffles
            rnnrbm.rng = type(rnnrbm.rng)(seed=11)  # the streams the graphs draw from
            model = rnnrbm.RnnRbm(n_hidden=20, n_hidden_recurrent=15, lr=0.01)
            history = model.train(rnnrbm.make_songs(3), batch_size=24, num_epochs=2)
            # the eight parameters and the random streams' states
            params = [var.get_value() for var, _ in model.train_function.fgraph.updates]
            roll = model.generate(None, show=False)
        runs.append((history, params, roll))
    (h1, p1, r1), (h2, p2, r2) = runs
    _close(h1, h2)
    for a, b in zip(p1, p2):
        _close(a, b)
    assert len(p1) > 8
    np.testing.assert_array_equal(r1, r2)
    assert r1.shape == (200, 88) and set(np.unique(r1)) <= {0.0, 1.0}
    assert h1[0] != h1[1]
