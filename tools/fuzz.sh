#!/usr/bin/env bash
# Builds the libFuzzer targets of test/fuzz and runs each for SECONDS
# (default 20) on a scratch copy of its seed corpus (test/fuzz/corpus/<name>),
# then prints executions, coverage and crashes. The readers that link no
# LLVM/MLIR build in BUILD_DIR (default build-fuzz: clang-14, ASan + UBSan,
# every library instrumented, -DKILN_RUNTIME_ONLY=ON); the kiln dialect's
# parser and verifier build in BUILD_DIR-mlir (clang-22 to match MLIR 22,
# only the dialect instrumented). A crash keeps its input under
# BUILD_DIR/crashes/<name>/ and makes the script exit 1. Longer runs are
# manual: tools/fuzz.sh 600.
#   tools/fuzz.sh [SECONDS] [NAME ...]   (names: safetensors safetensorsindex
#                                         npy artifact idlists runoptions
#                                         config tokenizer spiece dialect)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-20}"
shift || true
names=("$@")
[ ${#names[@]} -gt 0 ] ||
  names=(safetensors safetensorsindex npy artifact idlists runoptions config
    tokenizer spiece dialect)
build="${KILN_FUZZ_BUILD_DIR:-$root/build-fuzz}"
# Debian 12's clang-14 ships libFuzzer and the sanitizer runtimes; the
# dialect's target needs the clang of MLIR's release (libclang-rt-22-dev).
cxx="${KILN_FUZZ_CXX:-clang++-14}"
cc="${KILN_FUZZ_CC:-clang-14}"
mlir_cxx="${KILN_FUZZ_MLIR_CXX:-clang++-22}"
mlir_cc="${KILN_FUZZ_MLIR_CC:-clang-22}"
for tool in "$cxx" "$mlir_cxx"; do
  command -v "$tool" > /dev/null || { echo "fuzz.sh: $tool not found (tools/install-deps.sh installs it)" >&2; exit 1; }
done
sanitize=fuzzer-no-link,address,undefined
wants_readers=0
wants_dialect=0
for name in "${names[@]}"; do
  if [ "$name" = dialect ]; then wants_dialect=1; else wants_readers=1; fi
done
if [ $wants_readers = 1 ]; then
  mkdir -p "$build"
  cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
    -DKILN_RUNTIME_ONLY=ON -DKILN_FUZZ=ON -DKILN_ENABLE_CUDA=OFF \
    -DKILN_SANITIZE=$sanitize > "$build/configure.log" 2>&1 ||
    { cat "$build/configure.log"; exit 1; }
  ninja -C "$build" fuzz > "$build/build.log" 2>&1 || { tail -40 "$build/build.log"; exit 1; }
fi
if [ $wants_dialect = 1 ]; then
  mkdir -p "$build-mlir"
  cmake -G Ninja -S "$root" -B "$build-mlir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER="$mlir_cc" -DCMAKE_CXX_COMPILER="$mlir_cxx" \
    -DKILN_FUZZ=ON -DKILN_ENABLE_CUDA=OFF \
    -DKILN_SANITIZE=$sanitize > "$build-mlir/configure.log" 2>&1 ||
    { cat "$build-mlir/configure.log"; exit 1; }
  ninja -C "$build-mlir" fuzz-dialect > "$build-mlir/build.log" 2>&1 ||
    { tail -40 "$build-mlir/build.log"; exit 1; }
fi

status=0
printf '%-17s %10s %8s %8s %8s  %s\n' target execs exec/s cov ft crashes
for name in "${names[@]}"; do
  bin="$build/fuzz/kiln-fuzz-$name"
  [ "$name" = dialect ] && bin="$build-mlir/fuzz/kiln-fuzz-$name"
  work="$build/runs/$name"
  crashes="$build/crashes/$name"
  rm -rf "$work" "$crashes"
  mkdir -p "$work/corpus" "$crashes"
  cp -r "$root/test/fuzz/corpus/$name/." "$work/corpus/"
  # Regression inputs (fixed crashes) run first, as seeds.
  if [ -d "$root/test/fuzz/regressions/$name" ]; then
    cp -r "$root/test/fuzz/regressions/$name/." "$work/corpus/"
  fi
  log="$work/log.txt"
  asan=detect_leaks=1:allocator_may_return_null=1
  # The dialect's target mixes instrumented code with Debian's
  # uninstrumented MLIR, and both use LLVM's inline BumpPtrAllocator: the
  # instrumented copy poisons a slab's free part, the uninstrumented one
  # hands it out without unpoisoning it, and ASan reports its own
  # bookkeeping as a use-after-poison. Manual poisoning is switched off
  # there; every other check stays.
  [ "$name" = dialect ] && asan="$asan:allow_user_poisoning=0"
  set +e
  ASAN_OPTIONS=$asan \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$bin" "$work/corpus" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -max_len=262144 -artifact_prefix="$crashes/" \
    -print_final_stats=1 > "$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  found=$(find "$crashes" -type f | wc -l)
  printf '%-17s %10s %8s %8s %8s  %s\n' "$name" "$execs" "$rate" "$cov" "$ft" "$found"
  if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
    status=1
    echo "fuzz.sh: $name failed (exit $rc); its log: $log; inputs: $crashes" >&2
    grep -m1 -A12 'ERROR\|runtime error\|deadly signal' "$log" >&2 || tail -20 "$log" >&2
  fi
done
exit $status
