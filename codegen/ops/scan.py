"""``Scan``: a loop whose body is a graph of its own (Theano's ``scan``).

One node stands for the whole loop. Its inputs, in order:

- ``n_steps``, an int64 scalar: the number of iterations;
- the sequences, one array per sequence tap, each read at ``[t]`` in iteration ``t`` (the
  front end, ``codegen.scan``, slices a sequence once per tap and reverses it for
  ``go_backwards``);
- the initial values of the recurrent states, each ``(L, ...)``: the ``L`` values before the
  first iteration, ``L`` the state's longest lag;
- the non-sequences, read whole in every iteration.

The inner graph (``inner_inputs`` -> ``inner_outputs``) is one iteration. Its inputs are the
sequence elements, then each state's taps (the value ``lag`` iterations back, in the order
``taps`` gives), then the non-sequences; its outputs are each state's new value, then the
values stacked per iteration (``nit-sot``, Theano's name: no tap, no initial value).

The outputs: per state, the buffer of its ``L`` initial values followed by the ``n`` values the
loop computed (``store`` 'all'), or only the last ``L`` values (``store`` 'last', when nothing
needs the history: ``codegen.rewrite.scan_save_memory`` decides); then per nit-sot output the
``n`` values stacked.

The gradient is another Scan that runs backwards over the stored states
(backpropagation through time, ``grad``).
"""

import numpy as np

from codegen.graph import Apply, Constant, Op, TensorType, Variable, late, toposort
from codegen.graph.basic import rebuild
from codegen.graph.errors import describe


