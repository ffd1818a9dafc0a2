PY ?= python

.PHONY: setup mlp test tutorial clean

setup:
	$(PY) -m pip install -q -e '.[test,examples]'

mlp: setup
	$(MAKE) -C examples/mlp train predict PY=$(PY)

tutorial:
	$(PY) examples/tutorial.py

test:
	$(PY) -m pytest -q

clean:
	$(MAKE) -C examples/mlp clean
