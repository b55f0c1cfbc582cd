#!/usr/bin/env bash
# `cmake --install` of a build into a scratch prefix, then examples/embed
# configured against that prefix alone (find_package(Kiln), no Kiln source
# or build tree) and built: its kiln-compile (Kiln::compiler) must write
# the artifact the installed kilnc writes, and its kiln-generate
# (Kiln::runtime) must stream the text the installed kiln-run --prompt
# prints for the same prompt.
#   test/tools/install-check.sh BUILD_DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:?usage: install-check.sh BUILD_DIR}" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
for f in bin/kilnc bin/kiln-run include/kiln/runtime.h lib/libkiln-runtime.so \
         include/kiln/compiler.h lib/libkiln-compiler.so \
         lib/cmake/Kiln/KilnConfig.cmake lib/cmake/Kiln/KilnRuntimeTargets.cmake \
         lib/cmake/Kiln/KilnCompilerTargets.cmake; do
  [ -e "$prefix/$f" ] || { echo "install-check: $f was not installed" >&2; exit 1; }
done
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
if ! cmake -S "$root/examples/embed" -B "$work/example" "${generator[@]}" \
     -DCMAKE_PREFIX_PATH="$prefix" > "$work/configure.log" 2>&1 ||
   ! cmake --build "$work/example" > "$work/build.log" 2>&1; then
  cat "$work/configure.log" "$work/build.log" 2>/dev/null >&2
  echo "install-check: examples/embed does not build against the installed package" >&2
  exit 1
fi
cp -r "$root/test/golden/fixtures/gpt2_tiny" "$work/gpt2"
cp "$root/test/lit/tools/Inputs/tiny-tokenizer.json" "$work/gpt2/tokenizer.json"
"$prefix/bin/kilnc" "$work/gpt2" -o "$work/kilnc.kiln" 2> "$work/kilnc.log"
"$work/example/kiln-compile" "$work/gpt2" "$work/gpt2.kiln" > "$work/report.json"
cmp "$work/gpt2.kiln" "$work/kilnc.kiln" ||
  { echo "install-check: kiln-compile and kilnc wrote different artifacts" >&2; exit 1; }
prompt="Kiln compiles models fast!"
got="$("$work/example/kiln-generate" "$work/gpt2.kiln" "$prompt" 12)"
want="$("$prefix/bin/kiln-run" "$work/gpt2.kiln" --prompt "$prompt" --max-new-tokens 12 --ignore-eos)"
if [ "$got" != "$want" ]; then
  echo "install-check: kiln-generate printed '$got', kiln-run '$want'" >&2
  exit 1
fi
# A missing component is an error of find_package, not of the build.
mkdir -p "$work/missing"
cat > "$work/missing/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.20)
project(missing LANGUAGES C)
find_package(Kiln REQUIRED COMPONENTS nonesuch)
CMAKE
if cmake -S "$work/missing" -B "$work/missing/build" -DCMAKE_PREFIX_PATH="$prefix" > "$work/missing.log" 2>&1; then
  echo "install-check: find_package(Kiln COMPONENTS nonesuch) succeeded" >&2
  exit 1
fi
echo "install-check: installed to a prefix; examples/embed built against it, compiled the artifact kilnc compiles and printed: $got"
