# Two commands do everything on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEB_PACKAGES := tesseract-ocr tesseract-ocr-nld tesseract-ocr-eng libzbar0 poppler-utils qpdf fonts-dejavu-core postgresql dovecot-imapd chromium
STAMP := $(VENV)/.installed

.PHONY: setup system-packages run test lint bench bench-web clean

setup: system-packages $(STAMP)

# Install the Debian packages only when one is missing (CI starts from a clean clone).
system-packages:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: setup
	$(BIN)/dossier init
	$(BIN)/dossier watch

# The layers of DESIGN.md §2 (import-linter contracts in pyproject.toml) and the code style.
lint: setup
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -q

# Throughput benchmark (issue 5): OCRmyPDF and the profiler are bench-only dependencies. With
# --output-type pdf and pypdfium2 as rasterizer, OCRmyPDF needs no Ghostscript. BENCH_ARGS passes
# options, e.g. `make bench BENCH_ARGS="--pages 60"` or `make bench BENCH_ARGS=--memory`.
bench: setup
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Web app benchmark (issue 10): 2,000 dossiers x 10 documents, then p50/p95 of login, dossier
# page, first page image of a 20-page document and search against a real `dossier web`.
bench-web: setup
	$(BIN)/python bench/web.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
