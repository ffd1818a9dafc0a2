"""Theano's ``theano.configparser``: the configuration object and ``change_flags``."""

from codegen.config import config

change_flags = config.change_flags

__all__ = ["change_flags", "config"]
