#!/usr/bin/env bash
# clang-tidy-22 (.clang-tidy: naming, include hygiene, a few bug-prone
# patterns) over the libraries without LLVM: support/, artifact/ and
# runtime/, whose translation units are quick to analyse.
#   test/tools/tidy-check.sh BUILD_DIR   (a build with compile_commands.json)
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:?usage: tidy-check.sh BUILD_DIR}" && pwd)"
tidy="$(command -v clang-tidy-22 || echo /usr/lib/llvm-22/bin/clang-tidy)"
[ -x "$tidy" ] || { echo "tidy-check: clang-tidy-22 is not installed (tools/install-deps.sh)" >&2; exit 1; }
cd "$root"
failed=0
for f in support/*.cpp artifact/*.cpp runtime/*.cpp runtime/capi/*.cpp; do
  if ! out="$("$tidy" -p "$build" --quiet "$f" 2>&1)"; then
    echo "$out" | grep -E "error:|warning:" | head -20
    failed=1
  fi
done
[ "$failed" -eq 0 ] && echo "tidy-check: support/, artifact/ and runtime/ are clean"
exit $failed
