"""The CUDA layer's host side: for each compiled function, the call the glue makes
(``cg_call_<f>``): it puts the arrays the steps read on the device, runs the step function,
and copies back what the call returns.

The state lives on the device: each state array has a device copy (a mirror) that stays
between calls, keyed by the host array it stands for. A call copies a state array to the
device only when its mirror is not of that host array (the first call, or after set_value
or load replaced it); new state is computed on the device and becomes the mirror of the host
array the glue gave for it, whose contents are then out of date until the glue asks for them
(``cg_sync_state``: get_value, state(), save), or a function returns that state.

Outputs come back to the host by default. Called with ``outputs='device'`` (the glue passes
``cg_device_out``), every array the call returns instead stays on the device, in memory of
its own that the caller takes over (``cg_device_free`` gives it back): a buffer the steps
compute is written there directly; returned state and arguments are copied there on the
device. ``cg_device_out[k]`` is then the address of the k-th returned array's memory, which
holds the elements its host array spans, from the lowest address (the glue's views of it keep
their offsets and strides).
"""

from dataclasses import dataclass

from codegen.backends import cexpr, ckernel, cstep
from codegen.backends.cuda.kernels import Strategy
from codegen.lower.program import DotStep, all_steps, view_root


def strategy(guard=None):
    """How steps become CUDA kernels; ``guard``: (nan_is_error, inf_is_error, big_is_error)
    of NanGuardMode, checked on the device after each step."""
    return Strategy(guard)


@dataclass
class Call:
    name: str
    head: list  # C lines of the definition's head
    prototype: list
    arrays: list  # {name, ctype, dims, copy_in, fill, copy_back, state, new_state, old,
    #                returned, buffer, out, arg, alias, slot}
    step_name: str
    device_args: list

    float_products: bool = False  # the call loads cuBLAS first
    # why the step cannot be replayed as a CUDA graph, or None when it can
    graph_why: str | None = None

    @property
    def returned(self):
        """The names of the arrays the call returns, in the order of ``cg_device_out``."""
        return [a["name"] for a in self.arrays if a["returned"]]

    def context(self):
        return {"call_head": self.head, "returned": self.returned, "call_prototype": self.prototype,
                "arrays": self.arrays, "step_name": self.step_name,
                "device_args": self.device_args, "float_products": self.float_products,
                "graph_args": [] if self.graph_why else self.device_args,
                "graph_why": self.graph_why}


def call_function(program, step, base, state_index):
    """The ``cg_call_<f>`` of ``program`` around its step function; ``base``: the arrays the
    glue passes, [(name, dtype, ndim)] (their host pointers and strides); ``state_index``:
    the module's position of each state array (its mirror)."""
    root = view_root(program)
    returned = {root(r.name) for r in program.outputs if hasattr(r, "dims")}
    # the steps write these before they read them: nothing to copy in
    unset = {b.ref.name for b in program.buffers if b.fill is None}
    # these start from a value (a scatter's zeros, a reduction's identity): filled on the
    # device, not copied there from the glue's filled host array
    fills = {b.ref.name: b.fill for b in program.buffers if b.fill is not None}
    state_of = {s.local: state_index[s.name] for s in program.state}
    new_state_of = {ref.name: state_index[name] for name, ref in program.updates}
    local_of = {state_index[s.name]: s.local for s in program.state}
    arg_index = {a.name: k for k, a in enumerate(program.args)}
    buffers = {b.ref.name for b in program.buffers}
    arrays, device_args = [], []
    passed = {name for name, _, _ in base}
    for name, dtype, ndim in base:
        out = sum(a["returned"] for a in arrays) if name in returned else None
        arrays.append({"name": name, "ctype": cexpr.CTYPES[dtype],
                       "dims": list(cstep._dims_of(program, name)),
                       "copy_in": name not in unset and name not in fills,
                       "fill": cexpr.literal(fills[name], dtype) if name in fills else None,
                       "copy_back": name in returned,
                       "state": state_of.get(name), "new_state": new_state_of.get(name),
                       # the old value of the state this one replaces, when it is passed too
                       # (an int scalar the steps read as a value is not)
                       "old": (local_of.get(new_state_of.get(name))
                               if local_of.get(new_state_of.get(name)) in passed else None),
                       "returned": name in returned,
                       "out": out,  # its place in cg_device_out
                       # computed by the steps (not state, an argument or a constant)
                       "buffer": name in buffers and name not in new_state_of,
                       # bit of cg_on_device saying the glue passed device memory
                       "arg": arg_index.get(name) if arg_index.get(name, 64) < 64 else None,
                       # a view the glue made of another array passed (a reshape that is
                       # returned, and read by a later step): the same device memory
                       "alias": (root(name) if root(name) != name and root(name) in passed
                                 else None)})
    for slot, a in enumerate(arrays):
        a["slot"] = slot  # its device memory where the call reserves it: cg_slots_<f>[slot]
    for d, _, _ in program.dims:
        device_args.append(d)
    for name, dtype, ndim in base:
        ctype = cexpr.CTYPES[dtype]
        device_args.append(f"({ctype}*){name}_device - {name}_lo")
        device_args += [f"{name}_s{k}" for k in range(ndim)]
    if step.profiled is not None:
        device_args.append("cg_prof")  # on the host: the step function times its launches
    name = f"cg_call_{program.name}"
    params = step.params + ["unsigned long long cg_on_device",
                            "unsigned long long* cg_device_out"]
    head = ckernel._signature('extern "C" int', name, params, " {")
    floats = any(isinstance(s, DotStep) and s.out.dtype in ("float32", "float64")
                 for s in all_steps(program.steps))
    return Call(name, head, ckernel._signature("int", name, params, ";"), arrays,
                step.name, device_args, floats, _not_replayable(step))


def _not_replayable(step):
    """Why the step function cannot be captured into a CUDA graph and replayed (a value read
    back from the device between its launches decides what runs next), or None."""
    kinds = {failure[2] for failure in step.failures}
    if step.profiled is not None:
        return "profile=True waits for each step's launches to time it"
    if "float" in kinds:
        return "NanGuardMode checks each kernel's outputs on the host"
    if "index" in kinds:
        return "its index checks are read back after a gather or scatter"
    if kinds & {"assert", "value"}:
        return "an Assert's condition is read back to decide whether the call goes on"
    if any("cg_device_true(" in line for line in step.lines):
        return "an ifelse's condition is read back to choose the launches"
    if any("cg_device_true(" in line for lines in step.kernels for line in lines):
        return "a condition (an ifelse's, a loop's until) is read back within a loop"
    return None