class Scan(Op):
    props = ("signature", "n_seqs", "taps", "n_nitsot", "n_nonseqs", "store", "truncate",
             "until")

    def __init__(self, inner_inputs, inner_outputs, n_seqs, taps, n_nitsot, store=None,
                 truncate=-1, name="scan", until=False):
        self.inner_inputs = list(inner_inputs)
        self.inner_outputs = list(inner_outputs)
        self.n_seqs = n_seqs
        self.taps = tuple(tuple(lags) for lags in taps)
        self.n_nitsot = n_nitsot
        self.n_nonseqs = len(self.inner_inputs) - n_seqs - sum(len(t) for t in self.taps)
        self.store = tuple(store or ("all",) * len(self.taps))
        self.truncate = truncate
        self.name = name
        # with until, the last inner output is a condition: the loop stops after the first
        # step where it holds, and its outputs have that many steps. until='bounded' (what
        # the rewrite bound_until makes of it for the compiled backends): the condition is
        # the last stacked output too, and the outputs keep their n_steps rows, those past the
        # stop zeros (the condition's ones), so their shapes are known before the loop runs
        self.until = "bounded" if until == "bounded" else bool(until)
        self.signature = inner_signature(self.inner_inputs, self.inner_outputs)

    # ------------------------------------------------------------------ layout

    @property
    def n_states(self):
        return len(self.taps)

    def lengths(self):
        """``L`` of each state: its longest lag."""
        return [max(lags) for lags in self.taps]

    def outer_parts(self, inputs):
        """(n_steps, sequences, initial values, non-sequences) among a node's inputs."""
        s, m = self.n_seqs, self.n_states
        return inputs[0], inputs[1:1 + s], inputs[1 + s:1 + s + m], inputs[1 + s + m:]

    def inner_parts(self):
        """(sequence elements, per state its taps, non-sequences) among the inner inputs."""
        ins = self.inner_inputs
        seqs, k, taps = ins[:self.n_seqs], self.n_seqs, []
        for lags in self.taps:
            taps.append(ins[k:k + len(lags)])
            k += len(lags)
        return seqs, taps, ins[k:]

    def short_name(self):
        return self.name

    def __str__(self):
        return f"{self.name}{{{self.n_seqs} seq, {self.n_states} state, {self.n_nitsot} out}}"

    # ------------------------------------------------------------------ graph

    def make_node(self, n_steps, *rest):
        n_steps = _as_int(n_steps)
        m = self.n_states
        want = self.n_seqs + m + self.n_nonseqs
        if len(rest) != want:
            raise TypeError(f"{self.name}: expected {want} inputs after n_steps, got {len(rest)}")
        seqs, inits, nonseqs = (rest[:self.n_seqs], rest[self.n_seqs:self.n_seqs + m],
                                rest[self.n_seqs + m:])
        inner_seqs, inner_taps, inner_nonseqs = self.inner_parts()
        for outer, inner in zip(seqs, inner_seqs):
            _check_type(self.name, "sequence", outer, inner, lead=1)
        for outer, taps in zip(inits, inner_taps):
            for inner in taps:
                _check_type(self.name, "initial value of a state", outer, inner, lead=1)
        for outer, inner in zip(nonseqs, inner_nonseqs):
            _check_type(self.name, "non-sequence", outer, inner, lead=0)
        outs = []
        for k, init in enumerate(inits):
            outs.append(TensorType(init.dtype, (False,) + tuple(init.broadcastable[1:])))
        for out in self.inner_outputs[m:m + self.n_nitsot]:
            outs.append(TensorType(out.dtype, (False,) + tuple(out.broadcastable)))
        return Apply(self, [n_steps, *seqs, *inits, *nonseqs], outs)

    def format(self, node, args):
        return f"{self.name}(n_steps={args[0]}, {', '.join(args[1:])})"

    # ------------------------------------------------------------------ reference

    def perform(self, node, values):
        run = late.get("run")
        n = int(values[0])
        seqs, inits, nonseqs = self.outer_parts(values)[1:]
        if n < 0:
            raise ValueError(f"{self.name}: n_steps must be at least 0, got {n}"
                             + _where(node))
        for k, seq in enumerate(seqs):
            if len(seq) < n:
                raise IndexError(f"{self.name}: sequence {k} ({describe(node.inputs[1 + k], seq)})"
                                 f" is shorter than the number of steps ({n})" + _where(node))
        lengths = self.lengths()
        bufs = []
        for init, L in zip(inits, lengths):
            if init.shape[0] != L:
                raise ValueError(f"{self.name}: a state with taps back to -{L} needs {L} "
                                 f"initial values, got {init.shape[0]}" + _where(node))
            buf = np.zeros((L + n,) + init.shape[1:], dtype=init.dtype)
            buf[:L] = init
            bufs.append(buf)
        nitsots = [[] for _ in range(self.n_nitsot)]
        m = self.n_states
        outputs = self.inner_outputs
        inner_seqs, inner_taps, inner_nonseqs = self.inner_parts()
        for t in range(n):
            given = {}
            for inner, seq in zip(inner_seqs, seqs):
                given[inner.id] = seq[t]
            for buf, L, lags, taps in zip(bufs, lengths, self.taps, inner_taps):
                for lag, inner in zip(lags, taps):
                    given[inner.id] = buf[t + L - lag]
            for inner, value in zip(inner_nonseqs, nonseqs):
                given[inner.id] = value
            results = run(outputs, given)
            for k, (buf, L) in enumerate(zip(bufs, lengths)):
                value = np.asarray(results[k])
                if value.shape != buf.shape[1:] and np.broadcast_shapes(
                        value.shape, buf.shape[1:]) != buf.shape[1:]:
                    raise ValueError(f"{self.name}: the new value of state {k} has shape "
                                     f"{value.shape}, its initial value {buf.shape[1:]}"
                                     + _where(node))
                buf[t + L] = value
            for k in range(self.n_nitsot):
                nitsots[k].append(np.asarray(results[m + k]))
            if self.until and np.asarray(results[-1]).item():
                if self.until == "bounded":  # the rows past the stop: zeros, the condition's 1
                    for k, values_k in enumerate(nitsots):
                        pad = np.zeros_like(values_k[-1]) + (k == self.n_nitsot - 1)
                        values_k.extend([pad] * (n - t - 1))
                    break
                n = t + 1  # the steps done
                break
        out = []
        for buf, L, store in zip(bufs, lengths, self.store):
            buf = buf[:L + n]
            out.append(buf if store == "all" else buf[-L:].copy())
        for k, values_k in enumerate(nitsots):
            inner = outputs[m + k]
            if values_k:
                out.append(np.stack(values_k).astype(inner.dtype, copy=False))
            else:
                out.append(np.zeros((0,) * (inner.ndim + 1), dtype=inner.dtype))
        return out

    @property
    def reference_only(self):
        return ("a loop that ends on a condition (until) has no compiled form before the "
                "rewrite bound_until") if self.until is True else None

    def infer_shape(self, node, input_shapes):
        raise NotImplementedError("scan: the lowering takes a loop's shapes from its body, "
                                  "once lowered")

    # ------------------------------------------------------------------ gradient

    def grad(self, node, output_grads):
        if self.until:
            raise NotImplementedError(f"{self.name}: the gradient of a loop that ends on a "
                                      f"condition (until) is not implemented")
        from codegen.ops.scan_grad import scan_grad
        return scan_grad(node, output_grads)


