#!/usr/bin/env bash
# The GPU check: one script, two halves.
#
#   tools/gpu-check.sh prepare   on the build machine: compiles the CUDA
#                                artifacts (golden fixtures, and BERT-base /
#                                GPT-2-small shapes with external weights)
#                                into build/gpu-bundle with kiln-run and the
#                                CUDA tests, and the headers and Abseil
#                                archives a runtime-only build needs there
#                                (deps/). Measured on the 2-core build
#                                machine: 41 s (kilnc on 18 fixture builds
#                                and 3 benchmark models in 6 builds, the
#                                quantized ones calibrated on the
#                                interpreter, weights written by numpy);
#                                the bundle is about 21 MiB.
#                                Needs numpy ($PYTHON or python3).
#   tools/gpu-check.sh run       on the GPU machine, from the repository root,
#                                with build/gpu-bundle carried there.
#
# `run` writes at most four files to $OUT (default build/gpu-results), since
# only 8 come back from the GPU machine: results.txt (one line per step,
# also printed as it is appended), table.txt (Kiln vs PyTorch), gpu.txt and
# logs.tgz (every step's full log, packed on exit, also when cut off). A
# failing step prints the last 30 lines of its log, so the command's own
# output tail tells what went wrong even when no file comes back.
#
# Order and expected device-machine times (H200; the machine's start-up
# and the transfers are not in them):
#   gpu-info, find-cublaslt, kiln-run-starts, cuda-tests     ~5 s
#   device-probe                                             ~3 s
#   fixture-{gpt2,t5,llama}{,-nographs}, fixture-bert,
#     fixture-llama-tp2 / -tp2pp2 (2 and 4 ranks on the one GPU,
#     collectives and send_recv device-to-device; -tp2-host: the same
#     through host memory; collectives-llama-*
#     lines: the bytes rank 0 moves per decode step and how many
#     collectives took each path),
#     fixture-{gpt2,bert}-bf16, fixture-{gpt2,llama}-2_4-bf16 (cuSPARSELt,
#     against transformers' pruned model), fixture-{gpt2,llama}-{w8a16,w4a16,w8a8}
#     (kilnc --quantize): prompt logits against the transformers
#     goldens and the generated ids up to the first near-tie, with CUDA
#     graphs (captured at the second decode call, replayed from the third;
#     the report must show the replays) and without        ~25 s
#   memcheck-gpt2 (compute-sanitizer; "unavailable" where
#     the tool cannot start, e.g. under gVisor)              ~20 s
#   write-bench-models (CPU, numpy)                          ~20 s
#   bandwidth, kiln-gpt2, kiln-gpt2-nographs, kiln-gpt2-bf16,
#     kiln-gpt2-{w8a16,w4a16,w8a8} (quantized at load; w8a8's last
#     line counts its products on cuBLASLt's int8 tensor cores),
#     kiln-gpt2-2_4-bf16 (pruned at load; its last line counts the
#     weights and products on cuSPARSELt),
#     kiln-bert, kiln-bert-b32, and the unfused (-O0)
#     kiln-gpt2-O0, kiln-bert-b32-O0, and a Llama-shaped model
#     (12 x 768, GQA 12/4) fused and -O0: kiln-llama{,-O0},
#     and per-step device time: profile-{gpt2,llama,bert-b32} ~80 s
#   torch-gpt2 (eager generate, static-cache compiled decode) ~90 s
#   torch-bert (eager, compile, reduce-overhead; b1 and b32) ~120 s
# About 6 minutes when everything works. Fail fast: when the device probe
# or the GPT-2 fixture fails, the GPT-2 fixture reruns with
# --cuda-sync-steps (each step waited for, so a fault names its step), the
# other fixtures still run, and every benchmark is skipped: a failing run
# ends in under 2 minutes. GPU_CHECK_BUDGET (default 420 s) caps the whole
# run; steps past it are listed as skipped.
#
# Environment: GPU_CHECK_STEPS=name,prefix-,... runs only those steps (a
# rerun after a fix), GPU_CHECK_SKIP likewise leaves some out. For testing
# this script without a GPU (test/tools/gpu-check-dry.sh):
# GPU_CHECK_BUNDLE, GPU_CHECK_KILN_RUN and GPU_CHECK_BENCH_PY replace the
# bundle, kiln-run and tools/gpu_bench.py.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bundle="${GPU_CHECK_BUNDLE:-$root/build/gpu-bundle}"
fixtures="$root/test/golden/fixtures"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
mode="${1:-}"

