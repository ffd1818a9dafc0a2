"""The Theano tutorial (shared/seed), cell by cell, on codegen.

Run: python examples/tutorial.py [--mode FAST_COMPILE]
Every function is compiled to a Cython extension by default (mode FAST_RUN).
"""

import argparse
import sys

import numpy as np

import codegen as theano
import codegen.tensor as T


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", default="FAST_RUN", help="FAST_RUN (compiled) or FAST_COMPILE")
    args = parser.parse_args(argv)
    theano.config.mode = args.mode

    # -- Symbolic variables
    foo = T.scalar('foo')
    bar = foo**2
    print(type(bar))
    print(bar.type)
    print(theano.pp(bar))

    # -- Functions
    f = theano.function([foo], bar)
    print(f(3))
    print(bar.eval({foo: 3}))

    def square(x):
        return x**2
    bar = square(foo)
    print(bar.eval({foo: 3}))

    # -- theano.tensor
    A = T.matrix('A')
    x = T.vector('x')
    b = T.vector('b')
    y = T.dot(A, x) + b
    z = T.sum(A**2)
    b_default = np.array([0, 0], dtype=theano.config.floatX)
    linear_mix = theano.function([A, x, theano.Param(b, default=b_default)], [y, z])
    print(linear_mix(np.array([[1, 2, 3], [4, 5, 6]], dtype=theano.config.floatX),
                     np.array([1, 2, 3], dtype=theano.config.floatX),
                     np.array([4, 5], dtype=theano.config.floatX)))
    print(linear_mix(np.array([[1, 2, 3], [4, 5, 6]], dtype=theano.config.floatX),
                     np.array([1, 2, 3], dtype=theano.config.floatX)))

    # -- Shared variables
    shared_var = theano.shared(np.array([[1, 2], [3, 4]], dtype=theano.config.floatX))
    print(shared_var.type())
    shared_var.set_value(np.array([[3, 4], [2, 1]], dtype=theano.config.floatX))
    print(shared_var.get_value())
    shared_squared = shared_var**2
    function_1 = theano.function([], shared_squared)
    print(function_1())

    # -- updates
    subtract = T.matrix('subtract')
    function_2 = theano.function([subtract], shared_var,
                                 updates={shared_var: shared_var - subtract})
    print("shared_var before subtracting [[1, 1], [1, 1]] using function_2:")
    print(shared_var.get_value())
    function_2(np.array([[1, 1], [1, 1]], dtype=theano.config.floatX))
    print("shared_var after calling function_2:")
    print(shared_var.get_value())
    print("New output of function_1() (shared_var**2):")
    print(function_1())

    # -- Gradients
    bar_grad = T.grad(bar, foo)
    print(bar_grad.eval({foo: 10}))
    y_J = theano.gradient.jacobian(y, x)
    linear_mix_J = theano.function([A, x, b], y_J)
    print(linear_mix_J(np.array([[9, 8, 7], [4, 5, 6]], dtype=theano.config.floatX),
                       np.array([1, 2, 3], dtype=theano.config.floatX),
                       np.array([4, 5], dtype=theano.config.floatX)))

    # -- Debugging
    B = T.matrix('B')
    C = T.dot(A, B)
    try:
        C.eval({A: np.zeros((3, 4), dtype=theano.config.floatX),
                B: np.zeros((5, 6), dtype=theano.config.floatX)})
    except ValueError as exc:
        print(f"ValueError: {exc}")
    theano.config.compute_test_value = 'warn'
    A.tag.test_value = np.random.random((3, 4)).astype(theano.config.floatX)
    B.tag.test_value = np.random.random((5, 6)).astype(theano.config.floatX)
    try:
        C = T.dot(A, B)
    except ValueError as exc:
        print(f"ValueError: {exc}")
    theano.config.compute_test_value = 'off'

    num = T.scalar('num')
    den = T.scalar('den')
    divide = theano.function([num, den], num/den)
    print(divide(10, 2))
    print(divide(0, 0))
    divide = theano.function([num, den], num/den, mode='DebugMode')
    try:
        print(divide(0, 0))
    except FloatingPointError as exc:
        print(f"FloatingPointError: {exc}")

    # -- CPU vs GPU
    print(theano.config.device)
    print(theano.config.floatX)
    old_floatX = theano.config.floatX
    theano.config.floatX = 'float32'
    var = theano.shared(np.array([1.3, 2.4]))
    print(var.type())
    var = theano.shared(np.array([1.3, 2.4], dtype=theano.config.floatX))
    print(var.type())
    theano.config.floatX = old_floatX

    # -- Example: MLP (the classes live in examples/mlp/model.py, shared with the AOT spec)
    sys.path.insert(0, __file__.rsplit("/", 1)[0] + "/mlp")
    from model import MLP, gradient_updates_momentum, make_data
    X, labels = make_data()
    layer_sizes = [X.shape[0], X.shape[0]*2, 1]
    W_init, b_init, activations = [], [], []
    rng = np.random.RandomState(0)
    for n_input, n_output in zip(layer_sizes[:-1], layer_sizes[1:]):
        W_init.append(rng.randn(n_output, n_input))
        b_init.append(np.ones(n_output))
        activations.append(T.nnet.sigmoid)
    mlp = MLP(W_init, b_init, activations)
    mlp_input = T.matrix('mlp_input')
    mlp_target = T.vector('mlp_target')
    learning_rate = 0.01
    momentum = 0.9
    cost = mlp.squared_error(mlp_input, mlp_target)
    train = theano.function([mlp_input, mlp_target], cost,
                            updates=gradient_updates_momentum(cost, mlp.params, learning_rate,
                                                              momentum))
    mlp_output = theano.function([mlp_input], mlp.output(mlp_input))
    iteration = 0
    max_iteration = 20
    while iteration < max_iteration:
        current_cost = train(X, labels)
        current_output = mlp_output(X)
        accuracy = np.mean((current_output > .5) == labels)
        print('Cost: {:.3f}, Accuracy: {:.3f}'.format(float(current_cost), accuracy))
        iteration += 1


if __name__ == "__main__":
    main()
