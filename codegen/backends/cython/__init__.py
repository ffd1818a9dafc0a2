"""The Cython backend: renders kernel programs to a .pyx (templates/cython) and builds it."""
