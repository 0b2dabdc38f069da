# Zerentian: `make run` to try it, `make test` to check it. Both set the machine up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := app
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?= -n 2
MO := app/translations/zh_Hans_CN/LC_MESSAGES/messages.mo app/translations/en/LC_MESSAGES/messages.mo

.PHONY: setup system run serve demo-db test bench lint messages clean

setup: system $(VENV)/.installed $(MO)

system:
	@.ci/system-packages.sh

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(MO): app/translations/*/LC_MESSAGES/messages.po $(VENV)/.installed
	$(BIN)/pybabel -q compile -d app/translations

# Creates the database and the demo county when there is none; never wipes one.
demo-db: setup
	$(BIN)/flask init-db
	$(BIN)/flask demo --if-empty --url http://$(HOST):$(PORT)

# The quick demo: Flask's development server on HOST:PORT with one background worker (imports,
# reports, periodic clean-ups) beside it, stopped with it. Never for a bank's phones: see serve.
run: demo-db
	@echo "Zerentian on http://$(HOST):$(PORT), with one background worker (the demo; a bank serves with make serve)"
	@$(BIN)/flask worker --workers 1 & worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/flask run --host $(HOST) --port $(PORT)

# A bank's server: gunicorn (WEB_CONCURRENCY workers) and one job worker, configured from the
# environment (HOST, PORT, DATABASE_URL, SECRET_KEY, ID_NUMBER_KEY, TLS_CERTFILE, TLS_KEYFILE, JOB_WORKERS);
# refuses to start without the bank's own keys. README, "Serving the bank's phones".
serve: setup
	$(BIN)/python -m app.serve

# The whole suite on SQLite and on a throwaway PostgreSQL cluster started here.
test: setup
	@pgdir=$$(mktemp -d /tmp/zrt-pg.XXXXXX); \
	url=$$(.ci/postgres.sh start $$pgdir) || { .ci/postgres.sh stop $$pgdir; exit 1; }; \
	trap '.ci/postgres.sh stop '$$pgdir EXIT INT TERM; \
	TEST_POSTGRES_URL=$$url $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m tests.bench

lint: setup
	$(BIN)/ruff check app tests

# After adding user-facing text: extract it, then translate the new entries in the .po files.
messages: setup
	$(BIN)/pybabel -q extract -F app/translations/babel.cfg -k _l -k lazy_gettext -o app/translations/messages.pot .
	$(BIN)/python app/translations/fill.py zh_CN
	$(BIN)/python app/translations/fill.py en

clean:
	rm -rf $(VENV) .pytest_cache
