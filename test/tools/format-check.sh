#!/usr/bin/env bash
# Every tracked C++ and CUDA source is formatted as LLVM 22's clang-format
# formats it (.clang-format); prints the first differences otherwise. Fix
# with: git ls-files '*.cpp' '*.h' '*.cu' | xargs clang-format-22 -i
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
format="$(command -v clang-format-22 || echo /usr/lib/llvm-22/bin/clang-format)"
[ -x "$format" ] || { echo "format-check: clang-format-22 is not installed (tools/install-deps.sh)" >&2; exit 1; }
cd "$root"
files=$(git ls-files '*.cpp' '*.h' '*.cu')
if ! out="$(echo "$files" | xargs "$format" --dry-run --Werror 2>&1)"; then
  echo "$out" | head -40
  echo "format-check: $(echo "$out" | grep -c 'error:') places differ from clang-format-22's layout" >&2
  exit 1
fi
echo "format-check: $(echo "$files" | wc -l) files formatted"
