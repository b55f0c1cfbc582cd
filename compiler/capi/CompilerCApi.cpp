//===- CompilerCApi.cpp - kiln/compiler.h over compileModel ---------------===//
//
// Fills CompileOptions as kilnc does (the reference run for the fp16 range
// guard and the quantization guardrail included) and returns the report or
// the error as a malloc'ed string. No exception crosses the C boundary.
//
//===----------------------------------------------------------------------===//

#include "kiln/compiler.h"

#include "compiler/Compile.h"
#include "compiler/ReferenceRun.h"

#include "absl/status/status.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string>

namespace {

char *copyOut(const std::string &text) {
  char *out = static_cast<char *>(std::malloc(text.size() + 1));
  if (out)
    std::memcpy(out, text.c_str(), text.size() + 1);
  return out;
}

int fail(char **error, int code, const std::string &message) {
  if (error)
    *error = copyOut(message);
  return code;
}

} // namespace

extern "C" {

int kiln_compiler_api_version(void) { return KILN_COMPILER_API_VERSION; }

void kiln_compile_options_init(kiln_compile_options *options) {
  if (!options)
    return;
  kiln::CompileOptions defaults;
  *options = kiln_compile_options{nullptr,
                                  nullptr,
                                  nullptr,
                                  nullptr,
                                  defaults.maxBatch,
                                  defaults.maxSeq,
                                  static_cast<int32_t>(defaults.optLevel),
                                  0};
}

int kiln_compile(const char *model_dir, const char *output,
                 const kiln_compile_options *options, char **report_json,
                 char **error) {
  if (report_json)
    *report_json = nullptr;
  if (error)
    *error = nullptr;
  if (!model_dir || !output)
    return fail(error, static_cast<int>(absl::StatusCode::kInvalidArgument),
                "kiln_compile: model_dir and output must not be NULL");
  try {
    kiln_compile_options o;
    kiln_compile_options_init(&o);
    if (options)
      o = *options;
    kiln::CompileOptions c;
    c.modelDir = model_dir;
    c.output = output;
    auto set = [](std::string &field, const char *value) {
      if (value)
        field = value;
    };
    set(c.target, o.target);
    set(c.precision, o.precision);
    set(c.quantize, o.quantize);
    set(c.prune, o.prune);
    c.maxBatch = o.max_batch;
    c.maxSeq = o.max_seq;
    c.optLevel = o.opt_level;
    c.externalWeights = o.external_weights != 0;
    c.recordRanges = kiln::recordValueRanges;
    c.recordQuantErrors = kiln::recordQuantErrors;
    c.recordInputNorms = kiln::recordInputNorms;
    auto report = kiln::compileModel(c);
    if (!report.ok())
      return fail(error, static_cast<int>(report.status().code()),
                  std::string(report.status().message()));
    if (report_json)
      *report_json = copyOut(report->json);
    return 0;
  } catch (const std::bad_alloc &) {
    return fail(error, static_cast<int>(absl::StatusCode::kResourceExhausted),
                "out of memory");
  } catch (const std::exception &e) {
    return fail(error, static_cast<int>(absl::StatusCode::kInternal), e.what());
  }
}

void kiln_compiler_free(void *pointer) { std::free(pointer); }

} // extern "C"
