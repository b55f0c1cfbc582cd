# Kiln's one-command entry points. `make check` is what CI runs: install the
# system packages if missing, configure, build with ninja, run every test,
# then build the runtime-only configuration (no LLVM/MLIR) and check its
# kiln-run against the full build's, then the ASan + UBSan tests of the
# libraries below the compiler (make check-asan), then 20 s of libFuzzer on
# each reader of untrusted bytes (make fuzz).
# `make demo` builds the same way, then compiles the committed GPT-2 and BERT
# fixtures with kilnc and runs them with kiln-run (tools/demo.sh).
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= 2

.PHONY: all deps configure build check check-asan fuzz demo clean

all: build

deps:
	bash tools/install-deps.sh

configure: deps
	cmake -G Ninja -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: configure
	ninja -C $(BUILD_DIR) -j$(JOBS)

check: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j$(JOBS)
	bash test/tools/runtime-only-check.sh $(BUILD_DIR)
	$(MAKE) check-asan
	$(MAKE) fuzz

# libFuzzer on every reader of untrusted bytes (ASan + UBSan): the readers
# that link no LLVM (clang-14, build-fuzz/) and the kiln dialect's parser
# and verifier (clang-22, build-fuzz-mlir/), FUZZ_SECONDS each
# (tools/fuzz.sh; longer runs by hand: make fuzz FUZZ_SECONDS=600).
FUZZ_SECONDS ?= 20
fuzz: deps
	bash tools/fuzz.sh $(FUZZ_SECONDS)

# ASan + UBSan build of the support, artifact, runtime and interpreter
# tests (CMakePresets.json "asan", build-asan/).
check-asan: deps
	cmake --preset asan
	cmake --build --preset asan -j$(JOBS)
	ctest --preset asan

demo: build
	bash tools/demo.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR)-runtime-only build-asan build-fuzz build-fuzz-mlir
