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

test: $(STAMP)
	@bash tests/dashboard/ensure_chromium.sh
	$(PY) -m pytest $(PYTEST_ARGS)

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
