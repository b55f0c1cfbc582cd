#!/usr/bin/env bash
# `pip install .` into a fresh virtual environment, then the installed
# package alone (no build tree on the path, its own kilnc and runtime):
# compile a fixture, generate, and compare with the build's kiln-run.
# Exits 77 (skipped) when pip fails before Kiln's build starts (the package
# index unreachable for scikit-build-core, pybind11 or numpy).
#   test/python/pip-install-check.sh BUILD_DIR
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:?usage: pip-install-check.sh BUILD_DIR}" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv" || { echo "pip-install-check: python3 -m venv failed" >&2; exit 1; }
if ! "$work/venv/bin/pip" install "$root" > "$work/pip.log" 2>&1; then
  # Kiln's own build failing is a failure; pip failing before it (getting
  # scikit-build-core, pybind11 or numpy from the index) is a skip.
  if ! grep -qE "Building wheel for kiln|CMake Error|ninja: build stopped" "$work/pip.log"; then
    echo "pip-install-check: skipped, pip could not get the build requirements: $(grep -iE 'error' "$work/pip.log" | head -1)"
    exit 77
  fi
  tail -40 "$work/pip.log" >&2
  echo "pip-install-check: pip install . failed" >&2
  exit 1
fi
cd "$work"
"$work/venv/bin/python" - "$root/test/golden/fixtures/gpt2_tiny" "$build/bin/kiln-run" <<'PY' || exit 1
import os
import subprocess
import sys

import kiln

fixture, kiln_run = sys.argv[1], sys.argv[2]
assert "site-packages" in kiln.__file__, kiln.__file__
kiln.compile(fixture, "gpt2.kiln", max_batch=2)
tokens = list(kiln.load("gpt2.kiln").generate([79, 13, 27, 58, 19, 24, 33], 6,
                                              ignore_eos=True))
printed = subprocess.run([kiln_run, "gpt2.kiln", "--input-ids", "79,13,27,58,19,24,33",
                          "--max-new-tokens", "6", "--ignore-eos"],
                         capture_output=True, text=True, check=True).stdout.strip()
assert tokens == [int(t) for t in printed.split(",")], (tokens, printed)
print(f"pip-install-check: installed in {os.path.dirname(kiln.__file__)}; "
      f"generated {tokens}, as kiln-run")
PY
