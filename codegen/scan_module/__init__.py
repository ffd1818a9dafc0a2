"""Theano's loops: ``scan``, ``map``, ``reduce``, ``foldl`` and ``foldr``.

>>> import codegen as theano, codegen.tensor as T
>>> k = T.iscalar('k'); A = T.vector('A')
>>> result, updates = theano.scan(lambda prior, A: prior * A, outputs_info=T.ones_like(A),
...                               non_sequences=A, n_steps=k)
>>> power = theano.function([A, k], result[-1], updates=updates, mode='FAST_COMPILE')
>>> power([1, 2, 3], 2).tolist()
[1.0, 4.0, 9.0]

The step function ``fn`` is called once, on symbolic variables, and what it builds becomes
the body of one ``Scan`` node (``codegen.ops.scan``). It receives, in order: an element of each
sequence (per tap), the previous values of each state (per tap), then the non-sequences.
Variables the step uses without being given them (shared variables, inputs of the outer
graph) become non-sequences of their own (``strict=True`` refuses them instead). Updates the
step returns, and the default updates of random streams drawn from inside it, are carried
from one iteration to the next and returned as the loop's updates.
"""

from collections import OrderedDict

from codegen.graph import Constant, SharedVariable, TensorType, Variable, graph_inputs
from codegen.ops.scan import Scan, clone_inner


def _t():
    from codegen.tensor import basic
    return basic


def _as_list(x):
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


class until:
    """Theano's ``scan_module.until(condition)``: returned by a step (last, after its outputs
    and updates), it ends the loop after the first step where ``condition`` holds; n_steps
    (or the sequences) still bound it. Such a loop runs in the reference interpreter
    (``codegen.function`` falls back to it with a warning); it has no gradient."""

    def __init__(self, condition):
        condition = _t().as_tensor_variable(condition)
        if condition.ndim != 0:
            raise TypeError(f"until: the condition must be a scalar, got {condition.type} "
                            f"({condition.label()})")
        self.condition = condition


