# Two entry points for a fresh machine with only python3, pip and make:
#   make run   -> set up .venv from uv.lock, then run the default job (offline simulator)
#   make test  -> same set-up, then the whole test suite
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
# Tests are isolated (own dirs, caches, ports), so they run one worker per core (pytest-xdist).
PYTEST_ARGS ?= -n auto

.PHONY: setup run test bench report clean

# uv is installed into a private tools venv so nothing global is touched.
$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# Re-sync only when the lock file or project metadata changed. --compile-bytecode: uv, unlike pip,
# writes no .pyc by default, and where PYTHONDONTWRITEBYTECODE is set nothing writes them later, so
# every interpreter start (each run.py job, each test worker) would compile ~1,200 modules again (~1 s).
$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $@

# The project's own modules (an editable install, which uv does not compile); only changed files are
# compiled again.
setup: $(VENV)/.synced
	$(PY) -m compileall -q src > /dev/null

run: setup
	$(PY) run.py $(ARGS)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) scripts/bench.py $(ARGS)

report: setup
	$(PY) scripts/report.py $(ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache
