#!/usr/bin/env bash
# The GPU check (one script, two halves):
#
#   tools/gpu-check.sh prepare   on the build machine: compiles the CUDA
#                                artifacts (golden fixtures, and BERT-base /
#                                GPT-2-small shapes with external weights)
#                                into build/gpu-bundle with kiln-run and the
#                                CUDA tests, and the headers and Abseil
#                                archives a runtime-only build needs there
#                                (deps/); carry build/gpu-bundle (about 15
#                                MiB) to the GPU machine.
#   tools/gpu-check.sh run       on the GPU machine (from the repository
#                                root): every step has its own time limit and
#                                appends one line to $OUT/results.txt (or
#                                build/gpu-results) as it finishes, so a
#                                cut-off run still reports what it measured.
#                                Weights are written there (tools/
#                                bench_model.py), never copied. The table is
#                                printed last. Fits in 8 minutes: a
#                                450-second budget (GPU_CHECK_BUDGET) caps
#                                every step, later ones are skipped. If the
#                                carried kiln-run does not start there, it
#                                is built there first (-DKILN_RUNTIME_ONLY
#                                with the carried deps/).
#
# Without a GPU, `run` stops with one message. The CUDA executor has not run
# on a GPU before this script's first run: expect its steps to need fixes.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bundle="$root/build/gpu-bundle"
fixtures="$root/test/golden/fixtures"
mode="${1:-}"

prepare() {
  set -e
  local bin="$root/build/bin"
  [ -x "$bin/kilnc" ] || { echo "gpu-check: build first (make build)" >&2; exit 1; }
  rm -rf "$bundle" && mkdir -p "$bundle"
  cp "$bin/kiln-run" "$bundle/"
  [ -x "$root/build/test/unit/kiln-cuda-tests" ] && cp "$root/build/test/unit/kiln-cuda-tests" "$bundle/"
  for f in gpt2_tiny bert_tiny t5_gated llama_gqa; do
    "$bin/kilnc" "$fixtures/$f" --target cuda -o "$bundle/$f.kiln" \
        --max-batch 3 --max-seq 32 2> "$bundle/kilnc-$f.log"
    "$bin/kilnc" "$fixtures/$f" --target cuda --gemm-dtype bf16 -o "$bundle/$f-bf16.kiln" \
        --max-batch 3 --max-seq 32 2> "$bundle/kilnc-$f-bf16.log"
  done
  local tmp; tmp="$(mktemp -d)"
  python3 "$root/tools/bench_model.py" bert-base "$tmp/bert-base"
  "$bin/kilnc" "$tmp/bert-base" --target cuda --external-weights -o "$bundle/bert-base.kiln" \
      --max-batch 32 --max-seq 128 2> "$bundle/kilnc-bert-base.log"
  python3 "$root/tools/bench_model.py" gpt2-small "$tmp/gpt2-small"
  "$bin/kilnc" "$tmp/gpt2-small" --target cuda --external-weights -o "$bundle/gpt2-small.kiln" \
      --max-batch 1 --max-seq 256 2> "$bundle/kilnc-gpt2-small.log"
  "$bin/kilnc" "$tmp/gpt2-small" --target cuda --external-weights --gemm-dtype bf16 \
      -o "$bundle/gpt2-small-bf16.kiln" --max-batch 1 --max-seq 256 2> "$bundle/kilnc-gpt2-small-bf16.log"
  rm -rf "$tmp"
  # What -DKILN_RUNTIME_ONLY needs that the GPU machine lacks.
  local deps="$bundle/deps"
  mkdir -p "$deps/include" "$deps/lib"
  cp -r /usr/include/absl /usr/include/flatbuffers /usr/include/nlohmann /usr/include/xxhash.h "$deps/include/"
  cp /usr/lib/x86_64-linux-gnu/libabsl_*.a "$deps/lib/"
  du -sh "$bundle"
  echo "gpu-check: bundle ready; carry build/gpu-bundle and run 'tools/gpu-check.sh run'"
}