def inner_signature(inputs, outputs):
    """A hashable description of the inner graph: its nodes' ops, inputs, types and lines,
    and its constants' bytes (two loops with equal signatures compute the same)."""
    index = {v.id: ("in", k, v.dtype, v.broadcastable) for k, v in enumerate(inputs)}
    parts = []

    def ref(var):
        if var.id not in index:
            if isinstance(var, Constant):
                data = np.asarray(var.data)
                index[var.id] = ("const", data.dtype.str, data.shape, data.tobytes())
            else:
                index[var.id] = ("free", var.id)
        return index[var.id]

    for k, nd in enumerate(toposort(outputs)):
        p = nd.provenance
        parts.append((nd.op.key(), tuple(ref(v) for v in nd.inputs),
                      (p.filename, p.lineno, p.role) if p is not None else None))
        for out in nd.outputs:
            index[out.id] = ("node", k, out.index, out.dtype, out.broadcastable)
    parts.append(tuple(ref(v) for v in outputs))
    return tuple(parts)


def clone_inner(inputs, outputs, replace=None, copies=None):
    """Fresh copies of every node between ``inputs`` and ``outputs`` (each keeping its
    provenance); ``replace`` maps inner inputs (by id) to what stands for them in the copy,
    else a fresh variable of the same type. Returns (new inputs, new outputs); ``copies``, a
    dict, gets the copy of every variable copied (by the original's id)."""
    replace = dict(replace or {})
    new_inputs = []
    for var in inputs:
        if var.id not in replace:
            fresh = var.type(var.name)
            replace[var.id] = fresh
        new_inputs.append(replace[var.id])
    mapping = dict(replace)  # (a non-sequence the user computed outside the step: stood for)
    new_outputs = rebuild(outputs, mapping, copy_all=True)
    if copies is not None:
        copies.update(mapping)
    return new_inputs, new_outputs


def _as_int(n):
    from codegen.tensor.basic import as_tensor_variable, cast
    n = as_tensor_variable(n)
    if n.ndim != 0 or n.dtype[0] not in "iu":
        raise TypeError(f"scan: n_steps must be an int scalar, got {describe(n)}")
    return n if n.dtype == "int64" else cast(n, "int64")


def _check_type(name, what, outer, inner, lead):
    if not isinstance(outer, Variable):
        raise TypeError(f"{name}: the {what} must be a variable, got {type(outer).__name__}")
    if outer.dtype != inner.dtype or outer.ndim != inner.ndim + lead:
        raise TypeError(f"{name}: the {what} {describe(outer)} does not match the step's input "
                        f"{describe(inner)}")


def _where(node):
    p = node.provenance
    return f"\n  built at {p}" if p is not None else ""


__all__ = ["Scan", "clone_inner", "inner_signature"]