def scan(fn, sequences=None, outputs_info=None, non_sequences=None, n_steps=None,
         truncate_gradient=-1, go_backwards=False, mode=None, name=None, profile=False,
         allow_gc=None, strict=False, return_list=False):
    """Theano's ``scan``: returns ``(outputs, updates)``; ``outputs`` is one variable when
    the step has one output (unless ``return_list``), else a list, each stacked over the
    iterations."""
    t = _t()
    name = name or "scan"
    # sequences: one slice per tap, so that iteration t reads element t of each
    seq_entries = []
    for k, entry in enumerate(_as_list(sequences)):
        if isinstance(entry, dict):
            x, taps = entry["input"], entry.get("taps", [0])
            taps = [0] if taps is None else _as_list(taps)
        else:
            x, taps = entry, [0]
        x = t.as_tensor_variable(x)
        if x.ndim == 0:
            raise TypeError(f"{name}: sequence {k} must have at least one axis, got "
                            f"{x.type} ({x.label()})")
        if go_backwards:
            x = x[::-1]
        seq_entries.append((x, [int(tap) for tap in taps]))
    lengths = []
    for x, taps in seq_entries:
        span = max(taps) - min(taps)
        lengths.append(t.shape_of(x, 0) - span if span else t.shape_of(x, 0))
    if n_steps is None:
        if not lengths:
            raise ValueError(f"{name}: give n_steps, or sequences to loop over")
        n = lengths[0]
        for other in lengths[1:]:
            n = t.minimum(n, other)
    else:
        n = t.as_tensor_variable(n_steps)
        if n.ndim != 0 or n.dtype[0] not in "iu":
            raise TypeError(f"{name}: n_steps must be an int scalar, got {n.type}")
        if isinstance(n, Constant) and int(n.data) < 0:
            raise NotImplementedError(f"{name}: a negative n_steps (go backwards) is not "
                                      f"supported; give go_backwards=True")
    outer_seqs, inner_seqs = [], []
    for x, taps in seq_entries:
        low = min(taps)
        for tap in taps:
            offset = tap - low
            whole = offset == 0 and n_steps is None and len(seq_entries) == 1 and \
                len(taps) == 1
            piece = x if whole else x[offset:offset + n] if offset else x[:n]
            if piece is not x and x.name:
                piece.name = x.name
            outer_seqs.append(piece)
            shift = f"+{tap}" if tap > 0 else (str(tap) if tap else "")
            inner = TensorType(x.dtype, x.broadcastable[1:])(
                f"{x.name}[t{shift}]" if x.name else None)
            inner_seqs.append(inner)
    # states and per-iteration outputs
    infos = _as_list(outputs_info)
    kinds = []  # per output of fn: ('state', init, lags) or ('nitsot',)
    for k, info in enumerate(infos):
        if isinstance(info, dict):
            init, taps = info.get("initial"), info.get("taps", [-1])
            if init is None:
                kinds.append(("nitsot",))
                continue
            taps = [-1] if taps is None else _as_list(taps)
        elif info is None:
            kinds.append(("nitsot",))
            continue
        else:
            init, taps = info, [-1]
        if any(int(tap) >= 0 for tap in taps):
            raise ValueError(f"{name}: the taps of a state must be negative, got {taps}")
        kinds.append(("state", t.as_tensor_variable(init), [-int(tap) for tap in taps]))
    state_inner, state_inits = [], []
    for kind in kinds:
        if kind[0] != "state":
            continue
        init, lags = kind[1], kind[2]
        L = max(lags)
        if lags == [1]:
            buf, elem = init[None], init.type
        else:
            if init.ndim == 0:
                raise TypeError(f"{name}: a state with taps {[-g for g in lags]} needs its "
                                f"{L} initial values along a leading axis, got a scalar")
            buf = init[:L]
            elem = TensorType(init.dtype, init.broadcastable[1:])
        state_inits.append(buf)
        state_inner.append([elem(f"{init.name or 'state'}[t-{lag}]") for lag in lags])
    explicit = [t.as_tensor_variable(v) if not isinstance(v, Variable) else v
                for v in _as_list(non_sequences)]

    # one call of the step, on symbolic variables
    args = inner_seqs + [v for taps in state_inner for v in taps] + explicit
    result = fn(*args)
    stop = None
    if isinstance(result, until):
        stop, result = result, None
    elif isinstance(result, (list, tuple)) and result and isinstance(result[-1], until):
        stop, result = result[-1], list(result[:-1])
        if len(result) == 1 and not isinstance(result[0], dict):
            result = result[0]
    outputs, updates = _outputs_and_updates(result, name)
    if not infos:
        kinds = [("nitsot",)] * len(outputs)
    if len(outputs) != len(kinds):
        raise ValueError(f"{name}: the step returned {len(outputs)} outputs but outputs_info "
                         f"describes {len(kinds)}")
    outputs = [t.as_tensor_variable(o) for o in outputs]
    state_outs, nitsot_outs = [], []
    j = 0
    for k, (kind, out) in enumerate(zip(kinds, outputs)):
        if kind[0] == "nitsot":
            nitsot_outs.append(out)
            continue
        elem = state_inner[j][0]
        state_outs.append(_fit_state(name, k, out, elem))
        j += 1
    # updates the step returns, and random streams' default updates: states of their own
    update_pairs = list(updates.items())
    leaves = graph_inputs(outputs + [v for _, v in update_pairs]
                          + ([stop.condition] if stop else []))
    for var in leaves:
        if isinstance(var, SharedVariable) and var.default_update is not None \
                and all(var is not s for s, _ in update_pairs):
            update_pairs.append((var, var.default_update))
    shared_states = []
    for s, value in update_pairs:
        value = t.as_tensor_variable(value)
        elem = TensorType(s.dtype, s.broadcastable)(s.name)
        state_inits.append(s[None])
        state_inner.append([elem])
        state_outs.append(_fit_state(name, f"update of {s.label()}", value, s))
        shared_states.append((s, elem))
    # what the step uses without being given it becomes a non-sequence
    given = {v.id for v in inner_seqs} | {v.id for taps in state_inner for v in taps}
    inner_outputs = state_outs + nitsot_outs + ([stop.condition] if stop else [])
    free = [v for v in graph_inputs(inner_outputs, explicit) if v.id not in given
            and not isinstance(v, Constant)]
    stand_ins = {s.id: elem for s, elem in shared_states}
    nonseqs = [v for v in explicit if not isinstance(v, Constant)]
    for v in free:
        if v.id in stand_ins or any(v is u for u in nonseqs):
            continue
        if strict:
            raise ValueError(f"{name}: strict=True, but the step uses {v.label()} ({v.type}), "
                             f"which is not among the non_sequences")
        nonseqs.append(v)
    replace = dict(stand_ins)
    inner_nonseqs = [TensorType(v.dtype, v.broadcastable)(v.name) for v in nonseqs]
    replace.update({v.id: p for v, p in zip(nonseqs, inner_nonseqs)})
    inner_inputs = inner_seqs + [v for taps in state_inner for v in taps]
    replace.update({v.id: v for v in inner_inputs})
    _, new_outputs = clone_inner(inner_inputs + nonseqs, inner_outputs, replace)
    lags = [kind[2] for kind in kinds if kind[0] == "state"] + [[1]] * len(shared_states)
    op = Scan(inner_inputs + inner_nonseqs, new_outputs, len(inner_seqs),
              lags, len(nitsot_outs), truncate=truncate_gradient, name=name,
              until=stop is not None)
    outs = op(n, *outer_seqs, *state_inits, *nonseqs)
    outs = outs if isinstance(outs, list) else [outs]
    m = len(state_inits)
    results, j, i = [], 0, 0
    for kind in kinds:
        if kind[0] == "state":
            results.append(outs[j][max(kind[2]):])
            j += 1
        else:
            results.append(outs[m + i])
            i += 1
    from codegen.updates import OrderedUpdates
    new_updates = OrderedUpdates()
    for k, (s, _) in enumerate(shared_states):
        new_updates[s] = outs[m - len(shared_states) + k][-1]
    if len(results) == 1 and not return_list:
        return results[0], new_updates
    return results, new_updates


