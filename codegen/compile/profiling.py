"""Where a function's time goes: ``codegen.function(..., profile=True)`` (Theano's
ProfileStats).

A profiled function counts its calls and their time. Compiled, its module's step function
also reads a clock around each step it runs (a fused elementwise kernel, a reduction, a
product, a gather, a loop) and adds the time to that step's slot; on CUDA it first waits for
the step's launches, so the times are the device's, and the step is not replayed as a CUDA
graph. In the numpy reference interpreter (FAST_COMPILE), each node is timed.

>>> import codegen, codegen.tensor as T
>>> x = T.vector('x')
>>> f = codegen.function([x], T.exp(x).sum(), profile=True, mode='FAST_COMPILE')
>>> _ = f([1.0, 2.0])
>>> f.profile.fct_callcount
1
>>> f.profile.summary()                      # doctest: +SKIP

With ``config.profile = True`` (``THEANO_FLAGS=profile=True``) every function is profiled, and
each profile that has calls prints its summary when the program exits, as Theano does.
"""

import atexit
import sys

#: the profiles that print their summary at exit (``atexit_print``)
_AT_EXIT = []


class _Record:
    """One function's part of a profile."""

    def __init__(self, name, backend, compile_time, steps):
        self.name, self.backend, self.compile_time = name, backend, compile_time
        self.calls, self.call_time = 0, 0.0
        self._steps = steps  # () -> [(kind, id, expression, where, seconds, runs)]

    def steps(self):
        return self._steps()


class ProfileStats:
    """The calls and step times of the functions compiled with it (``profile=`` an instance
    shares one among several functions; ``profile=True`` makes one per function).

    Theano's attributes: ``fct_callcount``, ``fct_call_time``, ``compile_time``,
    ``apply_time`` and ``apply_callcount`` (by step: ``'<id>: <expression>'``; a step is a
    fused kernel or a product here, where Theano's are single nodes)."""

    def __init__(self, atexit_print=True, flag_time_thunks=None, message=None, **kwargs):
        self.message = message
        self.atexit_print = atexit_print
        self._records = []
        if atexit_print:
            if not _AT_EXIT:
                atexit.register(_print_at_exit)
            _AT_EXIT.append(self)

    def _add(self, name, backend, compile_time, steps):
        record = _Record(name, backend, compile_time, steps)
        self._records.append(record)
        return record

    @property
    def fct_callcount(self):
        return sum(r.calls for r in self._records)

    @property
    def fct_call_time(self):
        return sum(r.call_time for r in self._records)

    @property
    def compile_time(self):
        return sum(r.compile_time for r in self._records)

    def _all_steps(self):
        return [s for r in self._records for s in r.steps()]

    @property
    def apply_time(self):
        return {f"{ident}: {text}": seconds for _, ident, text, _, seconds, _ in
                self._all_steps()}

    @property
    def apply_callcount(self):
        return {f"{ident}: {text}": runs for _, ident, text, _, _, runs in self._all_steps()}

    def summary(self, file=None, n_ops_to_print=20, n_apply_to_print=20):
        """Print the profile: calls and their time, then the time by kind of step (kernels,
        reductions, products, ...), then the steps that took longest, each with the
        expression it computes and the line of the user's code that built it (to ``file``,
        standard error by default)."""
        (file or sys.stderr).write(self.summary_text(n_ops_to_print, n_apply_to_print))

    def summary_text(self, n_ops_to_print=20, n_apply_to_print=20):
        lines = []
        for r in self._records:
            lines += _function_summary(r, self.message, n_ops_to_print, n_apply_to_print)
        if not self._records:
            lines = ["Function profiling", "==================",
                     f"  Message: {self.message}", "  No function was compiled with it.", ""]
        return "\n".join(lines) + "\n"


