"""``theano.compile.ops.as_op``: a Python function as an op of the graph.

Its body is Python, so only the reference interpreter (``mode='FAST_COMPILE'``) can run it;
a compiled module has no Python to call at run time, and building one says so, naming the
function and the line that used it.
"""

import numpy as np

from codegen.graph import Apply, Op


def _typed_node(op, inputs):
    """The node of ``op`` (with ``itypes`` and ``otypes``) on ``inputs``, each of its type."""
    from codegen.tensor.basic import as_tensor_variable
    inputs = [as_tensor_variable(v) for v in inputs]
    if len(inputs) != len(op.itypes):
        raise TypeError(f"{op.short_name()}: expected {len(op.itypes)} inputs, got "
                        f"{len(inputs)}")
    for k, (v, t) in enumerate(zip(inputs, op.itypes)):
        if v.type != t:
            raise TypeError(f"{op.short_name()}: input {k} must be {t}, got {v.type} "
                            f"({v.label()})")
    return Apply(op, inputs, list(op.otypes))


class FromFunctionOp(Op):
    """An op whose values are ``fn``'s: inputs of types ``itypes``, outputs of ``otypes``."""

    props = ("fn", "itypes", "otypes")
    #: why only the reference interpreter runs it (codegen.function falls back to it)
    reference_only = "it runs Python, which compiled code cannot call"

    def __init__(self, fn, itypes, otypes, infer_shape=None):
        self.fn, self.itypes, self.otypes = fn, tuple(itypes), tuple(otypes)
        self._infer_shape = infer_shape

    def short_name(self):
        return f"as_op{{{getattr(self.fn, '__name__', 'fn')}}}"

    def make_node(self, *inputs):
        return _typed_node(self, inputs)

    def perform(self, node, values):
        outs = self.fn(*values)
        if len(self.otypes) == 1:
            outs = [outs]
        return [np.asarray(v, dtype=o.dtype) for v, o in zip(outs, node.outputs)]

    def infer_shape(self, node, input_shapes):
        if self._infer_shape is None:
            raise NotImplementedError(f"{self.short_name()} has no shape rule (give "
                                      f"as_op infer_shape=)")
        return self._infer_shape(node, input_shapes)

    def grad(self, node, output_grads):
        raise NotImplementedError(f"{self.short_name()}: a Python function has no gradient")


def as_op(itypes, otypes, infer_shape=None):
    """Decorator: ``fn`` (numpy arrays in, an array or a list of them out) as an op taking
    variables of ``itypes`` to variables of ``otypes``. It runs in the reference interpreter
    (``mode='FAST_COMPILE'``); compiled modules cannot call Python."""
    itypes = list(itypes) if isinstance(itypes, (list, tuple)) else [itypes]
    otypes = list(otypes) if isinstance(otypes, (list, tuple)) else [otypes]

    def decorate(fn):
        return FromFunctionOp(fn, itypes, otypes, infer_shape)
    return decorate



class PythonOp(Op):
    """Theano's ``theano.Op`` (``theano.gof.Op``) as its users subclass it, the way the
    "Extending Theano" tutorial writes one: ``__props__``; ``make_node(*inputs)`` returning
    ``Apply(self, inputs, [x.type()])`` (or ``itypes``/``otypes`` instead);
    ``perform(node, inputs, output_storage)`` setting ``output_storage[k][0]``; and
    ``grad(inputs, output_grads)`` building the gradients' graphs.

    Its perform is Python, so only the reference interpreter runs it: a function using it
    runs in the reference interpreter, with a warning naming the op (``mode='FAST_COMPILE'``
    silences it); its gradient's graph is compiled like any other where it has no such op.
    Theano's ``infer_shape`` is kept but not needed: shapes are read from the values."""

    reference_only = "it runs Python (its perform), which compiled code cannot call"
    __props__ = ()
    itypes = otypes = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__props__" in cls.__dict__:
            cls.props = tuple(cls.__props__)
        # the subclass's methods, in Theano's conventions, called through codegen's
        for name in ("perform", "grad", "infer_shape"):
            if name in cls.__dict__:
                setattr(cls, f"_theano_{name}", cls.__dict__[name])
                setattr(cls, name, getattr(PythonOp, f"_{name}_as_theano"))

    def short_name(self):
        return type(self).__name__

    def make_node(self, *inputs):
        if self.itypes is None or self.otypes is None:
            raise NotImplementedError(f"{type(self).__name__}: define make_node, or itypes and "
                                      f"otypes")
        return _typed_node(self, inputs)

    def _perform_as_theano(self, node, values):
        storage = [[None] for _ in node.outputs]
        self._theano_perform(node, list(values), storage)
        out = []
        for k, ((value,), var) in enumerate(zip(storage, node.outputs)):
            if value is None:
                raise ValueError(f"{self.short_name()}.perform set no value for output {k} "
                                 f"(output_storage[{k}][0])")
            out.append(np.asarray(value, dtype=var.dtype))
        return out

    def _grad_as_theano(self, node, output_grads):
        return self._theano_grad(list(node.inputs), list(output_grads))

    def _infer_shape_as_theano(self, node, input_shapes):
        raise NotImplementedError(f"{self.short_name()}: its shapes are read from its values")

    def perform(self, node, values):
        raise NotImplementedError(f"{self.short_name()}: define perform(node, inputs, "
                                  f"output_storage)")

    def grad(self, node, output_grads):
        raise NotImplementedError(f"{self.short_name()} defines no grad(inputs, "
                                  f"output_grads)")


__all__ = ["as_op", "FromFunctionOp", "PythonOp"]
