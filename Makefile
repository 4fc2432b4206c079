# The two set-up commands (README): `make run` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run lint test bench-api bench-sync bench-latency bench-detect bench-events bench-smoke openapi env-example lock clean

# Installing talks on stderr: `make run`'s stdout is the server's URL= and TOKEN= lines.
$(STAMP): pyproject.toml
	@echo "installing into $(VENV) (first run: a minute or two)" >&2
	@test -x $(PY) || python3 -m venv $(VENV) >&2
	@$(PY) -m pip install --quiet --upgrade pip >&2
	@$(PY) -m pip install --quiet -e '.[test]' >&2
	@touch $(STAMP)

run: $(STAMP)  ## the API, its worker and the demo org live on fake Google/Outlook (.oneonone/, rebuilt each start)
	@$(VENV)/bin/oneonone serve --sandbox --host $(HOST) --port $(PORT)

lint: $(STAMP)  ## ruff (lint + format check) and the import contracts in pyproject.toml
	$(VENV)/bin/ruff check service tests bench migrations
	$(VENV)/bin/ruff format --check service tests bench migrations
	$(VENV)/bin/lint-imports

test: lint  ## lint, then the whole suite, on SQLite and PostgreSQL, one pytest process per core
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start || true
	$(PY) -m pytest -n auto

openapi: $(STAMP)  ## regenerate openapi/openapi.json from the app
	$(PY) -m service.api.openapi > openapi/openapi.json

lock: $(STAMP)  ## regenerate requirements.lock (the image's dependencies, with hashes); LOCKFLAGS=--upgrade for newer pins
	$(PY) -m pip install --quiet "pip-tools==7.7.0"
	CUSTOM_COMPILE_COMMAND="make lock" $(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
		--all-build-deps --strip-extras --no-emit-index-url --no-emit-find-links $(LOCKFLAGS) \
		--output-file requirements.lock pyproject.toml

env-example: $(STAMP)  ## regenerate .env.example from the settings model (service/settings.py)
	$(PY) -m service.settings > .env.example

bench-api: $(STAMP)  ## full service vs bare FastAPI+asyncpg, same run (wrk if available)
	@command -v wrk >/dev/null || (apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null 2>&1) \
		|| echo "wrk unavailable: using the built-in load generator"
	$(PY) bench/api.py

bench-sync: $(STAMP)  ## initial full sync of 100,000 events: SyncWorker + Google adapter vs httpx+orjson+COPY, same run
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start || true
	$(PY) bench/sync.py

bench-latency: $(STAMP)  ## webhook to finding: serve + worker processes on PostgreSQL vs the bare path, same run
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start || true
	$(PY) bench/latency.py

bench-events: $(STAMP)  ## provider change to delivered webhook: 10,000 calendars, 100 changes/s for 60 s, serve + 2 workers on PostgreSQL vs the floor, same run (ARGS="--calendars 2000 --rate 30" for another size)
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start || true
	$(PY) bench/events.py $(ARGS)

bench-detect: $(STAMP)  ## 2,000 people × 12 months: pure detector and DB-backed recompute vs the issue's budgets
	$(PY) bench/detect.py

bench-smoke: $(STAMP)  ## every benchmark and scenario generator at a tiny size (--smoke; make test runs them too)
	$(PY) -m pytest tests/bench -q -n auto

clean:
	rm -rf $(VENV) .oneonone oneonone.db oneonone.db-wal oneonone.db-shm