def _function_summary(record, message, n_kinds, n_steps):
    steps = record.steps()
    in_steps = sum(s[4] for s in steps)
    share = f" ({100 * in_steps / record.call_time:.1f}%)" if record.call_time else ""
    lines = ["Function profiling", "==================",
             f"  Message: {message or record.name}",
             f"  Time in {record.calls} calls to Function.__call__: {record.call_time:e}s",
             f"  Time in its steps: {in_steps:e}s{share}",
             f"  Compile time: {record.compile_time:.3f}s",
             f"  Backend: {record.backend}", ""]
    if not steps:
        lines += ["  (no step was timed: a checking mode on the CPU runs its steps from the "
                  "glue, untimed)", ""]
        return lines
    total = in_steps or 1.0
    kinds = {}
    for kind, _, _, _, seconds, runs in steps:
        entry = kinds.setdefault(kind, [0.0, 0, 0])
        entry[0] += seconds
        entry[1] += runs
        entry[2] += 1
    lines += ["Kinds", "-----", "  <% time> <sum %> <time> <time per call> <#call> <#steps> "
              "<kind>"]
    cumulative = 0.0
    for kind, (seconds, runs, count) in sorted(kinds.items(), key=lambda kv: -kv[1][0])[
            :n_kinds]:
        cumulative += seconds
        lines.append(f"  {100 * seconds / total:6.1f}%  {100 * cumulative / total:6.1f}%  "
                     f"{seconds:.3e}s  {seconds / max(runs, 1):.3e}s  {runs:6d}  {count:4d}  "
                     f"{kind}")
    lines += ["", "Steps", "-----", "  <% time> <sum %> <time> <time per call> <#call> <id> "
              "<expression> [<where>]"]
    cumulative = 0.0
    ranked = sorted(steps, key=lambda s: -s[4])
    for kind, ident, text, where, seconds, runs in ranked[:n_steps]:
        cumulative += seconds
        at = f" [{where}]" if where else ""
        lines.append(f"  {100 * seconds / total:6.1f}%  {100 * cumulative / total:6.1f}%  "
                     f"{seconds:.3e}s  {seconds / max(runs, 1):.3e}s  {runs:6d}  {ident}  "
                     f"{text}{at}")
    if len(ranked) > n_steps:
        lines.append(f"  ... and {len(ranked) - n_steps} more steps "
                     f"({100 * sum(s[4] for s in ranked[n_steps:]) / total:.1f}% of the time)")
    lines.append("")
    return lines


def _print_at_exit():
    for stats in _AT_EXIT:
        if stats.atexit_print and stats.fct_callcount:
            stats.summary()


def as_profile(profile, name):
    """The ProfileStats a function records into: ``profile`` True (a new one), a string (a
    new one with that message), a ProfileStats (shared), or None/False (one when
    ``config.profile`` is set, else none)."""
    from codegen.config import config
    if profile is None or profile is False:
        if not config.profile:
            return None
        profile = True
    if profile is True:
        return ProfileStats(message=name)
    if isinstance(profile, str):
        return ProfileStats(message=profile)
    if isinstance(profile, ProfileStats):
        return profile
    raise TypeError(f"function: profile must be True, False, a message or a ProfileStats, got "
                    f"{profile!r}")


def compiled_steps(module, fname):
    """() -> the steps of ``fname`` in ``module`` with their seconds and runs so far."""
    described = getattr(module, f"_PROFILE_STEPS_{fname}", None)
    if described is None:
        return list
    slots = getattr(module, f"_PROFILE_{fname}")
    return lambda: [(kind, ident, text, where, float(slots[k, 0]), int(slots[k, 1]))
                    for k, (kind, ident, text, where) in enumerate(described)]


class NodeTimes:
    """The reference interpreter's times of each node (``backends.numpy.run``'s ``timed``)."""

    def __init__(self):
        self.times = {}  # node -> [seconds, runs]

    def add(self, node, seconds):
        entry = self.times.setdefault(node, [0.0, 0])
        entry[0] += seconds
        entry[1] += 1

    def steps(self):
        from codegen.lower.lowering import origin_of
        out = []
        for k, (node, (seconds, runs)) in enumerate(self.times.items()):
            origin = origin_of(node)
            out.append((node.op.short_name(), f"node{k}", origin.text, origin.where, seconds,
                        runs))
        return out