def _fit_state(name, which, out, like):
    """The step's new value of a state, checked against the state's type (Theano's rule: the
    same dtype; a broadcastable axis only where the state's is)."""
    if out.dtype != like.dtype:
        raise TypeError(f"{name}: output {which} of the step has dtype {out.dtype}, but its "
                        f"initial value (outputs_info) has dtype {like.dtype}; cast one of "
                        f"them (T.cast(x, '{like.dtype}'))")
    if out.ndim != like.ndim:
        raise TypeError(f"{name}: output {which} of the step has {out.ndim} axes, but its "
                        f"initial value (outputs_info) has {like.ndim}")
    for a, (bo, bl) in enumerate(zip(out.broadcastable, like.broadcastable)):
        if bl and not bo:
            raise TypeError(f"{name}: output {which} of the step may have any length along "
                            f"axis {a}, but its initial value is broadcastable there; "
                            f"give an initial value of the output's pattern")
    return out


def _outputs_and_updates(result, name):
    """Theano's conventions for what a step returns: outputs, (outputs, updates), or
    updates alone (a dict)."""
    if isinstance(result, dict):
        return [], OrderedDict(result)
    if isinstance(result, (list, tuple)):
        items = list(result)
        if items and isinstance(items[-1], dict):
            updates = OrderedDict(items[-1])
            items = items[:-1]
            if len(items) == 1 and isinstance(items[0], (list, tuple)):
                items = list(items[0])
            return items, updates
        if len(items) == 2 and isinstance(items[0], (list, tuple)) and \
                isinstance(items[1], (list, tuple)) and all(
                    isinstance(p, tuple) and len(p) == 2 for p in items[1]):
            return list(items[0]), OrderedDict(items[1])
        return items, OrderedDict()
    if result is None:
        return [], OrderedDict()
    return [result], OrderedDict()


def map(fn, sequences, non_sequences=None, truncate_gradient=-1, go_backwards=False,
        mode=None, name=None):
    """``fn`` applied to each element of the sequences; returns (outputs, updates)."""
    return scan(fn, sequences=sequences, outputs_info=None, non_sequences=non_sequences,
                truncate_gradient=truncate_gradient, go_backwards=go_backwards, mode=mode,
                name=name or "map")


def reduce(fn, sequences, outputs_info, non_sequences=None, go_backwards=False, mode=None,
           name=None):
    """The last value of each state of the loop; returns (outputs, updates)."""
    outs, updates = scan(fn, sequences=sequences, outputs_info=outputs_info,
                         non_sequences=non_sequences, go_backwards=go_backwards, mode=mode,
                         name=name or "reduce", return_list=True)
    lasts = [o[-1] for o in outs]
    return (lasts[0] if len(lasts) == 1 else lasts), updates


def foldl(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """``reduce`` from the first element on."""
    return reduce(fn, sequences, outputs_info, non_sequences, False, mode, name or "foldl")


def foldr(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """``reduce`` from the last element back."""
    return reduce(fn, sequences, outputs_info, non_sequences, True, mode, name or "foldr")


__all__ = ["foldl", "foldr", "map", "reduce", "scan", "until"]
