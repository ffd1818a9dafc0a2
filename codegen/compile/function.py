"""``codegen.function``: Theano's compiled function, on the reference or a compiled backend."""

import copy
import sys
import threading
import time

import numpy as np

from codegen.backends import numpy as reference
from codegen.compile.inputs import Out, as_in, convert_value
from codegen.compile.mode import as_mode
from codegen.graph import SharedVariable, Variable, late, toposort
from codegen.graph.basic import clone_replace
from codegen.graph.errors import warn
from codegen.graph.fgraph import FunctionGraph


def _as_update_pairs(updates):
    if updates is None:
        return []
    items = list(updates.items()) if isinstance(updates, dict) else list(updates)
    pairs = []
    for pair in items:
        var, value = pair
        from codegen.tensor.basic import as_tensor_variable
        if not isinstance(var, SharedVariable):
            raise TypeError(f"updates: keys must be shared variables, got {var!r}")
        value = as_tensor_variable(value)
        if value.dtype != var.dtype or value.broadcastable != var.broadcastable:
            raise TypeError(f"updates: the new value of {var.label()} has type {value.type}, "
                            f"expected {var.type} (same dtype and broadcastable pattern)")
        if any(var is other for other, _ in pairs):
            raise ValueError(f"updates: {var.label()} is updated twice")
        pairs.append((var, value))
    return pairs


