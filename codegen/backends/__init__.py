"""Backends: ``numpy`` (reference interpreter), ``cython`` (CPU), ``cuda`` (GPU)."""
