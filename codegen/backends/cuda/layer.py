"""The CUDA layer's host side: for each compiled function, the call the glue makes
(``cg_call_<f>``), which puts the arrays on the device, runs the step function and copies
back what the step wrote.

This first version moves every array of a call (the state included) to the device and back
at each call; keeping the state and the workspace on the device is the next step.
"""

from dataclasses import dataclass

from codegen.backends import cexpr, ckernel, cstep
from codegen.backends.cuda.kernels import Strategy
from codegen.lower.program import view_root, writes


def strategy():
    return Strategy()


@dataclass
class Call:
    name: str
    head: list  # C lines of the definition's head
    prototype: list
    arrays: list  # {name, ctype, dims, written}
    step_name: str
    device_args: list

    def context(self):
        return {"call_head": self.head, "call_prototype": self.prototype,
                "arrays": self.arrays, "step_name": self.step_name,
                "device_args": self.device_args}


def call_function(program, step, base):
    """The ``cg_call_<f>`` of ``program`` around its step function; ``base``: the arrays the
    glue passes, [(name, dtype, ndim)] (their host pointers and strides)."""
    root = view_root(program)
    written = {root(name) for s in program.steps for name in writes(s)}
    arrays, device_args = [], []
    by_name = {}
    for name, dtype, ndim in base:
        dims = cstep._dims_of(program, name)
        by_name[name] = {"name": name, "ctype": cexpr.CTYPES[dtype], "dims": list(dims),
                         "written": name in written}
        arrays.append(by_name[name])
    for d, _, _ in program.dims:
        device_args.append(d)
    for name, dtype, ndim in base:
        ctype = cexpr.CTYPES[dtype]
        device_args.append(f"({ctype}*){name}_device - {name}_lo")
        device_args += [f"{name}_s{k}" for k in range(ndim)]
    name = f"cg_call_{program.name}"
    head = ckernel._signature('extern "C" int', name, step.params, " {")
    return Call(name, head, ckernel._signature("int", name, step.params, ";"), arrays,
                step.name, device_args)
