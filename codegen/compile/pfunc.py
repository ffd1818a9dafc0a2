"""Theano's ``theano.compile.pfunc``."""

from codegen.compile.function import function


def pfunc(params, outputs=None, mode=None, updates=None, givens=None,
          no_default_updates=False, accept_inplace=False, name=None, rebuild_strict=True,
          allow_input_downcast=None, profile=None, on_unused_input=None, output_keys=None):
    """Theano's ``theano.compile.pfunc.pfunc``: ``function`` of ``params`` (variables, In or
    Param)."""
    return function(params, outputs, mode=mode, updates=updates, givens=givens,
                    no_default_updates=no_default_updates, name=name,
                    allow_input_downcast=allow_input_downcast, profile=profile,
                    on_unused_input=on_unused_input or "raise")