prepare() {
  set -e
  local bin="$root/build/bin" began; began=$(date +%s)
  [ -x "$bin/kilnc" ] || { echo "gpu-check: build first (make build)" >&2; exit 1; }
  "$PY" -c "import numpy" 2> /dev/null || {
    echo "gpu-check: $PY lacks numpy, which tools/bench_model.py needs" \
         "(apt install python3-numpy, or pip install numpy; PYTHON picks another" \
         "interpreter)" >&2
    exit 1
  }
  rm -rf "$bundle" && mkdir -p "$bundle"
  cp "$bin/kiln-run" "$bundle/"
  if [ -x "$root/build/test/unit/kiln-cuda-tests" ]; then
    cp "$root/build/test/unit/kiln-cuda-tests" "$bundle/"
  fi
  for f in gpt2_tiny bert_tiny t5_gated llama_gqa; do
    "$bin/kilnc" "$fixtures/$f" --target cuda -o "$bundle/$f.kiln" \
        --max-batch 3 --max-seq 32 2> "$bundle/kilnc-$f.log"
    "$bin/kilnc" "$fixtures/$f" --target cuda --gemm-dtype bf16 -o "$bundle/$f-bf16.kiln" \
        --max-batch 3 --max-seq 32 2> "$bundle/kilnc-$f-bf16.log"
  done
  # 2:4 weights in bf16 (kilnc --prune 2:4 --gemm-dtype bf16): compressed
  # at load and multiplied on cuSPARSELt.
  for f in gpt2_tiny llama_gqa; do
    "$bin/kilnc" "$fixtures/$f" --target cuda --prune 2:4 --gemm-dtype bf16 \
        -o "$bundle/$f-2_4-bf16.kiln" --max-batch 3 --max-seq 32 2> "$bundle/kilnc-$f-2_4-bf16.log"
  done
  # Quantized weights (kilnc --quantize): the runtime's gemms on int8/int4
  # weights and W8A8's int8 ones.
  for f in gpt2_tiny llama_gqa; do
    for q in w8a16 w4a16 w8a8; do
      "$bin/kilnc" "$fixtures/$f" --target cuda --quantize "$q" -o "$bundle/$f-$q.kiln" \
          --max-batch 3 --max-seq 32 2> "$bundle/kilnc-$f-$q.log"
    done
  done
  # Partitioned: tensor parallel 2 with both ranks on the one GPU, and
  # tp 2 x pp 2 (4 ranks): collectives device-to-device.
  "$bin/kilnc" "$fixtures/llama_gqa" --target cuda --tp 2 -o "$bundle/llama_gqa-tp2.kiln" \
      --max-batch 3 --max-seq 32 2> "$bundle/kilnc-llama_gqa-tp2.log"
  "$bin/kilnc" "$fixtures/llama_gqa" --target cuda --tp 2 --pp 2 -o "$bundle/llama_gqa-tp2pp2.kiln" \
      --max-batch 3 --max-seq 32 2> "$bundle/kilnc-llama_gqa-tp2pp2.log"
  # Compiled for one sequence of 2 positions: the golden requests run past
  # both maxima (the device arena laid out again per call shape).
  for f in gpt2_tiny llama_gqa; do
    "$bin/kilnc" "$fixtures/$f" --target cuda -o "$bundle/$f-small.kiln" \
        --max-batch 1 --max-seq 2 2> "$bundle/kilnc-$f-small.log"
  done
  local tmp; tmp="$(mktemp -d)"
  "$PY" "$root/tools/bench_model.py" bert-base "$tmp/bert-base"
  "$bin/kilnc" "$tmp/bert-base" --target cuda --external-weights -o "$bundle/bert-base.kiln" \
      --max-batch 32 --max-seq 128 2> "$bundle/kilnc-bert-base.log"
  "$PY" "$root/tools/bench_model.py" gpt2-small "$tmp/gpt2-small"
  "$bin/kilnc" "$tmp/gpt2-small" --target cuda --external-weights -o "$bundle/gpt2-small.kiln" \
      --max-batch 1 --max-seq 256 2> "$bundle/kilnc-gpt2-small.log"
  "$bin/kilnc" "$tmp/gpt2-small" --target cuda --external-weights --gemm-dtype bf16 \
      -o "$bundle/gpt2-small-bf16.kiln" --max-batch 1 --max-seq 256 2> "$bundle/kilnc-gpt2-small-bf16.log"
  # Pruned 2:4 at load (cuSPARSELt's gemms), bf16 as the dense one above.
  "$bin/kilnc" "$tmp/gpt2-small" --target cuda --external-weights --gemm-dtype bf16 --prune 2:4 \
      -o "$bundle/gpt2-small-2_4-bf16.kiln" --max-batch 1 --max-seq 256 2> "$bundle/kilnc-gpt2-small-2_4-bf16.log"
  # Quantized at load from the same weights (the guardrail's and W8A8's
  # calibration run here, on the weights bench_model.py writes alike there).
  local q
  for q in w8a16 w8a8; do
    "$bin/kilnc" "$tmp/gpt2-small" --target cuda --external-weights --quantize "$q" \
        -o "$bundle/gpt2-small-$q.kiln" --max-batch 1 --max-seq 256 2> "$bundle/kilnc-gpt2-small-$q.log"
  done
  "$bin/kilnc" "$tmp/gpt2-small" --target cuda --external-weights --quantize w4a16 --quant-guard=false \
      -o "$bundle/gpt2-small-w4a16.kiln" --max-batch 1 --max-seq 256 2> "$bundle/kilnc-gpt2-small-w4a16.log"
  "$PY" "$root/tools/bench_model.py" llama-small "$tmp/llama-small"
  "$bin/kilnc" "$tmp/llama-small" --target cuda --external-weights \
      -o "$bundle/llama-small.kiln" --max-batch 1 --max-seq 256 2> "$bundle/kilnc-llama-small.log"
  "$bin/kilnc" "$tmp/llama-small" -O0 --target cuda --external-weights \
      -o "$bundle/llama-small-O0.kiln" --max-batch 1 --max-seq 256 2> "$bundle/kilnc-llama-small-O0.log"
  # Unfused (-O0) builds: what fusion gains, measured in the same run.
  "$bin/kilnc" "$tmp/gpt2-small" -O0 --target cuda --external-weights \
      -o "$bundle/gpt2-small-O0.kiln" --max-batch 1 --max-seq 256 2> "$bundle/kilnc-gpt2-small-O0.log"
  "$bin/kilnc" "$tmp/bert-base" -O0 --target cuda --external-weights -o "$bundle/bert-base-O0.kiln" \
      --max-batch 32 --max-seq 128 2> "$bundle/kilnc-bert-base-O0.log"
  rm -rf "$tmp"
  # What -DKILN_RUNTIME_ONLY needs that the GPU machine lacks.
  local deps="$bundle/deps"
  mkdir -p "$deps/include" "$deps/lib"
  cp -r /usr/include/absl /usr/include/flatbuffers /usr/include/nlohmann /usr/include/xxhash.h /usr/include/utf8proc.h "$deps/include/"
  cp /usr/lib/x86_64-linux-gnu/libabsl_*.a /usr/lib/x86_64-linux-gnu/libutf8proc.a "$deps/lib/"
  # The artifact schema's generated header (the GPU machine has no flatc).
  mkdir -p "$deps/include/artifact"
  cp "$root/build/artifact/include/artifact/Artifact_generated.h" "$deps/include/artifact/"
  du -sh "$bundle"
  echo "gpu-check: bundle ready in $(( $(date +%s) - began )) s; carry build/gpu-bundle and run 'tools/gpu-check.sh run'"
}