class Function:
    """A callable made by ``codegen.function``. Call with positional or keyword arguments."""

    def __init__(self, ins, fgraph, single, executable, name, allow_downcast):
        self.ins = ins
        self.fgraph = fgraph
        self.single = single
        self.executable = executable
        self.name = name or "function"
        self.allow_downcast = allow_downcast
        self._names = [spec.name for spec in ins]
        self._lock = threading.Lock()
        # where the values of the shared inputs live, and which of them the call updates
        self._containers = [var.container for var in fgraph.shared]
        self._updated = [fgraph.shared.index(var) for var, _ in fgraph.updates]
        # the fast path of a call with every argument positional: an ndarray of the input's
        # dtype and rank is taken as it is (the compiled glue checks the rest), anything
        # else goes through convert_value; the compiled function is called directly
        self._exact = [(spec.variable.type.numpy_dtype, spec.variable.ndim,
                        any(spec.variable.broadcastable)) for spec in ins]
        self._direct = getattr(executable, "direct", None)
        self._link()

    def _link(self):
        """Bind the call to the containers and updates as they now are: the containers the
        updates write, and the module's call in C (``_Call_<f>``) over them."""
        self._written = [self._containers[i] for i in self._updated]
        caller_type = getattr(self.executable, "caller_type", None)
        self._caller = (caller_type(self._containers, self._written, self._lock,
                                    self.allow_downcast) if caller_type is not None else None)

    mode = None  # as given to function(): a pickled function is compiled again with it
    profile = None  # a ProfileStats where compiled with profile (ProfiledFunction)

    def __getstate__(self):
        """What a pickle keeps: the graph (with the shared variables and their values), the
        inputs and the mode; unpickling compiles again (from the cache when built before)."""
        return {"ins": self.ins, "fgraph": self.fgraph, "single": self.single,
                "name": self.name, "allow_downcast": self.allow_downcast, "mode": self.mode,
                "updated": self._updated,
                "values": [c.value for c in self._containers]}

    def __setstate__(self, state):
        executable = make_executable(state["fgraph"], state["mode"], state["ins"],
                                     state["name"], state["allow_downcast"],
                                     state.get("profile_build", False))
        self.__init__(state["ins"], state["fgraph"], state["single"], executable,
                      state["name"], state["allow_downcast"])
        self.mode, self._updated = state["mode"], state["updated"]
        self._link()
        for container, value in zip(self._containers, state["values"]):
            container.value = value

    def copy(self, share_memory=False, swap=None, delete_updates=False, name=None):
        """Theano's ``Function.copy``: the same compiled function with its own copies of the
        shared values (or the same ones with ``share_memory``), ``swap`` ({shared variable:
        another of its type}) taking values from others, and ``delete_updates`` leaving the
        shared values as they are."""
        new = type(self)(self.ins, self.fgraph, self.single, self.executable,
                         name or self.name, self.allow_downcast)
        new.mode = self.mode
        if not share_memory:
            new._containers = [type(c)(c.value.copy()) for c in self._containers]
        for old, other in (swap or {}).items():
            if other.type != old.type:
                raise TypeError(f"copy: swap {old.label()} ({old.type}) for {other.label()} "
                                f"({other.type}): the types differ")
            new._containers[self.fgraph.shared.index(old)] = other.container
        if delete_updates:
            new._updated = []
        new._link()
        return new

    def __repr__(self):
        args = ", ".join(n or "?" for n in self._names)
        return f"<codegen.Function {self.name}({args}) [{self.executable.kind}]>"

    def _bind(self, args, kwargs):
        if len(args) > len(self.ins):
            raise TypeError(f"{self.name}() takes {len(self.ins)} arguments, got {len(args)}")
        values = list(args) + [None] * (len(self.ins) - len(args))
        given = [True] * len(args) + [False] * (len(self.ins) - len(args))
        for key, value in kwargs.items():
            if key not in self._names:
                raise TypeError(f"{self.name}() got an unexpected keyword argument {key!r}")
            i = self._names.index(key)
            if given[i]:
                raise TypeError(f"{self.name}() got multiple values for argument {key!r}")
            values[i], given[i] = value, True
        out = []
        for i, spec in enumerate(self.ins):
            if not given[i]:
                if not spec.has_default:
                    raise TypeError(f"{self.name}() missing argument {spec.name or i!r} "
                                    f"({spec.variable.type})")
                values[i] = spec.value
            out.append(convert_value(values[i], spec.variable, spec.name or f"#{i}",
                                     self.name, self.allow_downcast))
        return out

    def _call_c(self, args):
        """The module's call in C (``_Call_<f>``), or None where an argument is not ready."""
        try:
            return self._caller(args)
        except Exception as exc:
            if getattr(exc, "node", None) is not None:
                raise exc.with_traceback(None) from None
            raise

    def __call__(self, *args, **kwargs):
        if self._caller is not None and "outputs" not in kwargs:
            outputs = None if kwargs else self._call_c(args)
            if outputs is None:  # a Python number, a list, a keyword: converted, then in C
                # (whose new state goes into memory no one holds: in place where it can)
                outputs = self._call_c(tuple(self._bind(args, kwargs)))
            if outputs is not None:
                if self.single:
                    return outputs[0] if outputs else None
                return outputs
        if self._direct is not None and not kwargs and len(args) == len(self._exact):
            values = [v if type(v) is np.ndarray and v.dtype == dtype and v.ndim == ndim
                      and not bc else None for v, (dtype, ndim, bc) in zip(args, self._exact)]
            if any(v is None for v in values):
                values = self._bind(args, kwargs)
            with self._lock:
                try:
                    result = self._direct(*[c.value for c in self._containers], *values,
                                          self.allow_downcast)
                except Exception as exc:
                    if getattr(exc, "node", None) is not None:
                        raise exc.with_traceback(None) from None
                    raise
                for container, value in zip(self._written, result[1]):
                    container.value = value
            outputs = result[0]
            if self.single:
                return outputs[0] if outputs else None
            return outputs
        on_device = False
        if "outputs" in kwargs and "outputs" not in self._names:
            on_device = self._outputs_on_device(kwargs.pop("outputs"))
        values = self._bind(args, kwargs)
        with self._lock:
            state = [container.value for container in self._containers]
            try:
                if on_device:
                    outputs, new_state = self.executable.impl(*state, *values,
                                                              self.allow_downcast, True)
                else:
                    outputs, new_state = self.executable.run(values, state)
            except Exception as exc:
                if getattr(exc, "node", None) is not None:
                    raise exc.with_traceback(None) from None
                raise
            for i, value in zip(self._updated, new_state):
                self._containers[i].value = value
        if not on_device:
            outputs = [np.asarray(o) for o in outputs]
        if self.single:
            return outputs[0] if outputs else None
        return outputs

    def _outputs_on_device(self, where):
        """Whether a call's ``outputs=`` asks for them on the device (CUDA's DeviceArray)."""
        if where == "numpy":
            return False
        if where != "device":
            raise ValueError(f"{self.name}(): outputs must be 'numpy' or 'device', got "
                             f"{where!r}")
        if getattr(self.executable, "device", "cpu") != "cuda":
            raise ValueError(f"{self.name}(): outputs='device' needs a function compiled for "
                             f"CUDA (config.device = 'cuda'); this one runs on "
                             f"{getattr(self.executable, 'device', 'cpu')} "
                             f"({self.executable.kind})")
        if not hasattr(self.executable, "impl"):
            raise ValueError(f"{self.name}(): outputs='device' needs the function in one "
                             f"compiled module; this one runs {self.executable.kind}")
        return True

    def debug_text(self):
        return self.executable.debug_text()


