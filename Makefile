# The two commands that matter: `make quickstart` and `make test`.
.PHONY: all setup configure build quickstart test test-fast bench clean

JOBS ?= $(shell nproc)

all: build

setup:
	@scripts/setup

configure: setup
	@cmake --preset release >/dev/null

build: configure
	@cmake --build build -j $(JOBS)

# Trains a small GPT on the bundled book (at most 5 minutes on 2 cores), then samples.
quickstart: build
	@scripts/quickstart

# The whole suite: unit, end-to-end (slow ones included) and PyTorch reference tests.
test: build
	@cd build && ctest --output-on-failure -j $(JOBS)

# Everything but the tests labelled slow.
test-fast: build
	@cd build && ctest --output-on-failure -j $(JOBS) -LE slow

# Speed against the PyTorch reference, in one invocation (see bench/README.md).
bench: build
	@bench/run

clean:
	rm -rf build build-debug build-asan
