"""FunctionGraph: what one compiled function computes.

Explicit inputs, the shared variables it reads, its outputs and its updates (shared variable,
new value), all over one graph. Rewrites map a FunctionGraph to an equivalent one, and
lowering turns one into a kernel program.
"""

from codegen.graph.basic import Constant, SharedVariable, graph_inputs


class FunctionGraph:
    def __init__(self, inputs, outputs, updates=(), name=None):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.updates = list(updates)  # [(SharedVariable, Variable)]
        self.name = name
        leaves = graph_inputs(self.all_outputs)
        self.shared = [v for v in leaves if isinstance(v, SharedVariable)]
        for var, _ in self.updates:
            if all(var is not s for s in self.shared):
                self.shared.append(var)
        given = {v.id for v in self.inputs}
        self.missing = [v for v in leaves if not isinstance(v, (Constant, SharedVariable))
                        and v.id not in given]

    @property
    def all_outputs(self):
        return self.outputs + [value for _, value in self.updates]

    def replace_outputs(self, new_all_outputs):
        """A FunctionGraph with the same signature and rewritten output graphs."""
        n = len(self.outputs)
        updates = [(var, new) for (var, _), new in zip(self.updates, new_all_outputs[n:])]
        return FunctionGraph(self.inputs, new_all_outputs[:n], updates, self.name)
