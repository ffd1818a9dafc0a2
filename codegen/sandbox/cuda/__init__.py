"""Theano's old GPU backend, ``theano.sandbox.cuda``, as Theano answers on a machine without
one: present, and not available.

codegen runs graphs on a GPU through its own CUDA backend (``config.device = 'cuda'``), not
through this module's GPU ops. Libraries that probe for it (Lasagne's cuDNN, corrmm and
cuda-convnet layers) find it unavailable and use their CPU layers, which codegen compiles
for either device.
"""

cuda_available = False
cuda_enabled = False


def use(device, *args, **kwargs):
    """Theano's ``theano.sandbox.cuda.use('gpu0')``: refused, naming codegen's way."""
    raise EnvironmentError(f"theano.sandbox.cuda.use({device!r}): codegen has no Theano GPU "
                           f"backend; set codegen.config.device = 'cuda' (or "
                           f"THEANO_FLAGS=device=cuda) to compile for CUDA")
