"""``theano.tensor.nnet.ctc``: the connectionist temporal classification cost (Graves et al.,
2006) of a minibatch, as Theano's ``ctc`` gives it (Theano called Baidu's warp-ctc): the
softmax of the activations over the alphabet at each step, symbol 0 the blank, and each
example's negative log likelihood of its labels (negative labels are padding). Here it is a
graph of compiled ops: the log-softmax, and the forward recursion over the labels with
blanks around them, in log space, as a loop over time (``scan``); its gradient with respect
to the activations comes from differentiating through the loop (warp-ctc's forward-backward
computes the same gradient).
"""

#: log 0 inside the recursion: finite, so that the log-sum-exps of impossible paths stay
#: free of NaNs (and of infinities in the gradient); a likelihood below it is 0
NEG = -1e30


def ctc(activations, labels, input_lengths):
    """The CTC cost of each example of a minibatch.

    activations: (time, minibatch, alphabet) floats, before the softmax; labels: (minibatch,
    n) ints, each row an example's labels, negative values padding, 0 the blank;
    input_lengths: (minibatch,) ints, the steps of each example. Returns the (minibatch,)
    costs: inf where no alignment exists (more labels than steps allow)."""
    from codegen.scan_module import scan
    from codegen.tensor import basic as t
    acts = t.as_tensor_variable(activations)
    labels = t.as_tensor_variable(labels)
    lengths = t.as_tensor_variable(input_lengths)
    for name, var, ndim, kind in (("activations", acts, 3, "f"), ("labels", labels, 2, "iu"),
                                  ("input_lengths", lengths, 1, "iu")):
        if var.ndim != ndim or var.dtype[0] not in kind:
            want = "floats" if kind == "f" else "ints"
            raise TypeError(f"ctc: {name} must be {ndim}-d {want}, got {var.type} "
                            f"({var.label()})")
    dtype = acts.dtype
    top = t.max(acts, axis=2, keepdims=True)
    logp = acts - top - t.log(t.sum(t.exp(acts - top), axis=2, keepdims=True))
    batch, n = t.shape_of(labels, 0), t.shape_of(labels, 1)
    found = t.sum(t.ge(labels, 0), axis=1)  # each example's labels
    # the labels with a blank before, between and after them: 2 n + 1 symbols
    ext = t.set_subtensor(t.zeros((batch, 2 * n + 1), "int64")[:, 1::2],
                          t.maximum(t.cast(labels, "int64"), 0))
    before = t.concatenate([t.zeros((batch, 2), "int64") - 1, ext[:, :-2]], axis=1)
    skip = t.and_(t.neq(ext, 0), t.neq(ext, before))  # a path may skip the blank before
    allowed = t.lt(t.arange(2 * n + 1)[None, :], (2 * found + 1)[:, None])
    rows = t.arange(batch)[:, None]
    neg = t.constant(NEG, dtype=dtype)

    def step(lp, time, alpha, ext, skip, allowed, lengths):
        one = t.concatenate([t.zeros((batch, 1), dtype) + neg, alpha[:, :-1]], axis=1)
        two = t.concatenate([t.zeros((batch, 2), dtype) + neg, alpha[:, :-2]], axis=1)
        two = t.switch(skip, two, neg)
        high = t.maximum(t.maximum(alpha, one), two)
        total = high + t.log(t.exp(alpha - high) + t.exp(one - high) + t.exp(two - high))
        new = t.switch(allowed, total + lp[rows, ext], neg)
        return t.switch(t.lt(time, lengths)[:, None], new, alpha)

    # before the first step all the probability is on a symbol ahead of the first blank
    start = t.switch(t.eq(t.arange(2 * n + 1), 0)[None, :],
                     t.zeros((batch, 2 * n + 1), dtype), neg)
    steps = t.shape_of(acts, 0)
    alphas, _ = scan(step, sequences=[logp, t.arange(steps)], outputs_info=[start],
                     non_sequences=[ext, skip, allowed, lengths], name="ctc")
    last = t.concatenate([start[None], alphas], axis=0)[-1]
    flat = rows[:, 0]
    end = last[flat, 2 * found]
    end_label = t.switch(t.gt(found, 0), last[flat, t.maximum(2 * found - 1, 0)], neg)
    high = t.maximum(end, end_label)
    likelihood = high + t.log(t.exp(end - high) + t.exp(end_label - high))
    return t.switch(t.lt(likelihood, NEG / 2), t.constant(float("inf"), dtype=dtype),
                    -likelihood)


__all__ = ["ctc"]
