//===- CompiledFixture.h - golden fixtures compiled in process (tests) ----===//
//
// A test that needs a fixture as a .kiln compiles it with compileModel
// (compiler/Compile.h), the library kilnc calls, once per test binary and
// set of options; the files go under the test temp dir and are removed
// when the binary exits. KILN_GOLDEN_DIR names the fixtures' folder.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TEST_SUPPORT_COMPILEDFIXTURE_H
#define KILN_TEST_SUPPORT_COMPILEDFIXTURE_H

#include "compiler/Compile.h"
#include "compiler/ReferenceRun.h"

#include "absl/strings/str_join.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

namespace kiln::test {

/// The artifact of `fixture` compiled with `options` (its modelDir and
/// output are filled in here), or an error naming the options.
inline absl::StatusOr<std::string> compiledFixture(const std::string &fixture,
                                                   CompileOptions options) {
  struct Cache {
    std::map<std::string, std::string> paths;
    ~Cache() {
      for (const auto &[key, path] : paths)
        std::remove(path.c_str());
    }
  };
  static Cache cache;
  std::string key =
      fixture + " --target " + options.target + " --gemm-dtype " +
      options.gemmDtype + " --precision " + options.precision + " --keep-f32 " +
      absl::StrJoin(options.keepF32, ",") +
      (options.rangeGuard ? "" : " --range-guard=false") + " --quantize " +
      options.quantize + " --quant-group " +
      std::to_string(options.quantGroup) +
      (options.quantGuard ? "" : " --quant-guard=false") +
      " --quant-tolerance " + std::to_string(options.quantTolerance) +
      " --max-batch " + std::to_string(options.maxBatch) + " --max-seq " +
      std::to_string(options.maxSeq) + " --emulate-gpu-threads " +
      std::to_string(options.emulateGpuThreads) + " -O" +
      std::to_string(options.optLevel) + " --cpu " +
      absl::StrJoin(options.cpus, ",") +
      (options.externalWeights ? " --external-weights" : "") + " --prune " +
      options.prune + " --prune-scope " + options.pruneScope + " --tp " +
      std::to_string(options.tp) + " --pp " + std::to_string(options.pp) +
      " --dp " + std::to_string(options.dp);
  for (const std::vector<int64_t> &ids : options.calibrationIds)
    key += " --calibration " + absl::StrJoin(ids, ",");
  if (auto found = cache.paths.find(key); found != cache.paths.end())
    return found->second;
  options.modelDir = std::string(KILN_GOLDEN_DIR) + "/" + fixture;
  options.output = ::testing::TempDir() + "kiln-fixture-" +
                   std::to_string(::getpid()) + "-" +
                   std::to_string(cache.paths.size()) + ".kiln";
  options.emit = "kiln";
  options.recordRanges = recordValueRanges;      // the fp16 range guard
  options.recordQuantErrors = recordQuantErrors; // the quantization guardrail
  options.recordInputNorms = recordInputNorms;   // activation-aware pruning
  auto report = compileModel(options);
  if (!report.ok())
    return absl::Status(report.status().code(),
                        key + ": " + std::string(report.status().message()));
  cache.paths[key] = options.output;
  return options.output;
}

} // namespace kiln::test

#endif // KILN_TEST_SUPPORT_COMPILEDFIXTURE_H
