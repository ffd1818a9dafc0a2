"""``theano.sandbox.cuda.dnn``: cuDNN through Theano's old GPU backend, which codegen does
not have (see ``codegen.sandbox.cuda``)."""


def dnn_available():
    """False, as Theano says without a GPU; the reason is ``dnn_available.msg``."""
    return False


dnn_available.msg = ("codegen has no Theano GPU backend; its own CUDA backend "
                     "(config.device = 'cuda') compiles convolutions without cuDNN")
