"""A module of the Python target, rendered by the Cython backend: ``<name>.pyx`` (the glue),
``<name>_kernels.c`` and ``<name>_kernels.h`` (the C layer)."""

import hashlib
import pprint
import re

import codegen
from codegen.backends import cexpr, ckernel
from codegen.backends.cython import render
from codegen.lower.module import lower_module
from codegen.lower.program import DotStep, all_steps


def assemble(module_name, specs, debug=False, spec_path="<interactive>", flags=(),
             regenerate=None, device="cpu"):
    """({file name: text}, {state name: initial array}, programs) of a module of ``specs``;
    ``device``: the C layer under the glue, the CPU's or CUDA's (codegen.backends.cuda)."""
    lowered = lower_module(specs)
    programs, state_spec, initial = lowered.programs, lowered.state_spec, lowered.initial
    state_index = {name: i for i, name in enumerate(sorted(state_spec))}
    functions = []
    for spec, program, doc in zip(lowered.specs, programs, lowered.docs):
        ctx = render.function_context(program, debug, device, state_index, spec.profile)
        ctx["doc"] = doc
        ctx["single"] = spec.single
        ctx["allow_downcast"] = repr(spec.allow_downcast)
        ctx["updated"] = [name for name, _ in program.updates]
        ctx["for_function"] = spec.for_function and device != "cuda"
        ctx["part_of"] = spec.part_of  # called by that function only: no def of its own
        ctx["caller"] = spec.part_of or spec.name  # what argument errors name
        # where each update's state is among the function's own (its containers, in order)
        ctx["update_positions"] = [[s.name for s in program.state].index(name)
                                   for name, _ in program.updates]
        functions.append(ctx)
    for ctx, program in zip(functions, programs):
        ctx["state_positions"] = ", ".join(f"{state_index[s.name]} {s.name}"
                                           for s in program.state)
    chains = [chain_context(chain, programs, state_index, device) for chain in lowered.chains]
    product_types = sorted({step.out.dtype for program in programs
                            for step in all_steps(program.steps)
                            if isinstance(step, DotStep)})
    accumulating = sorted({step.out.dtype for program in programs
                            for step in all_steps(program.steps)
                           if isinstance(step, DotStep) and step.accumulate})
    if device == "cuda":
        from codegen.backends.cuda.kernels import products
        product_code, prototypes, declarations = products(product_types, accumulating), [], []
    else:
        product_code = ckernel.product_code(product_types, accumulating)
        prototypes, declarations = ckernel.product_declarations(product_types, accumulating)
    graph_hash = hashlib.sha256("\n".join([p.describe() for p in programs]
                                          + [repr(c) for c in chains]).encode()).hexdigest()
    metadata = {"generator": f"codegen {codegen.__version__}", "graph_hash": graph_hash[:16],
                "backend": "cuda" if device == "cuda" else "cython", "flags": list(flags),
                "debug": debug,
                "signature": {f["name"]: f["doc"].split("\n")[0]
                              for f in functions + chains if not f.get("part_of")}}
    ctx = {"module_name": module_name, "version": codegen.__version__, "spec": spec_path,
           "graph_hash": graph_hash[:16], "flags": " ".join(flags) or "default",
           "regenerate": regenerate or f"codegen build {spec_path}",
           "metadata": pprint.pformat(metadata, sort_dicts=True, width=96),
           "state_spec": repr({k: (d, bc) for k, (d, bc) in sorted(state_spec.items())}),
           "state_file": f"{module_name}_state.npz", "functions": functions,
           "chains": chains,
           "state": [{"name": n} for n in sorted(state_spec)],
           "state_index": state_index,
           "c_helpers": cexpr.helpers(programs),
           "simd_math": ckernel.SIMD_MATH,
           "product_code": product_code, "device": device,
           "product_prototypes": prototypes, "product_declarations": declarations,
           "debug": "True" if debug else "False"}
    return render.render_module(ctx), initial, programs


def chain_context(chain, programs, state_index, device):
    """What the template needs of a function computed in parts (``lower.module.Chain``):
    each part's call, its state by position in the module's."""
    by_name = {p.name: p for p in programs}
    cuda = device == "cuda"

    def host(expr):  # a part's output brought to the host where it is on the device
        return re.sub(r"_p\d+\[\d+\]", lambda m: f"_host({m.group()})", expr) if cuda \
            else expr

    calls = []
    for k, (part, arguments) in enumerate(chain.calls):
        program = by_name[part]
        given_state = [f"_s{chain.state.index(s.name)}" for s in program.state]
        if cuda:  # arrays stay on the device between parts; a length, or an array the part
            # returns as it is, comes to the host
            returned = {r.name for r in program.outputs if hasattr(r, "dims")}
            arguments = [host(expr) if not a.broadcastable or a.name in returned else expr
                         for expr, a in zip(arguments, program.args)]
        calls.append({"target": f"_p{k}", "function": part,
                      "given": ", ".join(given_state + arguments + ["_allow_downcast", "None"]
                                         + (["True"] if cuda else []))})
    return {"name": chain.name, "doc": chain.doc, "args": chain.args, "single": chain.single,
            "calls": calls, "outputs": [host(e) for e in chain.outputs],
            "device_outputs": chain.outputs,
            "given_state": len(chain.state), "parts": [part for part, _ in chain.calls],
            # the module's function: its state by position, its allow_downcast
            "state": "".join(f"_values[{state_index[name]}], " for name in chain.state),
            "allow_downcast": repr(chain.allow_downcast),
            "updates": [(state_index[name], name, host(expr))
                        for name, expr in chain.updates]}