# Whether step $1 is selected by GPU_CHECK_STEPS / GPU_CHECK_SKIP (entries
# ending in '-' are prefixes).
selected() {
  local name="$1" entry
  in_list() {
    local IFS=,
    for entry in $1; do
      [ -n "$entry" ] || continue
      if [ "$entry" = "$name" ] || { [ "${entry%-}" != "$entry" ] && [ "${name#"$entry"}" != "$name" ]; }; then
        return 0
      fi
    done
    return 1
  }
  if [ -n "${GPU_CHECK_STEPS:-}" ] && ! in_list "$GPU_CHECK_STEPS"; then return 1; fi
  if [ -n "${GPU_CHECK_SKIP:-}" ] && in_list "$GPU_CHECK_SKIP"; then return 1; fi
  return 0
}

run() {
  if ! command -v nvidia-smi > /dev/null || ! nvidia-smi -L 2> /dev/null | grep -q "^GPU "; then
    echo "gpu-check: no NVIDIA GPU here (nvidia-smi lists none); run this on the GPU machine" >&2
    exit 2
  fi
  [ -d "$bundle" ] || { echo "gpu-check: no $bundle; run 'tools/gpu-check.sh prepare' on the build machine and carry it" >&2; exit 2; }
  local out="${OUT:-$root/build/gpu-results}"
  mkdir -p "$out"
  work="$(mktemp -d)"
  logs="$work/logs"
  mkdir -p "$logs"
  results="$out/results.txt"
  : > "$results"
  # Every log travels back as one file, whatever cut the run short.
  trap 'tar czf "'"$out"'/logs.tgz" -C "'"$work"'" logs 2> /dev/null; rm -rf "'"$work"'"' EXIT
  local budget="${GPU_CHECK_BUDGET:-420}" began; began=$(date +%s)
  local kr="${GPU_CHECK_KILN_RUN:-$bundle/kiln-run}"
  local bench="${GPU_CHECK_BENCH_PY:-$root/tools/gpu_bench.py}"
  local failed=0 fast_fail=0

  record() { echo "$1" | tee -a "$results"; }
  # step NAME SECONDS COMMAND...: runs when selected and the budget allows;
  # rc 0 ok, 3 unavailable (the tool cannot run here), else FAIL.
  step() {
    local name="$1" limit="$2"; shift 2
    selected "$name" || return 0
    local left=$(( budget - ($(date +%s) - began) ))
    if [ "$left" -lt 10 ]; then
      record "$(printf '%-24s skipped: the %ss budget is spent' "$name" "$budget")"
      return 124
    fi
    [ "$limit" -gt "$left" ] && limit="$left"
    local start end rc log="$logs/$name.log"
    start=$(date +%s.%N)
    timeout "$limit" "$@" > "$log" 2>&1
    rc=$?
    end=$(date +%s.%N)
    local verdict="ok"
    case "$rc" in
      0) ;;
      3) verdict="unavailable" ;;
      124) verdict="FAIL (timed out after ${limit}s)"; failed=1 ;;
      *) verdict="FAIL rc=$rc"; failed=1 ;;
    esac
    local last; last="$(grep -v '^\s*$' "$log" | tail -n 2 | tr '\n' ' ' | cut -c1-200)"
    record "$(printf '%-24s %-12s %6.1fs  %s' "$name" "$verdict" "$(awk "BEGIN { print $end - $start }")" "$last")"
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
      echo "--- last 30 lines of $name.log ---"
      tail -n 30 "$log"
      echo "---"
    fi
    return $rc
  }
  bench_step() { # a benchmark: skipped once the basics failed
    if [ "$fast_fail" -eq 1 ]; then
      selected "$1" && record "$(printf '%-24s skipped: the device probe or the GPT-2 fixture failed' "$1")"
      return 0
    fi
    step "$@"
  }

  { nvidia-smi -L; nvidia-smi --query-gpu=driver_version,memory.total,clocks.sm,clocks.mem --format=csv 2> /dev/null; } > "$out/gpu.txt"
  echo "== gpu-check on $(head -1 "$out/gpu.txt") =="
  [ -n "${GPU_CHECK_STEPS:-}" ] && echo "steps selected: $GPU_CHECK_STEPS"

  # cuBLASLt: the toolkit's folders first, then PyTorch's wheels.
  local lib="" dir
  for dir in ${CUDA_HOME:+"$CUDA_HOME/lib64"} /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
      $("$PY" -c "import glob, site; print(' '.join(d for p in site.getsitepackages() for d in sorted(glob.glob(p + '/nvidia/*/lib'))))" 2> /dev/null); do
    if [ -e "$dir/libcublasLt.so.13" ]; then lib="$dir"; break; fi
  done
  if [ -n "$lib" ]; then
    export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    record "$(printf '%-24s %s' find-cublaslt "$lib/libcublasLt.so.13")"
  else
    record "$(printf '%-24s FAIL: no libcublasLt.so.13 in the toolkit folders or PyTorch wheels' find-cublaslt)"
  fi
  # cuSPARSELt (2:4 weights): PyTorch's wheels carry it; without it those
  # weights run dense.
  local sparse_lib
  sparse_lib="$("$PY" -c "import glob, site; d = [g for p in site.getsitepackages() for g in glob.glob(p + '/nvidia/cusparselt/lib')]; print(d[0] if d else '')" 2> /dev/null)"
  if [ -n "$sparse_lib" ] && [ -e "$sparse_lib/libcusparseLt.so.0" ]; then
    export LD_LIBRARY_PATH="$sparse_lib:$LD_LIBRARY_PATH"
    record "$(printf '%-24s %s' find-cusparselt "$sparse_lib/libcusparseLt.so.0")"
  else
    record "$(printf '%-24s none: 2:4 weights run dense' find-cusparselt)"
  fi

  step kiln-run-starts 20 "$kr" --help
  if ! "$kr" --help > /dev/null 2>&1; then
    step build-runtime 240 bash -c "cmake -S '$root' -B '$root/build-gpu' -G Ninja \
        -DCMAKE_BUILD_TYPE=Release -DKILN_RUNTIME_ONLY=ON -DKILN_DEPS_DIR='$bundle/deps' \
        && ninja -C '$root/build-gpu' kiln-run"
    kr="$root/build-gpu/bin/kiln-run"
  fi
  [ -x "$bundle/kiln-cuda-tests" ] && step cuda-tests 60 "$bundle/kiln-cuda-tests"
  step device-probe 30 "$kr" "$bundle/gpt2_tiny.kiln" --device cuda --input-ids 1,2 || fast_fail=1

  # Fixtures: prompt logits against the transformers goldens (fp32 within
  # 1e-3, bf16 gemms within 2e-2) and, for the generating families, the
  # new ids up to the first near-tie, with graphs and without.
  fixture() { # STEP FIXTURE ARTIFACT GRAPHS(on|off) TOLERANCE [FLAGS]
    local name="$1" f="$2" artifact="$3" graphs="$4" tolerance="$5" more="${6:-}"
    local golden="$fixtures/$f/golden.json" output lengths ids types tokens
    read -r output lengths ids types tokens < <("$PY" "$bench" golden "$golden")
    local flags=() check_ids=""
    [ "$types" != - ] && flags+=(--token-type-ids "'$types'")
    [ "$graphs" = off ] && flags+=(--no-cuda-graphs)
    [ -n "$more" ] && flags+=($more)
    if [ "$tokens" -gt 0 ]; then
      flags+=(--max-new-tokens "$tokens" --ignore-eos)
      [ "$tolerance" = 1e-3 ] && check_ids="&& '$PY' '$bench' ids '$work/$name.ids' '$golden' '$work/$name.json' $graphs"
    fi
    step "$name" 60 bash -c "'$kr' '$bundle/$artifact' --device cuda --input-ids '$ids' ${flags[*]} \
        --output '$work/$name.npy' --report '$work/$name.json' > '$work/$name.ids' \
        && cat '$work/$name.ids' && '$PY' '$bench' compare '$work/$name.npy' '$fixtures/$f/$output' $lengths $tolerance $check_ids"
  }
  fixture fixture-gpt2 gpt2_tiny gpt2_tiny.kiln on 1e-3 || fast_fail=1
  if [ "$fast_fail" -eq 1 ] && selected fixture-gpt2; then
    # Again with each step waited for: a fault names its step.
    local ids tokens
    read -r _ _ ids _ tokens < <("$PY" "$bench" golden "$fixtures/gpt2_tiny/golden.json")
    step fixture-gpt2-sync 60 "$kr" "$bundle/gpt2_tiny.kiln" --device cuda --cuda-sync-steps \
        --input-ids "$ids" --max-new-tokens "$tokens" --ignore-eos
  fi
  fixture fixture-gpt2-nographs gpt2_tiny gpt2_tiny.kiln off 1e-3
  fixture fixture-t5 t5_gated t5_gated.kiln on 1e-3
  fixture fixture-t5-nographs t5_gated t5_gated.kiln off 1e-3
  fixture fixture-llama llama_gqa llama_gqa.kiln on 1e-3
  fixture fixture-llama-nographs llama_gqa llama_gqa.kiln off 1e-3
  # Partitioned on the one GPU (no graphs: collectives wait on the host),
  # and what rank 0 puts into collectives per decode step.
  fixture fixture-llama-tp2 llama_gqa llama_gqa-tp2.kiln off 1e-3 "--ranks 2"
  fixture fixture-llama-tp2pp2 llama_gqa llama_gqa-tp2pp2.kiln off 1e-3 "--ranks 4"
  # The same tp 2 with every value through host memory (the path MPI
  # ranks take): its decode time against fixture-llama-tp2's in the logs.
  fixture fixture-llama-tp2-host llama_gqa llama_gqa-tp2.kiln off 1e-3 "--ranks 2 --host-collectives"
  local r
  for r in tp2 tp2pp2 tp2-host; do
    [ -s "$work/fixture-llama-$r.json" ] && record "$(printf '%-24s %s' "collectives-llama-$r" \
        "$("$PY" -c "import json, sys; j = json.load(open(sys.argv[1])); r = j['ranks']; c = j.get('cuda', {}); print(f\"rank 0 moved {r['collective_bytes_rank0_last_call']} B in the last decode step, {r['collective_bytes_rank0']} B in the run; {c.get('device_collectives', '?')} collectives device-to-device, {c.get('host_collectives', '?')} through host memory\")" "$work/fixture-llama-$r.json")")"
  done
  fixture fixture-bert bert_tiny bert_tiny.kiln on 1e-3
  fixture fixture-gpt2-past-maxima gpt2_tiny gpt2_tiny-small.kiln on 1e-3
  fixture fixture-llama-past-maxima llama_gqa llama_gqa-small.kiln on 1e-3
  fixture fixture-gpt2-bf16 gpt2_tiny gpt2_tiny-bf16.kiln on 2e-2
  fixture fixture-bert-bf16 bert_tiny bert_tiny-bf16.kiln on 2e-2
  # Quantized builds, within the CPU builds' bounds (RuntimeGoldenTest).
  local q scheme bound
  # 2:4 bf16 weights on cuSPARSELt, against transformers' pruned model.
  fixture fixture-gpt2-2_4-bf16 ../pruned/gpt2_tiny_2_4 gpt2_tiny-2_4-bf16.kiln on 2e-2
  fixture fixture-llama-2_4-bf16 ../pruned/llama_gqa_2_4 llama_gqa-2_4-bf16.kiln on 2e-2
  for q in "w8a16 3e-2" "w4a16 0.35" "w8a8 6e-2"; do
    read -r scheme bound <<< "$q"
    fixture "fixture-gpt2-$scheme" gpt2_tiny "gpt2_tiny-$scheme.kiln" on "$bound"
    fixture "fixture-llama-$scheme" llama_gqa "llama_gqa-$scheme.kiln" on "$bound"
  done

  # compute-sanitizer's memcheck over prefill and decode (generated and own
  # kernels, cuBLASLt), graphs on as in a normal run. A tool that cannot
  # start here is "unavailable" (rc 3), not a failure of Kiln.
  step memcheck-gpt2 90 bash -c '
    command -v compute-sanitizer > /dev/null || { echo "compute-sanitizer is not installed"; exit 3; }
    compute-sanitizer --tool memcheck --error-exitcode 1 "$1" "$2" --device cuda \
        --input-ids "79,13,27;89,33" --max-new-tokens 3 --ignore-eos > "$3" 2>&1
    rc=$?
    cat "$3"
    grep -qE "Device not supported|Unable to find injection library|LibraryNotLoaded|Target application terminated before first instrumented" "$3" && exit 3
    exit $rc' memcheck "$kr" "$bundle/gpt2_tiny.kiln" "$work/memcheck.txt"

  local prompt; prompt="$("$PY" -c "print(','.join(str(1000 + i) for i in range(128)))")"
  bench_step write-bench-models 120 bash -c "'$PY' '$root/tools/bench_model.py' bert-base '$work/bert-base' && '$PY' '$root/tools/bench_model.py' gpt2-small '$work/gpt2-small' && '$PY' '$root/tools/bench_model.py' llama-small '$work/llama-small'"
  # Most telling first, in case the budget runs out.
  bench_step bandwidth 60 "$PY" "$bench" bandwidth
  bench_step kiln-gpt2 90 "$kr" "$bundle/gpt2-small.kiln" --device cuda --weights "$work/gpt2-small" \
      --input-ids "$prompt" --max-new-tokens 128 --ignore-eos --bench --iters 3
  bench_step kiln-bert 90 "$kr" "$bundle/bert-base.kiln" --device cuda --weights "$work/bert-base" \
      --input-ids "$prompt" --bench --iters 20
  bench_step kiln-bert-b32 90 "$kr" "$bundle/bert-base.kiln" --device cuda --weights "$work/bert-base" \
      --input-ids "$("$PY" -c "print(';'.join(['$prompt'] * 32))")" --bench --iters 20
  bench_step kiln-gpt2-nographs 90 "$kr" "$bundle/gpt2-small.kiln" --device cuda --weights "$work/gpt2-small" \
      --input-ids "$prompt" --max-new-tokens 128 --ignore-eos --bench --iters 3 --no-cuda-graphs
  bench_step kiln-gpt2-bf16 90 "$kr" "$bundle/gpt2-small-bf16.kiln" --device cuda --weights "$work/gpt2-small" \
      --input-ids "$prompt" --max-new-tokens 128 --ignore-eos --bench --iters 3
  bench_step kiln-gpt2-2_4-bf16 90 "$kr" "$bundle/gpt2-small-2_4-bf16.kiln" --device cuda --weights "$work/gpt2-small" \
      --input-ids "$prompt" --max-new-tokens 128 --ignore-eos --bench --iters 3
  for q in w8a16 w4a16 w8a8; do
    bench_step "kiln-gpt2-$q" 90 "$kr" "$bundle/gpt2-small-$q.kiln" --device cuda --weights "$work/gpt2-small" \
        --input-ids "$prompt" --max-new-tokens 128 --ignore-eos --bench --iters 3
  done
  bench_step kiln-gpt2-O0 90 "$kr" "$bundle/gpt2-small-O0.kiln" --device cuda --weights "$work/gpt2-small" \
      --input-ids "$prompt" --max-new-tokens 128 --ignore-eos --bench --iters 3
  bench_step kiln-bert-b32-O0 90 "$kr" "$bundle/bert-base-O0.kiln" --device cuda --weights "$work/bert-base" \
      --input-ids "$("$PY" -c "print(';'.join(['$prompt'] * 32))")" --bench --iters 20
  bench_step kiln-llama 90 "$kr" "$bundle/llama-small.kiln" --device cuda --weights "$work/llama-small" \
      --input-ids "$prompt" --max-new-tokens 128 --ignore-eos --bench --iters 3
  bench_step kiln-llama-O0 90 "$kr" "$bundle/llama-small-O0.kiln" --device cuda --weights "$work/llama-small" \
      --input-ids "$prompt" --max-new-tokens 128 --ignore-eos --bench --iters 3
  # Where the time goes: CUDA events around every step (graphs off, so
  # each step's launch is in its time).
  bench_step profile-gpt2 90 "$kr" "$bundle/gpt2-small.kiln" --device cuda --weights "$work/gpt2-small" \
      --input-ids "$prompt" --max-new-tokens 64 --ignore-eos --profile
  bench_step profile-llama 90 "$kr" "$bundle/llama-small.kiln" --device cuda --weights "$work/llama-small" \
      --input-ids "$prompt" --max-new-tokens 64 --ignore-eos --profile
  bench_step profile-bert-b32 90 "$kr" "$bundle/bert-base.kiln" --device cuda --weights "$work/bert-base" \
      --input-ids "$("$PY" -c "print(';'.join(['$prompt'] * 32))")" --bench --iters 5 --profile
  bench_step torch-gpt2 150 "$PY" "$bench" gpt2 "$work/gpt2-small"
  bench_step torch-bert 200 "$PY" "$bench" bert "$work/bert-base"

  echo "== Kiln vs PyTorch =="
  "$PY" "$bench" table "$logs" | tee "$out/table.txt"
  echo "== gpu-check: $(grep -c ' ok ' "$results") ok, $(grep -c ' FAIL' "$results") failed, $(grep -c ' unavailable ' "$results") unavailable, $(grep -c ' skipped' "$results") skipped in $(( $(date +%s) - began )) s =="
  return $failed
}

case "$mode" in
  prepare) prepare ;;
  run) run; exit $? ;;
  *) echo "usage: tools/gpu-check.sh prepare|run" >&2; exit 2 ;;
esac