class ReferenceExecutable:
    """Runs the graph with the numpy reference interpreter (mode='FAST_COMPILE')."""

    kind = "numpy reference"

    def __init__(self, fgraph, timed=None):
        self.fgraph = fgraph
        self.timed = timed  # profile=True: told each node's time (profiling.NodeTimes)

    def run(self, inputs, state):
        values = {v.id: x for v, x in zip(self.fgraph.inputs, inputs)}
        values.update({v.id: x for v, x in zip(self.fgraph.shared, state)})
        results = reference.run(self.fgraph.all_outputs, values, self.timed)
        n = len(self.fgraph.outputs)
        outputs = [r.copy() if isinstance(r, np.ndarray) else np.asarray(r) for r in results[:n]]
        return outputs, results[n:]

    def profile_steps(self):
        """() -> each node's (kind, id, text, where, seconds, runs) so far (profile=True)."""
        return self.timed.steps

    def debug_text(self):
        import io

        from codegen.printing import debugprint
        buf = io.StringIO()
        debugprint(self.fgraph.all_outputs, file=buf)
        return buf.getvalue()


def _check_inputs(fgraph, ins, on_unused_input):
    if fgraph.missing:
        names = ", ".join(f"{v.label()} ({v.type})" for v in fgraph.missing)
        raise TypeError(f"function: the outputs depend on {names}, which is not among the "
                        "inputs; add it to the input list or give it through givens")
    used = {v.id for v in _leaves(fgraph)}
    for spec in ins:
        if spec.variable.id not in used and on_unused_input != "ignore":
            message = (f"function: input {spec.name or spec.variable!r} is not used to compute "
                       "any output; pass on_unused_input='ignore' or 'warn'")
            if on_unused_input == "warn":
                warn(message)
            else:
                raise ValueError(message)


def _leaves(fgraph):
    """The inputs the outputs depend on; a gradient depends on every input of its cost, as in
    Theano, though simplification may have left it a constant (``gradient.grad``)."""
    from codegen.graph import graph_inputs
    outputs = list(fgraph.all_outputs)
    costs = []
    for var in outputs + [o for node in toposort(outputs) for o in node.inputs]:
        cost = getattr(var.tag, "grad_cost", None)
        if cost is not None and all(cost is not c for c in costs):
            costs.append(cost)
    return graph_inputs(outputs + costs)


def mentions_sparse(inputs, outputs, updates, givens):
    """Whether any input, output, update or given is sparse (``codegen.compile.sparse``).
    None can be before scipy.sparse is imported (codegen.sparse imports it), and looking
    for one would import it: 0.15 s of the first function's compilation."""
    if "scipy.sparse" not in sys.modules:
        return False
    from codegen.compile.sparse import mentions_sparse as sparse_in
    return sparse_in(inputs, outputs, updates, givens)


def function(inputs, outputs=None, mode=None, updates=None, givens=None,
             no_default_updates=False, accept_inplace=False, name=None, rebuild_strict=True,
             allow_input_downcast=None, profile=None, on_unused_input="raise"):
    """Compile a function from ``inputs`` to ``outputs`` (Theano's ``theano.function``).

    ``profile``: True, a message or a shared ``ProfileStats`` times the calls and each step
    (``codegen.compile.profiling``); the function's ``profile`` attribute holds it.

    >>> import codegen, codegen.tensor as T
    >>> x = T.scalar('x')
    >>> f = codegen.function([x], x ** 2, mode='FAST_COMPILE')
    >>> float(f(3))
    9.0
    """
    if mentions_sparse(inputs, outputs, updates, givens):  # scipy matrices in and out
        from codegen.compile.sparse import sparse_function
        return sparse_function(function, inputs, outputs, updates, givens, name,
                               on_unused_input, mode=mode,
                               no_default_updates=no_default_updates,
                               allow_input_downcast=allow_input_downcast, profile=profile)
    from codegen.compile import profiling
    started = time.perf_counter()
    stats = profiling.as_profile(profile, name)
    ins, fgraph, single = prepare(inputs, outputs, updates, givens, name, on_unused_input,
                                  no_default_updates)
    executable = make_executable(fgraph, mode, ins, name, allow_input_downcast,
                                 stats is not None)
    if stats is None:
        f = Function(ins, fgraph, single, executable, name, allow_input_downcast)
    else:
        f = ProfiledFunction(ins, fgraph, single, executable, name, allow_input_downcast)
        f._record_into(stats, time.perf_counter() - started)
    f.mode = mode
    return f


class ProfiledFunction(Function):
    """A Function compiled with ``profile``: each call's time goes to ``self.profile`` (a
    ``ProfileStats``), with the times of the steps its module (or the reference interpreter)
    measured."""

    def _record_into(self, stats, compile_time):
        executable = self.executable
        steps = executable.profile_steps()
        backend = executable.kind + (f" on {executable.device}"
                                     if getattr(executable, "device", None) else "")
        self.profile = stats
        self._record = stats._add(self.name, backend, compile_time, steps)

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return super().__call__(*args, **kwargs)
        finally:
            self._record.calls += 1
            self._record.call_time += time.perf_counter() - started

    def __getstate__(self):
        return {**super().__getstate__(), "profile": self.profile.message}

    def __setstate__(self, state):
        from codegen.compile import profiling
        started = time.perf_counter()
        state = dict(state)
        stats = profiling.as_profile(state.pop("profile") or True, state["name"])
        state["profile_build"] = True
        super().__setstate__(state)
        self._record_into(stats, time.perf_counter() - started)

    def copy(self, share_memory=False, swap=None, delete_updates=False, name=None):
        new = super().copy(share_memory, swap, delete_updates, name)
        new.profile, new._record = self.profile, self._record  # the same steps, timed together
        return new


