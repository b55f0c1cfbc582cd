#!/usr/bin/env bash
# The Python package's tests (test/python) against a build's package
# (BUILD/python), with an interpreter that has numpy and pytest
# (tools/install-deps.sh installs Debian's python3-numpy and python3-pytest
# for /usr/bin/python3; python3 on the PATH may be another one).
#   test/python/run-pytest.sh BUILD_DIR [pytest options]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:?usage: run-pytest.sh BUILD_DIR}" && pwd)"
shift
python=""
for p in python3 /usr/bin/python3; do
  if "$p" -c "import numpy, pytest" 2> /dev/null; then python="$p"; break; fi
done
[ -n "$python" ] || { echo "run-pytest: no python3 with numpy and pytest (tools/install-deps.sh)" >&2; exit 1; }
export PYTHONPATH="$build/python${PYTHONPATH:+:$PYTHONPATH}"
export KILN_TEST_TOOLS_DIR="$build/bin"
cd "$root"
exec "$python" -m pytest -q -p no:cacheprovider test/python "$@"
