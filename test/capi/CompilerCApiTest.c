/*===- CompilerCApiTest.c - kiln/compiler.h and kiln/runtime.h from C -------===
 *
 *   kiln-compiler-capi-test MODEL_DIR OUT.kiln
 *
 * Compiles MODEL_DIR through the compiler's C API with kilnc's options,
 * prints what the report says and what the errors are, then runs the
 * artifact through the runtime's C API (test/lit/tools/capi-compiler.test
 * compares with kilnc and kiln-run).
 *
 *===----------------------------------------------------------------------===*/

#include "kiln/compiler.h"
#include "kiln/runtime.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: kiln-compiler-capi-test MODEL_DIR OUT.kiln\n");
    return 2;
  }
  printf("api version %d\n", kiln_compiler_api_version());
  char *report = NULL, *error = NULL;
  int status = kiln_compile(NULL, argv[2], NULL, &report, &error);
  printf("null: status %d: %s\n", status, error ? error : "");
  kiln_compiler_free(error);
  status = kiln_compile("/nonexistent", argv[2], NULL, &report, &error);
  printf("missing: status %d, report %s: %s\n", status, report ? "set" : "NULL",
         error ? error : "");
  kiln_compiler_free(error);

  kiln_compile_options options;
  kiln_compile_options_init(&options);
  options.max_batch = 0;
  status = kiln_compile(argv[1], argv[2], &options, &report, &error);
  printf("max_batch 0: status %d: %s\n", status, error ? error : "");
  kiln_compiler_free(error);

  options.max_batch = 2;
  options.max_seq = 16;
  status = kiln_compile(argv[1], argv[2], &options, &report, &error);
  printf("compile: status %d, report has artifact_bytes: %s\n", status,
         report && strstr(report, "\"artifact_bytes\"") ? "yes" : "no");
  kiln_compiler_free(report);
  kiln_compiler_free(error);
  if (status != 0)
    return 1;

  kiln_model *model = NULL;
  if (kiln_model_load(argv[2], NULL, &model) != KILN_OK) {
    printf("load: %s\n", kiln_last_error());
    return 1;
  }
  static const int64_t prompt[] = {79, 13, 27, 58, 19, 24, 33};
  const int64_t *ids[1] = {prompt};
  size_t lengths[1] = {7};
  kiln_request request;
  kiln_request_init(&request);
  request.batch = 1;
  request.input_ids = ids;
  request.lengths = lengths;
  request.max_new_tokens = 6;
  request.ignore_eos = 1;
  kiln_result *result = NULL;
  if (kiln_run(model, &request, &result) != KILN_OK) {
    printf("run: %s\n", kiln_last_error());
    return 1;
  }
  size_t count = 0;
  const int64_t *tokens = kiln_result_tokens(result, 0, &count);
  for (size_t t = 0; t < count; ++t)
    printf(t ? ",%lld" : "%lld", (long long)tokens[t]);
  printf("\n");
  kiln_result_free(result);
  kiln_model_free(model);
  return 0;
}
