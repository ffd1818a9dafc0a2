"""``codegen.sandbox``: the parts of Theano's ``theano.sandbox`` that programs use."""
