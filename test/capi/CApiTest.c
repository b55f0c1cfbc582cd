/*===- CApiTest.c - kiln/runtime.h from a C program -------------------------===
 *
 *   kiln-capi-test ARTIFACT [TOKENIZED_ARTIFACT]
 *
 * Drives the C API the way an embedding program would, and prints what it
 * saw for FileCheck (test/lit/tools/capi.test): the model's facts, greedy
 * generation of the requests kiln-run.test makes (so the tokens can be
 * compared with kiln-run's), error codes and messages for bad input, a
 * token callback that stops generation, and eight threads running
 * requests at once on one model, each result compared with the same
 * request run alone. With a second artifact that embeds a tokenizer, text
 * goes through kiln_encode and kiln_decode.
 *
 *===----------------------------------------------------------------------===*/

#include "kiln/runtime.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      printf("FAILED: %s (line %d): %s\n", #cond, __LINE__,                    \
             kiln_last_error());                                               \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* Three prompts of the GPT-2 fixture's vocabulary (101 ids). */
static const int64_t prompt0[] = {79, 13, 27, 58, 19, 24, 33};
static const int64_t prompt1[] = {89, 33, 59, 64};
static const int64_t prompt2[] = {5, 6, 7, 8, 9};

typedef struct {
  kiln_model *model;
  const int64_t *ids;
  size_t length;
  size_t logitsCount;
  float *logits; /* the serial run's, to compare with */
  int64_t tokens[8];
  size_t tokenCount;
  int mismatches;
} Job;

/* Runs one sequence greedily for 6 tokens; keeps or compares the result. */
static int runOne(Job *job, int compare) {
  kiln_request request;
  kiln_request_init(&request);
  const int64_t *ids[1] = {job->ids};
  size_t lengths[1] = {job->length};
  request.batch = 1;
  request.input_ids = ids;
  request.lengths = lengths;
  request.max_new_tokens = 6;
  request.ignore_eos = 1;
  kiln_result *result = NULL;
  if (kiln_run(job->model, &request, &result) != KILN_OK)
    return 0;
  const int64_t *shape = NULL;
  size_t rank = 0;
  const float *logits = kiln_result_output(result, 0, &shape, &rank);
  size_t count = 1;
  for (size_t i = 0; i < rank; ++i)
    count *= (size_t)shape[i];
  size_t tokenCount = 0;
  const int64_t *tokens = kiln_result_tokens(result, 0, &tokenCount);
  if (!compare) {
    job->logitsCount = count;
    job->logits = malloc(count * sizeof(float));
    memcpy(job->logits, logits, count * sizeof(float));
    job->tokenCount = tokenCount;
    memcpy(job->tokens, tokens, tokenCount * sizeof(int64_t));
  } else if (count != job->logitsCount ||
             memcmp(logits, job->logits, count * sizeof(float)) != 0 ||
             tokenCount != job->tokenCount ||
             memcmp(tokens, job->tokens, tokenCount * sizeof(int64_t)) != 0) {
    ++job->mismatches;
  }
  kiln_result_free(result);
  return 1;
}

static void *worker(void *arg) {
  Job *job = arg;
  for (int r = 0; r < 4; ++r)
    if (!runOne(job, 1))
      ++job->mismatches;
  return NULL;
}

