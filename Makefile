# fm-inspect — `make demo` runs the whole thing locally, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
LS_VENV := .venv-ls
PY := $(VENV)/bin/python
PIP_FLAGS ?= --disable-pip-version-check --progress-bar off
export MPLCONFIGDIR ?= $(CURDIR)/build/mpl
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: help check-locks lock chromium redis install screenshots demo test unit integration lint format docs docs-check bench bench-queue clean

help:
	@echo "make demo        local Label Studio + backend + sample project, pre-annotated"
	@echo "                 (IMAGES=<folder> adds your own photos to the project)"
	@echo "make test        install everything and run lint, the docs build, unit and integration tests"
	@echo "make unit        unit tests only"
	@echo "make integration tests against a real Label Studio"
	@echo "make lint        ruff check + format check;  make format  reformat"
	@echo "make docs        serve the documentation (docs/, mkdocs.yml) on http://127.0.0.1:8000"
	@echo "make docs-check  build the documentation with --strict (broken links fail)"
	@echo "make screenshots the docs' pictures, from the browser test against a real Label Studio"
	@echo "make lock        regenerate the lock files (requirements*.txt) from requirements*.in"
	@echo "make bench       every benchmark (prints tables); make bench-queue  against Label Studio"

# Every install comes from the locks (requirements*.txt, generated from requirements*.in by
# `make lock`): uv, itself pinned with hashes, syncs each venv to exactly what its lock says.
UV := $(VENV)/bin/uv
UV_SYNC := $(UV) pip sync --quiet --require-hashes --link-mode copy

check-locks:
	@$(PYTHON) .ci/locks.py check

# the installer first: the locked uv, by pip with its hashes checked
$(UV):
	$(PYTHON) -m venv $(VENV)
	$(PYTHON) .ci/locks.py pin uv > $(VENV)/uv-pin.txt
	$(VENV)/bin/pip install $(PIP_FLAGS) -q --require-hashes -r $(VENV)/uv-pin.txt

$(VENV)/.installed: requirements-dev.txt $(UV) | check-locks
	$(UV_SYNC) --python $(PY) requirements-dev.txt
	$(UV) pip check --quiet --python $(PY)
	touch $@

$(LS_VENV)/.installed: requirements-label-studio.txt $(UV) | check-locks
	$(PYTHON) -m venv $(LS_VENV)
	$(UV_SYNC) --python $(LS_VENV)/bin/python requirements-label-studio.txt
	touch $@

# regenerate every lock from its input (needs the registry); commit the .in and .txt together
lock: $(UV)
	$(PYTHON) .ci/locks.py compile --uv $(UV)

# a real redis-server for the RQ integration tests (they start their own on a free port)
redis:
	@if command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
	else echo "redis-server is missing: apt-get install redis-server (as root)" >&2; exit 1; fi

# Debian's chromium for the browser test (Playwright drives it; browser downloads fail here)
chromium:
	@if command -v chromium >/dev/null || [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "chromium is missing: apt-get install chromium (as root)" >&2; exit 1; fi

install: $(VENV)/.installed $(LS_VENV)/.installed redis chromium

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

docs-check: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir build/site

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

unit: $(VENV)/.installed
	$(PY) -m pytest -m "not integration" -q

integration: install
	$(PY) -m pytest tests/integration -q

test: check-locks install lint docs-check
	$(PY) -m pytest -q --timeout=900

# IMAGES=<folder>: your own photos are imported into the demo project beside the sample tasks
# the README/getting-started pictures: the browser test's screenshots of a real Label Studio
screenshots: install
	$(PY) -m pytest tests/integration/test_first_hour.py -q
	cp build/screenshots/first-hour-cold.png build/screenshots/first-hour-first-version.png docs/

demo: install
	$(PY) -m ml_backend.tools.demo $(if $(IMAGES),--images "$(IMAGES)")

# every benchmark command; each prints its table (bench-queue needs Label Studio: make bench-queue)
BENCHES := ml_backend:bench ml_backend:bench-training model_zoo:bench-cam \
	model_zoo:bench-clipseg model_zoo:bench-pretrain model_zoo:bench-acquisition \
	model_zoo:bench-interactive

bench: $(VENV)/.installed
	@set -e; for b in $(BENCHES); do \
		echo "==> python -m $${b%%:*} $${b#*:}"; $(PY) -m $${b%%:*} $${b#*:}; done

bench-queue: install
	$(PY) -m ml_backend bench-queue

clean:
	rm -rf build .pytest_cache .ruff_cache demo-data
