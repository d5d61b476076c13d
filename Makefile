# Every target sets up what it needs itself: the virtual environment, and (where it can) the
# system packages, so the two quick-start commands work on a fresh machine.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages: JACK (a real MIDI system for python-rtmidi in CI), the arm GCC for the firmware.
APT_PACKAGES := jackd2 libjack-jackd2-0 gcc-arm-none-eabi
RIG ?=

.PHONY: all venv system run test lint bench firmware header clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(STAMP)

# Installs the Debian packages when they are missing and this user may install them; otherwise
# says what is missing (the tests that need them then skip with that reason, outside CI).
system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing system packages:$$missing (apt-get install them for JACK and firmware tests)"; fi; \
	fi

run: venv system
	$(VENV)/bin/rig run $(if $(RIG),--rig=$(RIG))

test: venv system
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check host rig tests bench
	$(VENV)/bin/mypy

bench: venv
	$(PY) -m bench

# The RP2040 firmware: ELF, BIN and UF2 in firmware/build/ (firmware/Makefile does the work).
firmware: venv system
	$(MAKE) -C firmware PYTHON=$(abspath $(PY))

header: venv
	$(PY) -m rig.contract_c > firmware/include/rig_contract.h

clean:
	rm -rf $(VENV) build firmware/build reports .pytest_cache .mypy_cache .ruff_cache .hypothesis
