"""Symbolic shapes before lowering, and the dims that shape checks prove equal."""


def symbolic_shapes(nodes, leaf_shape):
    """Shape expressions of every node output (None: unknown), from ``leaf_shape(var)`` of
    the graph's inputs and each op's ``infer_shape``."""
    shapes = {}

    def shape(var):
        return shapes[var.id] if var.id in shapes else leaf_shape(var)

    for node in nodes:
        ins = [shape(v) for v in node.inputs]
        try:
            outs = node.op.infer_shape(node, ins) if None not in ins else None
        except NotImplementedError:
            outs = None
        for i, out in enumerate(node.outputs):
            shapes[out.id] = tuple(outs[i]) if outs is not None else None
    return shapes


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