run() {
  if ! command -v nvidia-smi > /dev/null || ! nvidia-smi -L 2> /dev/null | grep -q "^GPU "; then
    echo "gpu-check: no NVIDIA GPU here (nvidia-smi lists none); run this on the GPU machine" >&2
    exit 2
  fi
  [ -d "$bundle" ] || { echo "gpu-check: no build/gpu-bundle; run 'tools/gpu-check.sh prepare' on the build machine and carry it" >&2; exit 2; }
  local out="${OUT:-$root/build/gpu-results}"
  mkdir -p "$out"
  local results="$out/results.txt" work; work="$(mktemp -d)"
  : > "$results"
  # The whole run fits in GPU_CHECK_BUDGET seconds (default 450): each step
  # gets at most what is left, and steps past the budget are listed as
  # skipped rather than run.
  local budget="${GPU_CHECK_BUDGET:-450}" began; began=$(date +%s)
  step() { # name, seconds, command...
    local name="$1" limit="$2"; shift 2
    local start end rc left
    left=$(( budget - ($(date +%s) - began) ))
    if [ "$left" -lt 10 ]; then
      printf '%-22s skipped: the %ss budget is spent\n' "$name" "$budget" >> "$results"
      return 124
    fi
    [ "$limit" -gt "$left" ] && limit="$left"
    start=$(date +%s.%N)
    timeout "$limit" "$@" > "$out/$name.log" 2>&1
    rc=$?
    end=$(date +%s.%N)
    local last; last="$(grep -v '^\s*$' "$out/$name.log" | tail -n 3 | tr '\n' ' ' | cut -c1-220)"
    printf '%-22s rc=%-3s %6.1fs  %s\n' "$name" "$rc" "$(awk "BEGIN { print $end - $start }")" "$last" >> "$results"
    return $rc
  }
  nvidia-smi -L > "$out/gpu.txt"
  local kr="$bundle/kiln-run"
  step kiln-run-starts 20 "$kr" --help
  if ! "$kr" --help > /dev/null 2>&1; then
    step build-runtime 300 bash -c "cmake -S '$root' -B '$root/build-gpu' -G Ninja \
        -DCMAKE_BUILD_TYPE=Release -DKILN_RUNTIME_ONLY=ON -DKILN_DEPS_DIR='$bundle/deps' \
        && ninja -C '$root/build-gpu' kiln-run"
    kr="$root/build-gpu/bin/kiln-run"
  fi
  [ -x "$bundle/kiln-cuda-tests" ] && step cuda-tests 60 "$bundle/kiln-cuda-tests"
  step device-probe 30 "$kr" "$bundle/gpt2_tiny.kiln" --device cuda --input-ids 1,2
  # Fixtures against the transformers goldens (fp32 within 1e-3).
  step fixture-gpt2 60 bash -c "'$kr' '$bundle/gpt2_tiny.kiln' --device cuda \
      --input-ids '79,13,27,58,19,24,33;89,33,59,64' --max-new-tokens 6 --ignore-eos --output '$work/gpt2.npy' \
      && python3 '$root/tools/gpu_bench.py' compare '$work/gpt2.npy' '$fixtures/gpt2_tiny/logits.npy' 7,4" ||
    # On a failure, again with each step waited for: a fault names its step.
    step fixture-gpt2-sync 60 "$kr" "$bundle/gpt2_tiny.kiln" --device cuda --cuda-sync-steps \
        --input-ids '79,13,27,58,19,24,33;89,33,59,64' --max-new-tokens 6 --ignore-eos
  # compute-sanitizer's memcheck over prefill and decode (generated and own
  # kernels, cuBLASLt), graphs on as in a normal run.
  step memcheck-gpt2 90 compute-sanitizer --tool memcheck --error-exitcode 1 "$kr" "$bundle/gpt2_tiny.kiln" \
      --device cuda --input-ids '79,13,27;89,33' --max-new-tokens 3 --ignore-eos
  step fixture-bert 60 bash -c "'$kr' '$bundle/bert_tiny.kiln' --device cuda \
      --input-ids '90,47,9,78,69,57,74,100,89;6,96,6,12,4' --token-type-ids '0,0,0,0,1,1,1,1,1;0,0,1,1,1' --output '$work/bert.npy' \
      && python3 '$root/tools/gpu_bench.py' compare '$work/bert.npy' '$fixtures/bert_tiny/last_hidden_state.npy' 9,5"
  step fixture-t5 60 bash -c "'$kr' '$bundle/t5_gated.kiln' --device cuda \
      --input-ids '57,13,86,95,12,84,34;90,100,34,39' --max-new-tokens 6 --ignore-eos --output '$work/t5.npy' \
      && python3 '$root/tools/gpu_bench.py' compare '$work/t5.npy' '$fixtures/t5_gated/logits.npy' -"
  step fixture-llama 60 bash -c "'$kr' '$bundle/llama_gqa.kiln' --device cuda \
      --input-ids \"\$(python3 -c \"import json; g = json.load(open('$fixtures/llama_gqa/golden.json')); print(';'.join(','.join(map(str, s[:n])) for s, n in zip(g['input_ids'], g['lengths'])))\")\" \
      --output '$work/llama.npy' \
      && python3 '$root/tools/gpu_bench.py' compare '$work/llama.npy' '$fixtures/llama_gqa/logits.npy' \
         \"\$(python3 -c \"import json; print(','.join(map(str, json.load(open('$fixtures/llama_gqa/golden.json'))['lengths'])))\")\""
  # The same with bf16 gemms (within 2e-2).
  step fixture-gpt2-bf16 60 bash -c "'$kr' '$bundle/gpt2_tiny-bf16.kiln' --device cuda \
      --input-ids '79,13,27,58,19,24,33;89,33,59,64' --output '$work/gpt2-bf16.npy' \
      && python3 '$root/tools/gpu_bench.py' compare '$work/gpt2-bf16.npy' '$fixtures/gpt2_tiny/logits.npy' 7,4 2e-2"
  step fixture-bert-bf16 60 bash -c "'$kr' '$bundle/bert_tiny-bf16.kiln' --device cuda \
      --input-ids '90,47,9,78,69,57,74,100,89;6,96,6,12,4' --token-type-ids '0,0,0,0,1,1,1,1,1;0,0,1,1,1' --output '$work/bert-bf16.npy' \
      && python3 '$root/tools/gpu_bench.py' compare '$work/bert-bf16.npy' '$fixtures/bert_tiny/last_hidden_state.npy' 9,5 2e-2"
  step write-bench-models 120 bash -c "python3 '$root/tools/bench_model.py' bert-base '$work/bert-base' && python3 '$root/tools/bench_model.py' gpt2-small '$work/gpt2-small'"
  # Most telling first, in case the budget runs out.
  step bandwidth 60 python3 "$root/tools/gpu_bench.py" bandwidth
  step kiln-gpt2 120 "$kr" "$bundle/gpt2-small.kiln" --device cuda --weights "$work/gpt2-small" \
      --input-ids "$(python3 -c "print(','.join(str(1000 + i) for i in range(128)))")" --max-new-tokens 128 --ignore-eos --bench --iters 3
  step torch-gpt2 120 python3 "$root/tools/gpu_bench.py" gpt2 "$work/gpt2-small"
  step kiln-bert 120 "$kr" "$bundle/bert-base.kiln" --device cuda --weights "$work/bert-base" \
      --input-ids "$(python3 -c "print(','.join(str(1000 + i) for i in range(128)))")" --bench --iters 20
  step kiln-bert-b32 120 "$kr" "$bundle/bert-base.kiln" --device cuda --weights "$work/bert-base" \
      --input-ids "$(python3 -c "print(';'.join([','.join(str(1000 + i) for i in range(128))] * 32))")" --bench --iters 20
  step torch-bert 200 python3 "$root/tools/gpu_bench.py" bert "$work/bert-base"
  step kiln-gpt2-bf16 120 "$kr" "$bundle/gpt2-small-bf16.kiln" --device cuda --weights "$work/gpt2-small" \
      --input-ids "$(python3 -c "print(','.join(str(1000 + i) for i in range(128)))")" --max-new-tokens 128 --ignore-eos --bench --iters 3
  step kiln-gpt2-nographs 120 "$kr" "$bundle/gpt2-small.kiln" --device cuda --weights "$work/gpt2-small" \
      --input-ids "$(python3 -c "print(','.join(str(1000 + i) for i in range(128)))")" --max-new-tokens 128 --ignore-eos --bench --iters 3 --no-cuda-graphs
  rm -rf "$work"
  echo "== gpu-check results ($(head -1 "$out/gpu.txt")) =="
  cat "$results"
  echo "== Kiln vs PyTorch =="
  python3 "$root/tools/gpu_bench.py" table "$out" | tee "$out/table.txt"
}

case "$mode" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: tools/gpu-check.sh prepare|run" >&2; exit 2 ;;
esac
