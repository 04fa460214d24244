# sendpool: `make demo` and `make test` are all a fresh machine needs (python3 and make).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

.PHONY: demo test lint typecheck pytest bench venv clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

demo: venv
	$(BIN)/sendpool demo

lint: venv
	$(BIN)/ruff check sendpool tests bench
	$(BIN)/ruff format --check sendpool tests bench

CORE_GATE := $(BIN)/pytest -q -p no:cacheprovider tests/core --cov=sendpool.core --cov-branch --cov-fail-under=100 --cov-report=term-missing:skip-covered
# Three test processes on two cores: many tests wait on sockets and child processes.
SUITE := $(BIN)/pytest -q -p no:cacheprovider -n 3 --dist worksteal --ignore=tests/core

typecheck: venv
	$(BIN)/mypy sendpool

pytest: venv
	$(CORE_GATE)
	$(SUITE)

# The type check and the core's coverage gate take a core each: side by side, then the rest.
test: lint
	@$(BIN)/mypy sendpool > $(VENV)/mypy.out 2>&1 & types=$$!; \
	$(CORE_GATE); core=$$?; \
	wait $$types; typed=$$?; cat $(VENV)/mypy.out; \
	test $$core -eq 0 && test $$typed -eq 0
	$(SUITE)

bench: venv
	bench/run.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
