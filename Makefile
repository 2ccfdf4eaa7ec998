# zenopt — the two-command quick start is `make run` then `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.zenopt-installed
RUN_OUT ?= runs/default

.PHONY: install run test lint docs chromium valgrind tensorflow bench clean

install: $(STAMP)

# Idempotent: re-runs only when the venv is missing or pyproject.toml changed.
# torch goes first, pinned to the CPU build, so nothing later can pull a CUDA build.
# pip byte-compiles on one core; compileall does it on all of them, and skips the packages' own
# test suites, which nothing imports (measured here from a fresh clone: 150 s before, 114 s). Like
# pip, it passes over the few files that are not Python 3.11 on purpose (torch's helpers for
# newer Pythons), hence the `|| true`.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile torch==2.13.0
	$(BIN)/python -m pip install --quiet --no-compile -e '.[dev]'
	$(BIN)/python -m compileall -q -j 0 -x '/tests?/' $(VENV)/lib >/dev/null || true
	touch $(STAMP)

# The optional extra zenopt[tensorflow] (Keras models): installed for the tests, not by
# `make run`. Its packages are byte-compiled once, on every core (5 s here): with
# PYTHONDONTWRITEBYTECODE set, as CI sets it, each Keras child process would otherwise compile
# TensorFlow's sources again (8.6 s to import Keras without, 4.3 s with; the suite starts ~25).
TF_STAMP := $(VENV)/.zenopt-tensorflow
tensorflow: $(TF_STAMP)

$(TF_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet --no-compile -e '.[tensorflow]'
	site=$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') && \
		$(BIN)/python -m compileall -q -j 0 $$site/tensorflow $$site/keras $$site/tf2onnx \
		> /dev/null
	touch $(TF_STAMP)

run: install
	$(BIN)/zenopt run --config examples/digits.yaml --out $(RUN_OUT) --overwrite

lint: install
	$(BIN)/ruff check src tests benchmarks examples docs
	$(BIN)/ruff format --check src tests benchmarks examples docs
	$(BIN)/mypy

# The docs site, into site/ (not committed): the CLI, configuration and manifest references are
# generated from the code as it builds (docs/hooks.py); a broken link or anchor fails it.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The report tests (tests/browser) open report.html in the system Chromium; Playwright's own
# browser downloads are never used. Instant when Chromium is there; else apt-get (as root).
chromium:
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || { \
	  echo "Chromium is missing: installing it with apt-get for the report tests (tests/browser)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	    && command -v chromium >/dev/null 2>&1 \
	    || { echo "error: could not install Chromium; as root run 'apt-get install chromium'," \
	      "then make test again" >&2; exit 1; }; \
	}

# The instruction-count tests (analysis.instructions, zenopt profile --instructions) run
# Valgrind's callgrind; the trace tests compile a collector with the system C compiler.
# Instant when valgrind is there; else apt-get (as root), as for Chromium.
valgrind:
	@command -v valgrind >/dev/null 2>&1 || { \
	  echo "valgrind is missing: installing it with apt-get for the instruction-count tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; } \
	    && command -v valgrind >/dev/null 2>&1 \
	    || { echo "error: could not install valgrind; as root run 'apt-get install valgrind'," \
	      "then make test again" >&2; exit 1; }; \
	}

# Two workers, one torch thread each (tests/conftest.py): the suite's single-threaded half
# (ONNX export tracing, report rendering, process start-up) then uses both cores.
test: lint docs chromium valgrind tensorflow
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder

bench: install
	$(BIN)/python benchmarks/bench_runtimes.py
	$(BIN)/python benchmarks/bench_balancing.py
	$(BIN)/python benchmarks/bench_grouped.py
	$(BIN)/python benchmarks/bench_loader.py
	$(BIN)/python benchmarks/bench_tuning.py
	$(BIN)/python benchmarks/bench_techniques.py
	$(BIN)/python benchmarks/bench_search.py
	$(BIN)/python benchmarks/bench_noise.py
	$(BIN)/python benchmarks/bench_instructions.py
	$(BIN)/python benchmarks/bench_serve_stack.py
	$(BIN)/python benchmarks/bench_serve.py

clean:
	rm -rf runs site .pytest_cache .mypy_cache .ruff_cache
