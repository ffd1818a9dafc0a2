"""Symbolic shapes before lowering, and the dims that shape checks prove equal."""


def symbolic_shapes(nodes, leaf_shape, leaf_value=lambda var: None):
    """Shape expressions of every node output (None: unknown), from ``leaf_shape(var)`` of
    the graph's inputs, ``leaf_value(var)`` of its int scalar inputs (their dim expression,
    or None) and each op's ``infer_shape``."""
    shapes = {}

    def shape(var):
        return shapes[var.id] if var.id in shapes else leaf_shape(var)

    for node in nodes:
        ins = [shape(v) for v in node.inputs]
        try:
            if None in ins:
                outs = None
            elif getattr(node.op, "reads_values", False):
                outs = node.op.infer_shape(node, ins, values=[_value_text(v, shape, leaf_value)
                                                              for v in node.inputs])
            else:
                outs = node.op.infer_shape(node, ins)
        except NotImplementedError:
            outs = None
        for i, out in enumerate(node.outputs):
            shapes[out.id] = tuple(outs[i]) if outs is not None else None
    return shapes


def _value_text(var, shape, leaf_value=lambda var: None):
    """The value of an int scalar that a shape depends on, as a dim expression where it is a
    constant, an int scalar argument or a length (``x.shape[0]``), else a stand-in (a
    slice's bound ``index * 20``): the same variable gives the same text, so loops over a
    slice computed at run time still fuse. Stand-ins only key the fusion; they are never
    emitted."""
    from codegen.graph import Constant
    from codegen.ops.shape import ShapeOf
    if var.ndim != 0 or var.dtype[0] not in "iu":
        return None
    if isinstance(var, Constant):
        return str(int(var.data))
    if var.owner is None and leaf_value(var) is not None:  # an int scalar argument
        return leaf_value(var)
    if var.owner is not None and isinstance(var.owner.op, ShapeOf):
        dims = shape(var.owner.inputs[0])
        if dims is not None:
            return dims[var.owner.op.axis]
    if var.owner is not None and getattr(var.owner.op, "scalar_op_name", None) in (
            "minimum", "maximum"):  # of a value and itself (a square matrix's diagonal)
        a, b = (_value_text(v, shape, leaf_value) for v in var.owner.inputs)
        if a is not None and a == b:
            return a
    return f"@value{var.id}"


def unify_dims(nodes, shapes, declared, leaf_shape):
    """Dims the shape checks prove equal, merged so that fusion sees one loop shape.

    ``W1.T . delta`` has rows ``W1_n1`` and the hidden layer ``W0_n0``: a check makes them
    equal before any kernel runs, so loops over either are the same loop. Returns the function
    mapping a symbolic shape to its canonical form (each dim replaced by the earliest
    ``declared`` dim it equals) and the checks that make the merges sound, as
    ``(lhs, rhs, message, node)``, to be emitted with the others.
    """
    order = {d: k for k, d in enumerate(declared)}
    parent = {d: d for d in order}
    merges = []

    def find(d):
        while parent[d] != d:
            parent[d] = parent[parent[d]]
            d = parent[d]
        return d

    for node in nodes:
        if not hasattr(node.op, "shape_checks"):
            continue
        ins = [shapes.get(v.id) if v.owner is not None else leaf_shape(v) for v in node.inputs]
        if any(s is None for s in ins):
            continue
        for lhs, rhs, message in node.op.shape_checks(node, ins):
            if lhs in order and rhs in order and find(lhs) != find(rhs):
                a, b = sorted((find(lhs), find(rhs)), key=order.get)
                parent[b] = a
                merges.append((lhs, rhs, message, node))

    def canonical(shape):
        return None if shape is None else tuple(find(d) if d in parent else d for d in shape)
    return canonical, merges
