"""Graph rewrites: small passes mapping output variables to equivalent, smaller graphs.

Every pass is a function ``outputs -> outputs``. Local passes are written as a function of one
node returning a replacement variable (or None) and run by ``apply_local``, which rebuilds the
graph bottom-up, keeps each rebuilt node's provenance, and refuses replacements that would
change a variable's type.
"""

from codegen.rewrite.passes import (
    canonicalize,
    constant_fold,
    cse,
    expand_valued,
    remove_zero_grad,
    simplify,
)
from codegen.rewrite.scan import bound_until, merge_scans, scan_save_memory
from codegen.rewrite.walker import apply_local


def optimize(outputs):
    """The full pipeline used before lowering: build the ops whose lengths depend on the
    values from compiled ops, simplify, drop zero_grad, merge duplicates (and loops one of
    which computes the other's outputs), keep only the loop history that is read, run a loop
    that ends on a condition for its n_steps (cut to the steps done after)."""
    outputs = simplify(expand_valued(outputs))
    outputs = remove_zero_grad(outputs)
    outputs = simplify(outputs)
    return bound_until(scan_save_memory(merge_scans(cse(outputs))))


def optimize_fgraph(fgraph):
    return fgraph.replace_outputs(optimize(fgraph.all_outputs))


__all__ = ["apply_local", "bound_until", "canonicalize", "constant_fold", "cse", "expand_valued",
           "optimize", "optimize_fgraph", "merge_scans", "remove_zero_grad", "scan_save_memory",
           "simplify"]
