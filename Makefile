# Every target creates .venv on first use. Nothing is downloaded at run time: only pip, during install.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench chaos clean-data venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m devstack

# Three pytest-xdist workers on 2 cores (the tests wait on real servers: two workers left the cores a
# quarter idle), a file at a time (module fixtures such as a stack of real processes stay whole), in the
# order tests/conftest.py gives (the slowest files first); the ten slowest tests are printed at the end.
# `make test XDIST=` runs serially. README "Tests" says where the time goes.
XDIST ?= -n 3 --dist loadfile --no-loadscope-reorder
test: $(STAMP)
	@bash tests/dashboard/ensure_chromium.sh
	$(PY) -m pytest $(XDIST) --durations=10 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

SIZE ?= full
bench: $(STAMP)
	$(PY) -m bench --size $(SIZE)

DURATION ?= 300
chaos: $(STAMP)
	$(PY) -m bench.chaos --duration $(DURATION)

clean-data:
	rm -rf .devdata
