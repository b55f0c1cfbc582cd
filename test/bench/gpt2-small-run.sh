#!/usr/bin/env bash
# CPU latency of a GPT-2-small-shaped model (12 layers, 768 wide, vocabulary
# 50257, random weights written locally): kilnc compile time, then kiln-run
# --bench for a 128-token prompt and 32 new tokens (and a 16-token prompt,
# to show the per-token decode time growing with context only through
# attention), and the same request through kiln-interpret. A benchmark: it
# prints numbers and asserts nothing.
#   test/bench/gpt2-small-run.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ids() { python3 -c "print(','.join(str((i * 7919 + 11) % 50257) for i in range($1)))"; }

"$build/bin/kiln-interpreter-bench" --write "$work/gpt2" --layers 12 > /dev/null
start=$(date +%s.%N)
"$build/bin/kilnc" "$work/gpt2" -o "$work/gpt2.kiln" --max-batch 1 --max-seq 256 \
    --report "$work/kilnc.json" 2> "$work/kilnc.log"
end=$(date +%s.%N)
python3 - "$work/kilnc.json" "$start" "$end" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
stages = ", ".join(f"{s['stage']} {s['seconds']:.2f}s" for s in r["compile_seconds"])
print(f"kilnc: {float(sys.argv[3]) - float(sys.argv[2]):.2f} s wall "
      f"[{stages}]; {r['unique_kernels']} unique kernels, steps {r['steps']}, "
      f"arena {r['arena_bytes'] / 2**20:.1f} MiB, artifact {r['artifact_bytes'] / 2**20:.1f} MiB")
PY

for prompt in 128 16; do
  "$build/bin/kiln-run" "$work/gpt2.kiln" --input-ids "$(ids $prompt)" \
      --max-new-tokens 32 --ignore-eos --bench --warmup 1 --iters 3
done

# The reference interpreter on the same request (one run each; it includes
# building the graph and reading the weights, as kiln-run's load does).
for new in ${KILN_BENCH_INTERPRETER-0 32}; do
  start=$(date +%s.%N)
  "$build/bin/kiln-interpret" "$work/gpt2" --input-ids "$(ids 128)" \
      --max-new-tokens $new --ignore-eos > /dev/null
  end=$(date +%s.%N)
  python3 -c "print(f'kiln-interpret: prompt 128, $new new tokens: {$end - $start:.2f} s end to end')"
done
