PY ?= python

.PHONY: setup mlp test tutorial bench clean

setup:
	$(PY) -m pip install -q -e '.[test,examples]'

mlp: setup
	$(MAKE) -C examples/mlp train predict PY=$(PY)

tutorial:
	$(PY) examples/tutorial.py

bench:
	$(PY) -m pip install -q -e '.[bench,examples]'
	$(PY) benchmarks/run.py

test:
	$(PY) -m pytest -q

clean:
	$(MAKE) -C examples/mlp clean
