# Every target sets up what it needs itself: the virtual environment, and (where it can) the
# system packages, so the two quick-start commands work on a fresh machine.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages: JACK (a real MIDI system for python-rtmidi in CI), the arm GCC for the firmware,
# tshark (the independent decoder the USB capture tests read the rig's pcapng files with),
# and OpenSSH (the labgrid tests reach a "lab host" through an sshd they start on 127.0.0.1).
APT_PACKAGES := jackd2 libjack-jackd2-0 gcc-arm-none-eabi tshark openssh-server openssh-client
# The host C compiler, libc's headers and Python's headers build the USB capture's C encoder (native).
APT_PACKAGES += gcc libc6-dev python3-dev
# Node.js runs the emulator bridge; Debian's is used only when the machine has no node at all.
APT_PACKAGES += $(if $(shell command -v node),,nodejs npm)
RIG ?=
# The targets `make test` runs the conformance suite on: none needs hardware. The third is the plain
# USB-MIDI image (firmware/plain: not our board), declared echoing (`,echo`: it sends back what it
# receives), which runs only the device-agnostic suites (conformance_usb, conformance_usbmidi,
# conformance_midi; the rest are deselected for it). Add `board` (or
# `board:SERIAL`, `midi:OUT,IN`) when one is attached: make test RIGS="loopback board".
RIGS ?= loopback emulator emulator:firmware/build/plain.uf2,echo
# pytest-xdist workers for `make test`: each test file runs whole on one worker (--dist loadfile, so
# its module fixtures start once). Four by default: the tests mostly wait (the emulator, JACK cycles,
# subprocesses), so four overlap well even on 2 cores (2026-12-05, one clone's later runs: 222 s with
# three, 207 s with four; its first runs, every worker rewriting the tests' asserts with no cache yet:
# 222 s and 224 s); each worker holds a JACK server for its whole session (the pytest sessions its
# tests start share it) and JACK2 registers at most 8 per machine. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 4
# A worker that dies (a crash in C code) ends the run, failing the test it was running: pytest-xdist
# 3.8 replaces a crashed worker but, under --dist loadfile, then waits forever for work it never
# hands out (pytest-xdist issues #784 and #1327; tests/test_ci_command.py).
XDIST_ARGS = -n $(TEST_WORKERS) --dist loadfile --max-worker-restart=0
# The test run keeps compiled bytecode (pytest's rewritten test modules too) in build/pycache, also
# where the environment says PYTHONDONTWRITEBYTECODE (these machines' shells do): otherwise every
# Python process of the run (the workers and the ~150 pytest sessions, `rig` commands and nested
# xdist workers the tests start) compiles rig/, host/ and tests/ from source again: collecting the
# suite took 9.5-11 s CPU per worker that way and 3.4-4.9 s from the cache (loaded machine), a `rig`
# command's imports 1.1 s against 0.8 s. The source tree gets no __pycache__ (`make clean` removes build/).
PYCACHE_ENV = env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX=$(CURDIR)/build/pycache

.PHONY: all venv system run test lint bench native firmware firmware-if-possible emulator-deps header clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,labgrid]'
	rm -f $(NATIVE)
	touch $@

venv: $(STAMP) native

# The USB capture's log encoder and link transfer recorder in C (rig/links/capture_encoder.c and
# capture_recorder.c), which rig.links.capture_native loads with ctypes: built with the venv's Python
# headers, rebuilt when the source changes or the venv is made again. Without a C compiler or Python's headers it is not built and says so: captures
# then encode with numpy (the same bytes, slower), and under CI=true tests/capture fail.
NATIVE := build/native/capture_native.so
CFLAGS_NATIVE := -std=c11 -O2 -Wall -Wextra -Werror -fPIC -shared
PY_INCLUDE = $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["include"])')

native: | $(STAMP)
	@if command -v $(CC) >/dev/null && [ -f "$(PY_INCLUDE)/Python.h" ]; then \
	  $(MAKE) --no-print-directory $(NATIVE); \
	else echo "$(CC) or Python.h not found: capture encoder not built, captures use numpy (apt-get install gcc libc6-dev python3-dev)"; fi

$(NATIVE): rig/links/capture_encoder.c rig/links/capture_recorder.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_NATIVE) -I"$(PY_INCLUDE)" -o $@ $^

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

run: system venv
	$(VENV)/bin/rig run $(if $(RIG),--rig=$(RIG))

test: system venv firmware-if-possible emulator-deps
	$(PYCACHE_ENV) $(PY) -m pytest $(XDIST_ARGS) --durations=15 $(addprefix --rig=,$(RIGS))

lint: venv
	$(VENV)/bin/ruff check host rig tests bench
	$(VENV)/bin/mypy

bench: venv
	$(PY) -m bench

# The RP2040 firmware: ELF, BIN and UF2 in firmware/build/ (firmware/Makefile does the work).
firmware: system venv
	$(MAKE) -C firmware PYTHON=$(abspath $(PY))

# Builds the firmware when the arm toolchain is there; otherwise says so (the emulator and
# firmware tests then skip with that reason, and fail under CI=true).
firmware-if-possible: venv
	@if command -v arm-none-eabi-gcc >/dev/null; then $(MAKE) --no-print-directory firmware; \
	else echo "arm-none-eabi-gcc not found: firmware not built (apt-get install gcc-arm-none-eabi)"; fi

# The emulator bridge's npm packages (rp2040js, pinned by firmware/emulator/package-lock.json).
emulator-deps: firmware/emulator/node_modules/.package-lock.json

firmware/emulator/node_modules/.package-lock.json: firmware/emulator/package-lock.json
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory -C firmware emulator-deps; \
	else echo "npm not found: emulator target unavailable (install Node.js 18+ and npm)"; fi

# Regenerates what derives from rig/contract/__init__.py: the firmware's C header and docs/protocol.md.
header: venv
	$(PY) -m rig.contract.c_header > firmware/include/rig_contract.h
	$(PY) -m rig.contract.protocol_doc > docs/protocol.md

clean:
	rm -rf $(VENV) build firmware/build reports .pytest_cache .mypy_cache .ruff_cache .hypothesis
