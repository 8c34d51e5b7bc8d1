# geoperc: the two commands a newcomer needs are `make demo` and `make test`; both install first.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install demo test test-fast bench clean

install:
	@bash tools/install.sh

demo: install
	$(PY) tools/demo.py

test: install
	$(PY) -m pytest -q $(PYTEST_ARGS) tests

test-fast: install
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS) tests

bench: install
	$(PY) bench/tiled_inference.py --quick
	$(PY) bench/change_models.py

clean:
	rm -rf work_dirs demo_output .pytest_cache
