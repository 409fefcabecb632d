# Boxoffice: `make run` (everything, embedded default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: install run test test-sqlite test-postgres test-fast lint format bench clean messages

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: install
	$(BIN)/boxoffice run

# The whole suite on SQLite, then again on PostgreSQL when one answers (CI requires it:
# BOXOFFICE_REQUIRE_POSTGRES=1). Browser tests skip with a note where no Chromium is installed.
test: install test-sqlite test-postgres

test-sqlite: install
	@echo "== tests on SQLite"
	env -u DATABASE_URL $(BIN)/pytest

test-postgres: install
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(PG_URL)', connect_timeout=3).close()" 2>/dev/null; then \
		echo "== tests on PostgreSQL ($(PG_URL))"; \
		DATABASE_URL=$(PG_URL) $(BIN)/pytest -m "not browser"; \
	elif [ -n "$$BOXOFFICE_REQUIRE_POSTGRES" ]; then \
		echo "PostgreSQL at $(PG_URL) is required (BOXOFFICE_REQUIRE_POSTGRES) but does not answer"; exit 1; \
	else \
		echo "== PostgreSQL at $(PG_URL) does not answer: skipping the PostgreSQL run"; \
	fi

# The quick loop while coding: no browser, no subprocesses, not the emulators' own tests
# (boxoffice_dev/tests, marker `emulator`), on both cores (pytest-xdist); `make test` runs them all.
# Bytecode (and pytest's rewritten test modules) is cached here even where the environment says
# PYTHONDONTWRITEBYTECODE: recompiling every module on every run costs seconds per worker.
test-fast: install
	env -u DATABASE_URL -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -n 2 \
		-m "not browser and not multiprocess and not emulator and not slow"

# ruff (style, bugs, no hidden function-local imports), the one-way dependency contract between
# the apps (import-linter, pyproject [tool.importlinter]) and mypy on adapters and services.
lint: install
	$(BIN)/ruff check boxoffice boxoffice_dev
	$(BIN)/ruff format --check boxoffice boxoffice_dev
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

format: install
	$(BIN)/ruff format boxoffice boxoffice_dev
	$(BIN)/ruff check --fix boxoffice boxoffice_dev

# Refresh the translation catalogues after marking strings, then compile them (needs GNU
# gettext: apt-get install gettext). The .mo files are committed: a clean clone needs neither.
messages: install
	cd boxoffice && ../$(BIN)/django-admin makemessages -l es -l fr -l de -l ar \
		--ignore "*/tests/*" --ignore "insights/*" --ignore "*/admin/*"
	cd boxoffice && ../$(BIN)/django-admin compilemessages
	for po in boxoffice/locale/*/LC_MESSAGES/django.po; do msgfmt --check --statistics -o /dev/null $$po; done

clean:
	rm -rf $(VENV) var/*.sqlite3* var/test-* test-artifacts

# Speed targets live here, not in timed unit tests: prints figures and ratios, no verdicts.
bench: install
	$(BIN)/python bench/bench_activation.py
