#!/usr/bin/env bash
# kilnc on GPT-2-small-shaped models (768 wide, random weights written
# locally) at 2 and 12 layers: unique kernels must not grow with depth.
# Prints kernel counts, arena size and compile time per stage.
#   test/bench/gpt2-small-compile.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for layers in 2 12; do
  "$build/bin/kiln-interpreter-bench" --write "$work/gpt2-$layers" --layers "$layers"
  start=$(date +%s.%N)
  "$build/bin/kilnc" "$work/gpt2-$layers" --emit kernels -o "$work/gpt2-$layers.so" \
      --max-batch 4 --max-seq 1024 --report "$work/report-$layers.json" 2> "$work/log-$layers"
  end=$(date +%s.%N)
  python3 - "$work/report-$layers.json" "$layers" "$start" "$end" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
layers, start, end = sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
stages = ", ".join(f"{s['stage']} {s['seconds']:.2f}s" for s in r["compile_seconds"])
print(f"gpt2-small shape, {layers:>2} layers: unique kernels {r['unique_kernels']}, "
      f"steps {r['steps']}, arena {r['arena_bytes']/2**20:.1f} MiB "
      f"(batch {r['max_batch']}, seq {r['max_seq']}), kv cache {r['kv_cache_bytes']/2**20:.1f} MiB, "
      f"weights {r['weight_bytes']/2**20:.1f} MiB, kilnc {end-start:.2f}s [{stages}]")
PY
done