def prepare(inputs, outputs, updates=None, givens=None, name=None, on_unused_input="raise",
            no_default_updates=False):
    """Normalize function() arguments: (In specs, FunctionGraph, whether one output).

    A shared variable of the graph with a ``default_update`` (a random stream's state) is
    updated with it unless ``updates`` update it, or ``no_default_updates`` is True or
    lists it (Theano's rule)."""
    ins = [as_in(i) for i in inputs]
    for spec in ins:
        if not isinstance(spec.variable, Variable) or isinstance(spec.variable, SharedVariable):
            raise TypeError(f"function: inputs must be symbolic variables (not shared), got "
                            f"{spec.variable!r}")
    from codegen.tensor.basic import SymbolicShape, as_tensor_variable
    single = outputs is not None and (not isinstance(outputs, (list, tuple))
                                      or isinstance(outputs, SymbolicShape))  # x.shape: one
    outs = [] if outputs is None else ([outputs] if single else list(outputs))
    outs = [as_tensor_variable(o.variable if isinstance(o, Out) else o) for o in outs]
    pairs = _as_update_pairs(updates)
    given_pairs = (givens.items() if isinstance(givens, dict) else givens) if givens else []
    replace = {old: as_tensor_variable(new) for old, new in given_pairs}
    for k, spec in enumerate(ins):
        if spec.variable.owner is not None:
            # an input that an op computes (Theano's function([hidden], output)): the graph
            # is cut there, the value given standing for what computed it
            leaf = spec.variable.type(spec.variable.name)
            replace[spec.variable] = leaf
            ins[k] = copy.copy(spec)
            ins[k].variable = leaf
    if replace:
        new = clone_replace(outs + [v for _, v in pairs], replace)
        outs, pairs = new[: len(outs)], [(s, v) for (s, _), v in zip(pairs, new[len(outs):])]
    fgraph = FunctionGraph([spec.variable for spec in ins], outs, pairs, name)
    if no_default_updates is not True:
        skip = {id(v) for v in (no_default_updates or [])} | {id(s) for s, _ in pairs}
        extra = [(s, s.default_update) for s in fgraph.shared
                 if getattr(s, "default_update", None) is not None and id(s) not in skip]
        if extra:
            pairs = pairs + extra
            fgraph = FunctionGraph([spec.variable for spec in ins], outs, pairs, name)
    _check_inputs(fgraph, ins, on_unused_input)
    return ins, fgraph, single


def make_executable(fgraph, mode, ins, name, allow_downcast, profile=False):
    mode = as_mode(mode)
    from codegen.compile.profiling import NodeTimes
    timed = NodeTimes() if profile else None
    if not mode.compiled:
        return ReferenceExecutable(fgraph, timed)
    from codegen.backends import resolve
    resolve()  # config.device names a backend that builds here, or a clear error
    from codegen.compile.compiled import CompiledExecutable
    from codegen.graph.errors import NotCompiled
    try:  # in one module, its parts chained there where a step computes a length
        return CompiledExecutable(fgraph, ins, name, mode, allow_downcast, profile)
    except NotCompiled as exc:  # an op with no compiled form, DebugMode's comparison, ...
        refused = exc
    fname = name or "function"
    from codegen.compile.parts import compile_in_parts  # around what a module cannot hold
    from codegen.rewrite import optimize_fgraph

    def make(sub, sub_ins, part_name):
        return CompiledExecutable(sub, sub_ins, part_name, mode, allow_downcast, profile,
                                  optimized=True, chained=False)
    try:
        executable = compile_in_parts(optimize_fgraph(fgraph), fname, make, timed)
    except NotCompiled as exc:
        refused = exc
    else:
        reasons = "; ".join(executable.reasons)
        if not executable.compiled:
            refused = reasons
        else:
            if reasons:
                warn(f"{fname} runs in the reference interpreter (mode='FAST_COMPILE'): "
                     f"{reasons}; the rest is compiled ({executable.kind})")
            return executable
    warn(f"{fname} runs in the reference interpreter (mode='FAST_COMPILE'): {refused}")
    return ReferenceExecutable(fgraph, timed)


late.provide("function", function)
