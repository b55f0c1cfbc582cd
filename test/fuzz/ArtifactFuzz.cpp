//===- ArtifactFuzz.cpp - the artifact reader and load checks on any bytes ===//
//
// Opens the input as a .kiln artifact (header, manifest, blobs, checksums)
// and, when it is accepted, runs the checks an executor makes before it
// loads anything (target, entries, steps, buffers, caches): a damaged
// artifact must be one clear error, never a crash.
//
//===----------------------------------------------------------------------===//

#include "artifact/Artifact.h"
#include "runtime/ManifestChecks.h"
#include "test/fuzz/FuzzInput.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto artifact =
      kiln::Artifact::open(kiln::fuzz::asFile(data, size, "model.kiln"));
  if (!artifact.ok())
    return 0;
  (void)kiln::rt::checkArtifact(**artifact, "cpu", "the CPU");
  (void)kiln::rt::cacheArguments(**artifact);
  return 0;
}
