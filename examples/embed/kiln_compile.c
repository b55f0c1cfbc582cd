/*===- kiln_compile.c - compile a Hugging Face folder, from C ---------------===
 *
 *   kiln-compile MODEL_DIR OUT.kiln [MAX_BATCH]
 *
 * What `kilnc MODEL_DIR -o OUT.kiln --max-batch N --report -` does, through
 * kiln/compiler.h (Kiln::compiler): the artifact, and kilnc's report on
 * standard output.
 *
 *===----------------------------------------------------------------------===*/

#include <kiln/compiler.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: kiln-compile MODEL_DIR OUT.kiln [MAX_BATCH]\n");
    return 2;
  }
  kiln_compile_options options;
  kiln_compile_options_init(&options);
  if (argc > 3)
    options.max_batch = atoll(argv[3]);
  char *report = NULL, *error = NULL;
  int status = kiln_compile(argv[1], argv[2], &options, &report, &error);
  if (status != 0)
    fprintf(stderr, "kiln-compile: %s\n", error);
  else
    printf("%s\n", report);
  kiln_compiler_free(report);
  kiln_compiler_free(error);
  return status == 0 ? 0 : 1;
}
