/*===- kiln/compiler.h - Kiln's compiler as a C library --------------------===
 *
 * Compile a Hugging Face model folder into a .kiln artifact, as kilnc does,
 * from any language: the C interface of libkiln-compiler.so. It is the thin
 * layer over compileModel (compiler/Compile.h), the call kilnc makes, so
 * the artifact and the report are kilnc's. The library links the LLVM and
 * MLIR 22 shared libraries (Kiln::runtime, to run what it writes, links
 * neither) and exports only kiln_compile* symbols.
 *
 * Threads: compiles may run on several threads at once (each has its own
 * MLIR context).
 *
 *===----------------------------------------------------------------------===*/

#ifndef KILN_COMPILER_H
#define KILN_COMPILER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KILN_COMPILER_API __attribute__((visibility("default")))
#else
#define KILN_COMPILER_API
#endif

#define KILN_COMPILER_API_VERSION 1
KILN_COMPILER_API int kiln_compiler_api_version(void);

/* kilnc's options; kiln_compile_options_init sets kilnc's defaults. A NULL
 * string is the default. */
typedef struct kiln_compile_options {
  const char *target;    /* "cpu" or "cuda" */
  const char *precision; /* "fp32", "bf16" or "fp16" */
  const char *quantize;  /* "none", "w8a16", "w4a16", "w8a8" */
  const char *prune;     /* "none", or e.g. "2:4", "ffn:0.25,2:4" */
  int64_t max_batch;     /* a preallocation hint (the runtime goes past it) */
  int64_t max_seq;       /* 0: the model's position limit, or 512 */
  int32_t opt_level;     /* 0: no graph optimization; 1: fusion */
  int32_t external_weights; /* nonzero: leave the weights out, record hashes */
} kiln_compile_options;

KILN_COMPILER_API void kiln_compile_options_init(kiln_compile_options *options);

/* Compiles `model_dir` into the artifact `output`. Returns 0, or a
 * canonical status code (as kiln/runtime.h numbers them: 3 invalid argument,
 * 5 not found, ...) with *error set to kilnc's message. On success
 * *report_json (if not NULL) is kilnc --report's JSON. Both strings are
 * freed with kiln_compiler_free. `options` may be NULL. */
KILN_COMPILER_API int kiln_compile(const char *model_dir, const char *output,
                                   const kiln_compile_options *options,
                                   char **report_json, char **error);

KILN_COMPILER_API void kiln_compiler_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif /* KILN_COMPILER_H */
