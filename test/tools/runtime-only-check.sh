#!/usr/bin/env bash
# The runtime-only configuration (-DKILN_RUNTIME_ONLY=ON: support/,
# artifact/, runtime/ and kiln-run, no LLVM/MLIR), as a GPU machine builds
# it: configure, build kiln-run, and check that it gives the same answers
# as the full build's kiln-run on an artifact kilnc compiled.
#   test/tools/runtime-only-check.sh FULL_BUILD_DIR [RUNTIME_BUILD_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
full="$(cd "${1:?usage: runtime-only-check.sh FULL_BUILD_DIR [RUNTIME_BUILD_DIR]}" && pwd)"
rt="${2:-$full-runtime-only}"
mkdir -p "$rt"
cmake -G Ninja -S "$root" -B "$rt" -DCMAKE_BUILD_TYPE=Release -DKILN_RUNTIME_ONLY=ON > "$rt/configure.log" 2>&1 ||
  { cat "$rt/configure.log"; exit 1; }
ninja -C "$rt" kiln-run
if grep -q "mlir\|llvm-22" "$rt/compile_commands.json"; then
  echo "runtime-only-check: the runtime-only build sees LLVM/MLIR headers" >&2
  exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$full/bin/kilnc" "$root/test/golden/fixtures/gpt2_tiny" -o "$tmp/gpt2.kiln" --max-batch 2 --max-seq 32 2> "$tmp/kilnc.log" || { cat "$tmp/kilnc.log"; exit 1; }
args=("$tmp/gpt2.kiln" --input-ids "79,13,27,58,19,24,33;89,33,59,64" --max-new-tokens 6 --ignore-eos)
"$full/bin/kiln-run" "${args[@]}" > "$tmp/full.txt"
"$rt/bin/kiln-run" "${args[@]}" > "$tmp/rt.txt"
if ! cmp -s "$tmp/full.txt" "$tmp/rt.txt" || [ ! -s "$tmp/rt.txt" ]; then
  echo "runtime-only-check: the runtime-only kiln-run answers differently:" >&2
  diff "$tmp/full.txt" "$tmp/rt.txt" >&2 || true
  exit 1
fi
echo "runtime-only-check: kiln-run built without LLVM/MLIR matches the full build ($(tr '\n' ' ' < "$tmp/rt.txt"))"