static int stopAfterTwo(const int64_t *tokens, size_t batch, void *userData) {
  (void)tokens;
  (void)batch;
  int *calls = userData;
  return ++*calls < 2;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: kiln-capi-test ARTIFACT [TOKENIZED_ARTIFACT]\n");
    return 2;
  }
  printf("api version %d\n", kiln_runtime_api_version());

  /* Errors: a code and one message. */
  kiln_model *model = NULL;
  kiln_status status = kiln_model_load("/nonexistent.kiln", NULL, &model);
  printf("missing: status %d, model %s: %s\n", (int)status,
         model ? "set" : "NULL", kiln_last_error());
  kiln_load_options options;
  kiln_load_options_init(&options);
  options.device = "tpu";
  status = kiln_model_load(argv[1], &options, &model);
  printf("device: status %d: %s\n", (int)status, kiln_last_error());

  options.device = "cpu";
  options.threads = 5000;
  status = kiln_model_load(argv[1], &options, &model);
  printf("threads: status %d: %s\n", (int)status, kiln_last_error());
  options.threads = 2;
  CHECK(kiln_model_load(argv[1], &options, &model) == KILN_OK);
  if (!model)
    return 1;
  printf("model %s, vocabulary %lld, encoder %d, tokenizer %d\n",
         kiln_model_family(model), (long long)kiln_model_vocab_size(model),
         kiln_model_is_encoder(model), kiln_model_has_tokenizer(model));
  int64_t *none = NULL;
  size_t noneCount = 0;
  status = kiln_encode(model, "a", 1, &none, &noneCount);
  printf("no tokenizer: status %d\n", (int)status);

  /* The batch kiln-run.test generates from. */
  kiln_request request;
  kiln_request_init(&request);
  const int64_t *ids[2] = {prompt0, prompt1};
  size_t lengths[2] = {7, 4};
  request.batch = 2;
  request.input_ids = ids;
  request.lengths = lengths;
  request.max_new_tokens = 6;
  request.ignore_eos = 1;
  kiln_result *result = NULL;
  CHECK(kiln_run(model, &request, &result) == KILN_OK);
  for (size_t i = 0; i < kiln_result_output_count(result); ++i) {
    const int64_t *shape = NULL;
    size_t rank = 0;
    kiln_result_output(result, i, &shape, &rank);
    printf("output %s [", kiln_result_output_name(result, i));
    for (size_t d = 0; d < rank; ++d)
      printf(d ? ", %lld" : "%lld", (long long)shape[d]);
    printf("]\n");
  }
  for (size_t b = 0; b < 2; ++b) {
    size_t count = 0;
    const int64_t *tokens = kiln_result_tokens(result, b, &count);
    printf("tokens %zu:", b);
    for (size_t t = 0; t < count; ++t)
      printf(t ? ",%lld" : " %lld", (long long)tokens[t]);
    printf("\n");
  }
  kiln_result_free(result);

  /* Bad requests. */
  const int64_t outside[] = {1, 500};
  ids[0] = outside;
  lengths[0] = 2;
  request.batch = 1;
  result = NULL;
  status = kiln_run(model, &request, &result);
  printf("vocabulary: status %d, result %s: %s\n", (int)status,
         result ? "set" : "NULL", kiln_last_error());
  request.batch = 0;
  status = kiln_run(model, &request, &result);
  printf("empty: status %d: %s\n", (int)status, kiln_last_error());
  status = kiln_run(model, NULL, &result);
  printf("null: status %d: %s\n", (int)status, kiln_last_error());

  /* A callback that stops after two steps. */
  ids[0] = prompt0;
  lengths[0] = 7;
  request.batch = 1;
  int calls = 0;
  request.on_tokens = stopAfterTwo;
  request.user_data = &calls;
  status = kiln_run(model, &request, &result);
  size_t stoppedCount = 0;
  kiln_result_tokens(result, 0, &stoppedCount);
  printf("stopped: status %d after %d calls, %zu tokens: %s\n", (int)status,
         calls, stoppedCount, kiln_last_error());
  kiln_result_free(result);

  /* Eight threads, four requests each, against the serial results. */
  Job jobs[8];
  const int64_t *prompts[3] = {prompt0, prompt1, prompt2};
  const size_t promptLengths[3] = {7, 4, 5};
  for (int j = 0; j < 8; ++j) {
    memset(&jobs[j], 0, sizeof(Job));
    jobs[j].model = model;
    jobs[j].ids = prompts[j % 3];
    jobs[j].length = promptLengths[j % 3];
    CHECK(runOne(&jobs[j], 0));
  }
  pthread_t threads[8];
  for (int j = 0; j < 8; ++j)
    pthread_create(&threads[j], NULL, worker, &jobs[j]);
  int mismatches = 0;
  for (int j = 0; j < 8; ++j) {
    pthread_join(threads[j], NULL);
    mismatches += jobs[j].mismatches;
  }
  printf("threads: 8 x 4 requests, %d differ from the serial run\n",
         mismatches);

  if (argc > 2) {
    /* A second artifact while the first is loaded: each keeps its own
     * kernels (the first one's results must not change). */
    kiln_model *first = model;
    CHECK(kiln_model_load(argv[2], NULL, &model) == KILN_OK);
    jobs[0].mismatches = 0;
    jobs[0].model = first;
    runOne(&jobs[0], 1);
    printf("two models: the first one's result %s\n",
           jobs[0].mismatches ? "changed" : "unchanged");
    kiln_model_free(first);
    if (model) {
      const char *text = "Hello, world!";
      int64_t *encoded = NULL;
      size_t count = 0;
      CHECK(kiln_encode(model, text, strlen(text), &encoded, &count) ==
            KILN_OK);
      printf("encoded %zu ids:", count);
      for (size_t i = 0; i < count; ++i)
        printf(i ? ",%lld" : " %lld", (long long)encoded[i]);
      char *decoded = NULL;
      CHECK(kiln_decode(model, encoded, count, &decoded) == KILN_OK);
      printf("\ndecoded: '%s'\n", decoded ? decoded : "");
      kiln_free(decoded);
      kiln_free(encoded);
      status = kiln_encode(model, "\xff", 1, &encoded, &count);
      printf("bad utf-8: status %d: %s\n", (int)status, kiln_last_error());
      int64_t *types = NULL;
      status =
          kiln_encode_pair(model, "a", 1, "b", 1, &encoded, &types, &count);
      printf("no pair template: status %d\n", (int)status);
      kiln_model_free(model);
    }
  } else {
    kiln_model_free(model);
  }
  for (int j = 0; j < 8; ++j)
    free(jobs[j].logits);
  printf("%d failures\n", failures);
  return failures ? 1 : 0;
}
