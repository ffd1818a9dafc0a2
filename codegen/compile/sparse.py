"""``codegen.function`` (and ``Module.add_function``) of sparse inputs, outputs, updates and
givens: the function of their parts, called with scipy matrices and giving them back."""


import scipy.sparse

from codegen.compile.inputs import In, Out
from codegen.graph.errors import warn
from codegen.sparse.basic import SparseSharedVariable, SparseVariable, as_sparse_variable


def _variable(item):
    return item.variable if isinstance(item, (In, Out)) else item


def _is_sparse(x):
    return isinstance(x, SparseVariable) or scipy.sparse.issparse(x)


def mentions_sparse(inputs, outputs, updates, givens):
    """Whether any input, output, update or given of a ``function`` call is sparse."""
    items = [_variable(i) for i in inputs]
    if isinstance(outputs, (list, tuple)):
        items += [_variable(o) for o in outputs]
    else:
        items.append(_variable(outputs))
    for pairs in (updates, givens):
        if pairs:
            items += [x for pair in (pairs.items() if isinstance(pairs, dict) else pairs)
                      for x in pair]
    return any(_is_sparse(x) for x in items)


def _pairs(name, pairs):
    """Each (key, value) of ``updates``/``givens``, a sparse pair as the pairs of its parts."""
    flat = []
    for key, value in (pairs.items() if isinstance(pairs, dict) else pairs or []):
        if not isinstance(key, SparseVariable):
            if _is_sparse(value):
                raise TypeError(f"{name}: {key!r} is dense and its new value sparse; "
                                f"use sparse.dense_from_sparse")
            flat.append((key, value))
            continue
        if name == "updates" and not isinstance(key, SparseSharedVariable):
            raise TypeError(f"updates: keys must be shared variables, got {key!r}")
        if not _is_sparse(value):
            raise TypeError(f"{name}: the new value of sparse {key.label()} must be sparse, "
                            f"got {value!r}")
        value = as_sparse_variable(value)
        if value.format != key.format or value.dtype != key.dtype:
            raise TypeError(f"{name}: the new value of {key.label()} is {value.type}, "
                            f"expected {key.type}")
        flat += list(zip(key.parts, value.parts))
    return flat


class Flat:
    """A call's arguments with each sparse variable as its five parts: ``inputs``,
    ``outputs``, ``updates``, ``givens``; ``in_kinds``/``out_kinds``: per input and output of
    the caller's, None (dense) or its SparseType (with the input's name)."""

    def __init__(self, inputs, outputs, updates, givens):
        self.inputs, self.in_kinds = [], []
        for item in inputs:
            var = _variable(item)
            if isinstance(var, SparseVariable):
                if any(p.owner is not None for p in var.parts) or isinstance(
                        var, SparseSharedVariable):
                    raise TypeError(f"function: sparse input {var.label()} is not a free "
                                    "variable (make inputs with sparse.csr_matrix or "
                                    "csc_matrix)")
                self.inputs += var.parts
                self.in_kinds.append((var.type, var.name))
            else:
                self.inputs.append(item)
                self.in_kinds.append(None)
        self.single = outputs is not None and not isinstance(outputs, (list, tuple))
        outs = [] if outputs is None else ([outputs] if self.single else list(outputs))
        self.outputs, self.out_kinds = [], []
        for item in outs:
            var = _variable(item)
            if _is_sparse(var):
                var = as_sparse_variable(var)
                self.outputs += var.parts
                self.out_kinds.append(var.type)
            else:
                self.outputs.append(item)
                self.out_kinds.append(None)
        self.updates = _pairs("updates", updates)
        self.givens = _pairs("givens", givens)
        self._callers = list(inputs)

    def check_unused(self, fgraph, on_unused_input):
        """``codegen.function``'s check that each input is used, of the caller's inputs (a
        sparse one is used where any of its parts is) in ``fgraph``, the parts' graph."""
        if on_unused_input == "ignore":
            return
        from codegen.compile.function import _leaves
        used = {v.id for v in _leaves(fgraph)}
        flat = iter(fgraph.inputs)
        for item, kind in zip(self._callers, self.in_kinds):
            parts = [next(flat) for _ in range(1 if kind is None else 5)]
            if any(var.id in used for var in parts):
                continue
            message = (f"function: input {getattr(_variable(item), 'name', None) or item!r} "
                       "is not used to compute any output; pass on_unused_input='ignore' or "
                       "'warn'")
            if on_unused_input == "warn":
                warn(message)
            else:
                raise ValueError(message)


def sparse_function(build, inputs, outputs, updates=None, givens=None, name=None,
                    on_unused_input="raise", **options):
    """``build`` (``codegen.function``) over the parts of the sparse inputs and outputs,
    wrapped so that it takes and gives scipy matrices."""
    flat = Flat(inputs, outputs, updates, givens)
    inner = build(flat.inputs, flat.outputs, updates=flat.updates, givens=flat.givens,
                  name=name, on_unused_input="ignore", **options)
    flat.check_unused(inner.fgraph, on_unused_input)
    return SparseFunction(inner, flat.in_kinds, flat.out_kinds, flat.single)


class SparseFunction:
    """A compiled function of sparse inputs or outputs: scipy matrices in and out, the
    function of their parts (``.function``) between."""

    def __init__(self, function, in_kinds, out_kinds, single):
        self.function = function
        self.in_kinds, self.out_kinds, self.single = in_kinds, out_kinds, single
        self.name = function.name
        specs = iter(function.ins)
        self._specs = []  # per input of the user's: its In (dense) or its type and name
        for kind in in_kinds:
            if kind is None:
                self._specs.append(next(specs))
            else:
                for _ in range(5):
                    next(specs)
                self._specs.append(kind)

    def __getattr__(self, attr):  # the compiled function's other attributes
        if attr == "function":
            raise AttributeError(attr)
        return getattr(self.function, attr)

    def __repr__(self):
        kind = self.function.executable.kind
        return f"<codegen.Function {self.name} of sparse matrices [{kind}]>"

    def _names(self):
        return [kind[1] if isinstance(kind, tuple) else kind.name for kind in self._specs]

    def __call__(self, *args, **kwargs):
        names = self._names()
        if len(args) > len(names):
            raise TypeError(f"{self.name}() takes {len(names)} arguments, got {len(args)}")
        values = dict(enumerate(args))
        for key, value in kwargs.items():
            if key not in names:
                raise TypeError(f"{self.name}() got an unexpected keyword argument {key!r}")
            i = names.index(key)
            if i in values:
                raise TypeError(f"{self.name}() got multiple values for argument {key!r}")
            values[i] = value
        flat = []
        for i, spec in enumerate(self._specs):
            argname = names[i] or f"#{i}"
            if isinstance(spec, tuple):
                if i not in values:
                    raise TypeError(f"{self.name}() missing argument {argname!r} ({spec[0]})")
                flat += spec[0].split(values[i], argname, self.name)
            elif i in values:
                flat.append(values[i])
            elif spec.has_default:
                flat.append(spec.value)
            else:
                raise TypeError(f"{self.name}() missing argument {argname!r} "
                                f"({spec.variable.type})")
        results = iter(self.function(*flat))
        outputs = []
        for kind in self.out_kinds:
            if kind is None:
                outputs.append(next(results))
            else:
                outputs.append(kind.join(*[next(results) for _ in range(5)]))
        return outputs[0] if self.single else outputs
