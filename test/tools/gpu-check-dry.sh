#!/usr/bin/env bash
# tools/gpu-check.sh run without a GPU: kiln-run, nvidia-smi,
# compute-sanitizer and the PyTorch baselines replaced by the stubs in
# gpu-check-dry/, which answer as a working H200 would (kiln-run from the
# fixture goldens). Checks the script's own logic: what comes back in $OUT,
# the results printed as they are appended, the id and graph checks, the
# table, the "unavailable" memcheck, fail-fast and step selection.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
stubs="$root/test/tools/gpu-check-dry"
# An interpreter with numpy (tools/install-deps.sh installs Debian's).
if [ -z "${PYTHON:-}" ]; then
  for p in python3 /usr/bin/python3; do
    if "$p" -c "import numpy" 2> /dev/null; then export PYTHON="$p"; break; fi
  done
fi
[ -n "${PYTHON:-}" ] || { echo "gpu-check-dry: no python3 with numpy" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bundle"
for f in gpt2_tiny bert_tiny t5_gated llama_gqa; do
  : > "$tmp/bundle/$f.kiln"
  : > "$tmp/bundle/$f-bf16.kiln"
done
for f in gpt2_tiny llama_gqa; do
  : > "$tmp/bundle/$f-small.kiln"
  : > "$tmp/bundle/$f-2_4-bf16.kiln"
  for q in w8a16 w4a16 w8a8; do
    : > "$tmp/bundle/$f-$q.kiln"
  done
done
: > "$tmp/bundle/llama_gqa-tp2.kiln"
: > "$tmp/bundle/llama_gqa-tp2pp2.kiln"
export PATH="$stubs:$PATH" GPU_CHECK_BUNDLE="$tmp/bundle" \
  GPU_CHECK_KILN_RUN="$stubs/kiln-run" GPU_CHECK_BENCH_PY="$stubs/gpu_bench.py" \
  GPU_CHECK_SKIP=write-bench-models
errors=0
expect() { # DESCRIPTION COMMAND...
  if ! "${@:2}"; then
    echo "FAILED: $1"
    errors=$((errors + 1))
  fi
}

# 1. Everything works.
OUT="$tmp/out1" bash "$root/tools/gpu-check.sh" run > "$tmp/run1.txt" 2>&1
rc=$?
expect "a working run exits 0 (rc $rc)" test "$rc" -eq 0
expect "at most 8 files come back" test "$(find "$tmp/out1" -type f | wc -l)" -le 8
for f in results.txt table.txt gpu.txt logs.tgz; do
  expect "$f in OUT" test -s "$tmp/out1/$f"
done
expect "logs.tgz holds every step's log" \
  bash -c "tar tzf '$tmp/out1/logs.tgz' | grep -q logs/fixture-llama-nographs.log"
for s in fixture-gpt2 fixture-gpt2-nographs fixture-t5 fixture-t5-nographs \
    fixture-llama fixture-llama-nographs fixture-bert fixture-gpt2-bf16 \
    fixture-bert-bf16 fixture-gpt2-past-maxima fixture-llama-past-maxima \
    fixture-llama-tp2 fixture-llama-tp2pp2 fixture-llama-tp2-host \
    fixture-gpt2-w4a16 fixture-llama-w8a8 \
    fixture-gpt2-2_4-bf16 fixture-llama-2_4-bf16 \
    kiln-gpt2 kiln-gpt2-w8a8 kiln-bert-b32 torch-gpt2 torch-bert; do
  expect "$s ok" grep -qE "^$s +ok " "$tmp/out1/results.txt"
done
expect "collective bytes per decode step recorded" \
  grep -qE "^collectives-llama-tp2 +rank 0 moved 384 B in the last decode step, 4096 B in the run; 24 collectives device-to-device, 0 through host memory" "$tmp/out1/results.txt"
expect "host-memory collectives recorded" \
  grep -qE "^collectives-llama-tp2-host +rank 0 moved .*; 0 collectives device-to-device, 24 through host memory" "$tmp/out1/results.txt"
expect "results printed as they are appended" grep -qE "^fixture-t5 +ok " "$tmp/run1.txt"
expect "memcheck unavailable, not failed" grep -qE "^memcheck-gpt2 +unavailable " "$tmp/out1/results.txt"
expect "graph replays checked" bash -c "tar xzf '$tmp/out1/logs.tgz' -C '$tmp' && grep -q 'cuda graphs on: 1 captured, 4 replays (ok)' '$tmp/logs/fixture-llama.log'"
expect "no graphs checked" grep -q "cuda graphs off: 0 captured, 0 replays (ok)" "$tmp/logs/fixture-t5-nographs.log"
expect "ids compared" grep -q "sequence 1: ok, first 6 of 6 tokens compared" "$tmp/logs/fixture-llama.log"
expect "table: BERT b1 device vs peers" \
  grep -qE "BERT-base fp32 s128 b1 \(ms\) +3.500 +4.000 +6.000 +3.000 +2.000 +1.71x +0.86x +0.57x" "$tmp/out1/table.txt"
expect "table: a failed baseline is n/a" grep -qE "b32 \(ms\) .* n/a " "$tmp/out1/table.txt"
expect "table: decode vs static-cache compile" \
  grep -qE "GPT-2-small decode p128 \(ms/token\) +2.100 +2.400 +7.500 +n/a +1.900 +3.57x +n/a +0.90x" "$tmp/out1/table.txt"
expect "table: decode bandwidth" grep -q "Kiln decode reads the 498 MB of weights" "$tmp/out1/table.txt"

# 2. The GPT-2 fixture faults: rerun with --cuda-sync-steps, no benchmarks.
OUT="$tmp/out2" GPU_CHECK_DRY_FAIL=gpt2_tiny bash "$root/tools/gpu-check.sh" run > "$tmp/run2.txt" 2>&1
rc=$?
expect "a failing run exits non-zero" test "$rc" -ne 0
expect "the fixture fails" grep -qE "^fixture-gpt2 +FAIL" "$tmp/out2/results.txt"
expect "rerun with --cuda-sync-steps names the step" grep -q "at step 3 of prefill" "$tmp/run2.txt"
expect "the failing log's tail is printed" grep -q -- "--- last 30 lines of fixture-gpt2.log ---" "$tmp/run2.txt"
expect "other fixtures still run" grep -qE "^fixture-llama +ok " "$tmp/out2/results.txt"
expect "benchmarks skipped" grep -qE "^torch-bert +skipped: the device probe or the GPT-2 fixture failed" "$tmp/out2/results.txt"
expect "no benchmark ran" bash -c "! grep -qE '^kiln-gpt2 +ok' '$tmp/out2/results.txt'"

# 3. A wrong id is caught before the first near-tie, not after it.
mkdir -p "$tmp/bad"
python3 -c "
import json
g = json.load(open('$root/test/golden/fixtures/gpt2_tiny/golden.json'))
g['generate']['top2_gaps'][1][3] = 1e-4  # a near-tie at token 3
json.dump(g, open('$tmp/bad/golden.json', 'w'))"
printf '48,48,48,48,48,48\n57,97,3,97,97,97\n' > "$tmp/bad/early.txt"
printf '48,48,48,48,48,48\n57,97,97,3,5,97\n' > "$tmp/bad/late.txt"
expect "a wrong id before the near-tie fails" bash -c "! python3 '$root/tools/gpu_bench.py' ids '$tmp/bad/early.txt' '$tmp/bad/golden.json' > /dev/null"
expect "ids after the near-tie are not compared" python3 "$root/tools/gpu_bench.py" ids "$tmp/bad/late.txt" "$tmp/bad/golden.json"

# 4. A selection reruns only what matters.
OUT="$tmp/out3" GPU_CHECK_STEPS=fixture-bert,fixture-bert- bash "$root/tools/gpu-check.sh" run > "$tmp/run3.txt" 2>&1
expect "selection runs only the chosen steps" \
  test "$(grep -cvE '^(fixture-bert|fixture-bert-bf16|find-cublaslt|find-cusparselt) ' "$tmp/out3/results.txt")" -eq 0
expect "selection ran fixture-bert-bf16" grep -qE "^fixture-bert-bf16 +ok " "$tmp/out3/results.txt"

if [ "$errors" -ne 0 ]; then
  echo "--- run 1 ---"; cat "$tmp/run1.txt"
  echo "--- run 2 ---"; cat "$tmp/run2.txt"
  exit 1
fi
echo "gpu-check dry run: all checks passed"
