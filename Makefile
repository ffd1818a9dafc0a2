PY ?= python

.PHONY: setup mlp test tutorial bench fuzz reliability lasagne keras gpu-check clean

# the tests of data-parallel training and Dask inference need the mpi and dask extras
setup:
	$(PY) -m pip install -q -e '.[test,examples,mpi,dask]'

mlp: setup
	$(MAKE) -C examples/mlp train predict PY=$(PY)

tutorial:
	$(PY) examples/tutorial.py

bench:
	$(PY) -m pip install -q -e '.[bench,examples]'
	$(PY) benchmarks/run.py

test:
	$(PY) -m pytest -q

# 10,000 random graphs compiled and compared with the numpy reference (about 10 minutes);
# BACKEND=cuda: built for CUDA and run on the emulation (GRAPHS=1000 is about 5 minutes);
# SANITIZE=address: the emulated kernels under AddressSanitizer (about three times slower);
# LARGE=1: arrays of up to 300,007 elements (their lengths cross the kernels' strategy sizes)
SANITIZED = $(if $(SANITIZE),CODEGEN_CUDA_SANITIZE=address ASAN_OPTIONS=detect_leaks=0 \
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so)")
fuzz:
	$(SANITIZED) $(PY) tests/fuzz.py --graphs $(or $(GRAPHS),10000) $(if $(BACKEND),--backend $(BACKEND)) $(if $(LARGE),--large)

# the reliability figures as one table (fuzzing, bad input, threads, build races, damaged
# caches, memory; about 12 minutes); QUICK=1 runs a small share of each
reliability:
	$(PY) tests/reliability.py $(if $(QUICK),--quick)

# Lasagne 0.1's own test suite on codegen, its source release fetched from PyPI (about a
# minute; the setup target installs Lasagne)
lasagne:
	$(PY) -m pip install -q mock
	$(PY) tests/lasagne_suite.py

# Keras 2.3.1's own test suite on its Theano backend, on codegen (its source release fetched
# from PyPI; about three minutes): the packages its tests import, then the suite
keras:
	$(PY) -m pip install -q keras_applications keras_preprocessing h5py pyyaml six flaky \
		pandas pillow requests pytest-timeout
	$(PY) tests/keras_suite.py

# on the GPU machine (make gpu-check PY=python3): the CUDA tests on the device, the MLP on
# CUDA against the CPU, W2-W4 against PyTorch on the card; writes benchmarks/results/gpu.md
# (at most 8 minutes; GPU_CHECK_ARGS="--out FILE" writes elsewhere)
gpu-check:
	PYTHONPATH=$(CURDIR) $(PY) benchmarks/gpu_check.py $(GPU_CHECK_ARGS)

clean:
	$(MAKE) -C examples/mlp clean
