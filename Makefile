# Every target installs what it needs itself: a fresh clone needs only python3, node and npm.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
NODE_DIR := tools/mptest
NODE_STAMP := $(NODE_DIR)/node_modules/.installed

.PHONY: setup test test-py test-mp test-mpy lint sim bench reliability soak flaketest clean help
.PHONY: test-mp-unix

help:
	@echo "make sim    run a simulated push-to-talk conversation (no board, no token needed)"
	@echo "make test   run every test tier: pytest, MicroPython (WebAssembly), mpy-cross, ruff"
	@echo "make bench  memory / allocation / latency benchmarks -> out/bench.json"

$(VENV_STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV_STAMP) $(NODE_STAMP)

# The setup page's browser tests (tests/test_setup_browser.py) drive Debian's chromium and
# chromium-driver: installed here once, where apt-get can run (as root, like CI); elsewhere
# those tests skip and say how to install them.
CHROMEDRIVER := /usr/bin/chromedriver
.PHONY: browser
browser: $(CHROMEDRIVER)

$(CHROMEDRIVER):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    chromium chromium-driver; \
	else \
	  echo "make: no $@ and no root for apt-get: the browser tests will skip" \
	    "(sudo apt-get install chromium chromium-driver)"; \
	fi

test: setup browser
	$(PY) tools/test_all.py

test-py: setup browser
	$(PY) tools/test_all.py --only pytest

test-mp: setup
	$(PY) tools/test_all.py --only micropython

test-mp-unix: setup
	$(PY) tools/test_all.py --only micropython-unix

test-mpy: setup
	$(PY) tools/test_all.py --only cross-compile

lint: setup
	$(PY) tools/test_all.py --only lint

sim: setup
	$(PY) -m tools.sim $(SIM_ARGS)

bench: setup
	$(PY) tools/bench/run.py

reliability: setup
	$(PY) -m tools.faultmatrix

soak: setup
	$(PY) -m tools.soak

# The whole `make test` N times on a clean clone beside K CPU burners (RUNS=10 BURNERS=2).
RUNS ?= 10
BURNERS ?= 2
flaketest: $(VENV_STAMP)
	$(PY) tools/flaketest.py --runs $(RUNS) --burners $(BURNERS)

clean:
	rm -rf out .pytest_cache .ruff_cache .hypothesis

# ---- board tools (flash, configure, deploy, repl, logs): tools/flash.py, configure.py, deploy.py
# PORT: serial port (deploy/repl/logs default to mpremote's "auto", flash requires it).
# BOARD: board name (boards/); CHIP: esp32 | esp32s3 when flashing without BOARD.
PORT ?=
BOARD ?=
CHIP ?=
FIRMWARE ?=
MPREMOTE := $(VENV)/bin/mpremote
BOARD_PORT = $(if $(PORT),$(PORT),auto)

.PHONY: flash configure deploy deploy-src repl logs release

flash: $(VENV_STAMP)
	$(PY) tools/flash.py --port "$(PORT)" --firmware "$(FIRMWARE)" $(if $(CHIP),--chip $(CHIP)) $(if $(BOARD),--board $(BOARD))

configure: $(VENV_STAMP)
	$(PY) tools/configure.py $(if $(BOARD),--board $(BOARD)) $(if $(UNIQUE_ID),--unique-id $(UNIQUE_ID))

deploy: $(VENV_STAMP)
	$(PY) tools/deploy.py --port $(BOARD_PORT) $(if $(BOARD),--board $(BOARD))

deploy-src: $(VENV_STAMP)
	$(PY) tools/deploy.py --src --port $(BOARD_PORT) $(if $(BOARD),--board $(BOARD))

# A signed over-the-air release in out/release/$(VERSION)/ (tools/release.py): VERSION=1.2.0
VERSION ?=
release: $(VENV_STAMP)
	$(PY) tools/release.py --version "$(VERSION)" $(if $(BOARD),--board $(BOARD))

# repl stops the app (raw REPL interrupt) and opens a prompt; logs attaches without stopping it.
repl: $(VENV_STAMP)
	$(MPREMOTE) connect $(BOARD_PORT) exec "" + repl

logs: $(VENV_STAMP)
	$(MPREMOTE) connect $(BOARD_PORT) repl
