# lit configuration of Kiln's IR tests.
import os

import lit.formats

config.name = "Kiln"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".mlir", ".test"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py.in"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.kiln_obj_root, "test", "lit")

# Our tools first, then FileCheck/not/count from the LLVM prefix.
path = os.pathsep.join(
    [config.kiln_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", os.environ["PATH"])]
)
config.environment["PATH"] = path
# Every FileCheck run checks that captured variables do not leak across
# CHECK-LABEL blocks, and shows the input when it fails.
config.environment["FILECHECK_OPTS"] = "--enable-var-scope --dump-input=fail"

# The golden fixtures (tiny Hugging Face folders) for tool tests.
config.substitutions.append(
    ("%fixtures", os.path.join(config.kiln_src_root, "test", "golden", "fixtures"))
)

if config.have_cuda_toolkit:
    config.available_features.add("cuda-toolkit")
if config.have_cuda_device:
    config.available_features.add("cuda-device")

# A Python with numpy, for the checks that read .npy files (python3 on the
# PATH may be one without it; tools/install-deps.sh installs Debian's).
import shutil
import subprocess

def _python_with_numpy():
    for candidate in ("python3", "/usr/bin/python3"):
        found = shutil.which(candidate)
        if found and subprocess.call([found, "-c", "import numpy"],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL) == 0:
            return found
    return "python3"

config.substitutions.append(("%python", _python_with_numpy()))
# Where the build puts its shared libraries (libkiln-runtime.so).
config.substitutions.append(("%kiln_lib", os.path.join(config.kiln_obj_root, "lib")))
# The source tree, for tests that inspect it.
config.substitutions.append(("%kiln_src", config.kiln_src_root))
# MPI: mpirun, and the collectives library kiln-run loads under it
# (tools/install-deps.sh installs OpenMPI; without it the MPI tests are
# reported unsupported).
if shutil.which("mpirun") and os.path.exists(
        os.path.join(config.kiln_tools_dir, "libkiln-mpi.so")):
    config.available_features.add("mpi")
