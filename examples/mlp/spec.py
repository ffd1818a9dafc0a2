"""Build spec for the tutorial MLP: `codegen build examples/mlp/spec.py --out generated/`.

Defines module `mlp` with train (one momentum step, returns the cost), predict and cost.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from model import build_mlp, gradient_updates_momentum, make_data  # noqa: E402

import codegen  # noqa: E402
import codegen.tensor as T  # noqa: E402

X, _ = make_data()
mlp = build_mlp(X)
mlp_input = T.matrix('mlp_input')
mlp_target = T.vector('mlp_target')
cost = mlp.squared_error(mlp_input, mlp_target)

module = codegen.Module('mlp')
module.add_function('train', [mlp_input, mlp_target], cost,
                    updates=gradient_updates_momentum(cost, mlp.params, 0.01, 0.9))
module.add_function('predict', [mlp_input], mlp.output(mlp_input))
module.add_function('cost', [mlp_input, mlp_target], cost)
