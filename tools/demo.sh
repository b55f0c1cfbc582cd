#!/usr/bin/env bash
# The demo behind `make demo`: compile two committed Hugging Face fixtures
# (tiny random-weight GPT-2 and BERT, test/golden/fixtures) with kilnc into
# .kiln artifacts, run them with kiln-run on the CPU, and print the outputs,
# the timings and the error against the outputs transformers computed.
#   tools/demo.sh [BUILD_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
bin="$build/bin"
fixtures="$root/test/golden/fixtures"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
seconds() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$@"; }
golden() { python3 -c "import json, sys; g = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$fixtures/$1/golden.json" "$2"; }

echo "== GPT-2 (gpt2_tiny): compile, then generate 6 tokens greedily =="
start=$(date +%s.%N)
"$bin/kilnc" "$fixtures/gpt2_tiny" -o "$work/gpt2.kiln" --max-batch 4 --max-seq 64 2> "$work/kilnc-gpt2.log"
echo "kilnc: $(seconds "$start" "$(date +%s.%N)") s -> $(du -h "$work/gpt2.kiln" | cut -f1) artifact"
"$bin/kiln-run" "$work/gpt2.kiln" --info | sed -n '2,6p'
prompts="79,13,27,58,19,24,33;89,33,59,64"
echo "prompts:        $prompts"
start=$(date +%s.%N)
"$bin/kiln-run" "$work/gpt2.kiln" --input-ids "$prompts" --max-new-tokens 6 \
    --ignore-eos --output "$work/gpt2-logits.npy" > "$work/gpt2-tokens.txt"
echo "kiln-run:       $(seconds "$start" "$(date +%s.%N)") s (load, prefill, 5 decode steps)"
echo "new tokens:     $(paste -sd ';' "$work/gpt2-tokens.txt")"
echo "transformers:   $(golden gpt2_tiny "';'.join(','.join(map(str, s)) for s in g['generate']['ids'])")"
echo -n "prompt logits vs transformers: "
"$bin/npy-diff" "$work/gpt2-logits.npy" "$fixtures/gpt2_tiny/logits.npy" --lengths 7,4
"$bin/kiln-run" "$work/gpt2.kiln" --input-ids "$prompts" --max-new-tokens 6 \
    --ignore-eos --bench --warmup 1 --iters 5 | sed -n '3,6p'

echo
echo "== BERT (bert_tiny): compile, then one encoder pass =="
start=$(date +%s.%N)
"$bin/kilnc" "$fixtures/bert_tiny" -o "$work/bert.kiln" --max-batch 4 --max-seq 64 2> "$work/kilnc-bert.log"
echo "kilnc: $(seconds "$start" "$(date +%s.%N)") s -> $(du -h "$work/bert.kiln" | cut -f1) artifact"
start=$(date +%s.%N)
"$bin/kiln-run" "$work/bert.kiln" --input-ids "90,47,9,78,69,57,74,100,89;6,96,6,12,4" \
    --token-type-ids "0,0,0,0,1,1,1,1,1;0,0,1,1,1" --output-dir "$work/bert"
echo "kiln-run:       $(seconds "$start" "$(date +%s.%N)") s (load and one pass, batch 2)"
python3 - "$work/bert/pooler_output.npy" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
header = data[10:10 + struct.unpack("<H", data[8:10])[0]].decode()
values = struct.unpack(f"<{(len(data) - 10 - len(header)) // 4}f", data[10 + len(header):])
print("pooler_output[0][:6]:", " ".join(f"{v:+.4f}" for v in values[:6]))
PY
for output in last_hidden_state pooler_output; do
  echo -n "$output vs transformers: "
  lengths=""
  [ "$output" = last_hidden_state ] && lengths="--lengths 9,5"
  "$bin/npy-diff" "$work/bert/$output.npy" "$fixtures/bert_tiny/$output.npy" $lengths
done
if command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1; then
  echo
  echo "(a GPU is present, but the CUDA backend is not built yet: CPU only)"
fi
