#!/usr/bin/env bash
# Installs every system package Kiln needs to build and test, by Debian
# package name. Idempotent: packages already present are skipped, so a second
# run is quick and touches nothing. Runs as root or through sudo.
set -euo pipefail

PACKAGES=(
  # Compiler infrastructure (LLVM/MLIR 22; version pinned in llvm-project.version).
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
  # Libraries and build tools. nlohmann-json (header-only) parses
  # safetensors headers and Hugging Face configs without LLVM, so the runtime
  # can share the readers; OpenBLAS serves the interpreter's matmuls; the
  # runtime loads oneDNN (its gemms; OpenBLAS where oneDNN is missing) at
  # run time, its headers giving the types of the matmul primitive's C API
  # (never linked). FlatBuffers (the artifact manifest) and xxHash (its
  # checksums) are used header-only; Abseil and utf8proc (the tokenizer's
  # Unicode tables) are linked statically.
  libabsl-dev libgtest-dev nlohmann-json3-dev libopenblas-dev libdnnl2
  libdnnl-dev libutf8proc-dev
  # OpenMPI: mpirun and the library runtime/mpi/ links (kiln-run loads it
  # when started by mpirun).
  openmpi-bin libopenmpi-dev
  libflatbuffers-dev flatbuffers-compiler libxxhash-dev pkg-config
  cmake ninja-build ccache lld g++ python3
  # numpy: tools/gpu-check.sh's checks and tools/bench_model.py. The Python
  # package (python/): pybind11 and Python's headers for its extension,
  # pytest for its tests, venv for `pip install .` checks and make demo.
  python3-numpy python3-dev pybind11-dev python3-pytest python3-venv
  # The format and tidy checks (test/tools/) use LLVM 22's.
  clang-format-22 clang-tidy-22
  # tools/fuzz.sh: Debian 12's clang-14 ships libFuzzer and the sanitizer
  # runtimes (the readers' targets); the dialect's target is built by the
  # clang of MLIR's release, with its libFuzzer from libclang-rt-22-dev.
  clang-14 libclang-common-14-dev clang-22 libclang-rt-22-dev
  # Libraries that LLVM's exported CMake targets reference.
  zlib1g-dev libzstd-dev libxml2-dev libedit-dev libcurl4-openssl-dev
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    SUDO="sudo"
  else
    echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
