/*===- kiln_generate.c - generate text with a compiled model, from C -------===
 *
 *   kiln-generate MODEL.kiln PROMPT [NEW_TOKENS]
 *
 * Loads an artifact whose tokenizer kilnc embedded, encodes PROMPT, and
 * streams the text of NEW_TOKENS greedily generated tokens (default 20, no
 * stop at end-of-sequence) as they come, like
 *   kiln-run MODEL.kiln --prompt PROMPT --max-new-tokens N --ignore-eos
 * Everything goes through kiln/runtime.h.
 *
 *===----------------------------------------------------------------------===*/

#include <kiln/runtime.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const kiln_model *model;
  int64_t tokens[4096];
  size_t count;
  size_t printed; /* bytes of the decoded text already printed */
} Stream;

/* Prints what the newest token added to the decoded text; a character
 * whose bytes are not all out yet (decoded as U+FFFD) waits. */
static int onTokens(const int64_t *tokens, size_t batch, void *userData) {
  Stream *s = userData;
  (void)batch;
  if (tokens[0] < 0 || s->count == sizeof(s->tokens) / sizeof(s->tokens[0]))
    return 1;
  s->tokens[s->count++] = tokens[0];
  char *text = NULL;
  if (kiln_decode(s->model, s->tokens, s->count, &text) != KILN_OK)
    return 0;
  size_t length = strlen(text);
  while (length >= 3 && memcmp(text + length - 3, "\xEF\xBF\xBD", 3) == 0)
    length -= 3;
  if (length > s->printed) {
    fwrite(text + s->printed, 1, length - s->printed, stdout);
    fflush(stdout);
    s->printed = length;
  }
  kiln_free(text);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: kiln-generate MODEL.kiln PROMPT [NEW_TOKENS]\n");
    return 2;
  }
  kiln_model *model = NULL;
  if (kiln_model_load(argv[1], NULL, &model) != KILN_OK) {
    fprintf(stderr, "kiln-generate: %s\n", kiln_last_error());
    return 1;
  }
  int64_t *ids = NULL;
  size_t count = 0;
  if (kiln_encode(model, argv[2], strlen(argv[2]), &ids, &count) != KILN_OK) {
    fprintf(stderr, "kiln-generate: %s\n", kiln_last_error());
    kiln_model_free(model);
    return 1;
  }
  Stream stream = {model, {0}, 0, 0};
  kiln_request request;
  kiln_request_init(&request);
  const int64_t *inputs[1] = {ids};
  size_t lengths[1] = {count};
  request.batch = 1;
  request.input_ids = (const int64_t *const *)inputs;
  request.lengths = lengths;
  request.max_new_tokens = argc > 3 ? atoll(argv[3]) : 20;
  request.ignore_eos = 1;
  request.on_tokens = onTokens;
  request.user_data = &stream;
  kiln_result *result = NULL;
  kiln_status status = kiln_run(model, &request, &result);
  if (status != KILN_OK)
    fprintf(stderr, "kiln-generate: %s\n", kiln_last_error());
  else
    printf("\n");
  kiln_result_free(result);
  kiln_free(ids);
  kiln_model_free(model);
  return status == KILN_OK ? 0 : 1;
}
