/*===- kiln/runtime.h - Kiln's runtime as a C library ----------------------===
 *
 * Load a .kiln artifact, run it, generate with it, tokenize with the
 * tokenizer kilnc embedded: the C interface of libkiln-runtime.so, for
 * programs in any language. It is the thin layer: every call forwards to
 * the C++ runtime (runtime/Driver.h, runtime/CpuExecutor.h) that kiln-run
 * uses, so its results and error messages are kiln-run's. The library
 * links no LLVM, MLIR or CUDA library (the CUDA driver and cuBLASLt are
 * opened at run time, like kiln-run does) and exports only kiln_* symbols.
 *
 * Errors: a call that fails returns a kiln_status other than KILN_OK (the
 * canonical codes, numbered as gRPC and Abseil number them) and leaves its
 * message for kiln_last_error() on the calling thread.
 *
 * Threads: a kiln_model may be shared by any number of threads, and
 * kiln_run may be called from several at once. Each call runs on an
 * executor of its own (its own arena, kv caches and scratch), taken from
 * the model's idle ones or made for it, so concurrent requests neither
 * wait for nor disturb each other, and each gives what it gives alone.
 * The weights are mapped once and shared; each executor has its own CPU
 * threads (kiln_load_options.threads), so N concurrent requests use N
 * times as many threads.
 *
 *===----------------------------------------------------------------------===*/

#ifndef KILN_RUNTIME_H
#define KILN_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KILN_API __attribute__((visibility("default")))
#else
#define KILN_API
#endif

/* Bumped when a declaration here changes incompatibly. */
#define KILN_RUNTIME_API_VERSION 1
KILN_API int kiln_runtime_api_version(void);

typedef enum kiln_status {
  KILN_OK = 0,
  KILN_CANCELLED = 1,           /* the token callback stopped generation */
  KILN_INVALID_ARGUMENT = 3,    /* a bad request, option or input */
  KILN_NOT_FOUND = 5,           /* a file or entry point that is not there */
  KILN_RESOURCE_EXHAUSTED = 8,  /* memory (the message gives the bytes) */
  KILN_FAILED_PRECONDITION = 9, /* e.g. text given, no tokenizer embedded */
  KILN_OUT_OF_RANGE = 11,       /* past the model's position limit */
  KILN_UNIMPLEMENTED = 12,
  KILN_INTERNAL = 13,
  KILN_UNAVAILABLE = 14, /* no CUDA driver or device */
  KILN_DATA_LOSS = 15    /* a damaged artifact or weights file */
} kiln_status;

/* The message of this thread's last failed kiln_* call ("" if none); valid
 * until this thread's next kiln_* call. */
KILN_API const char *kiln_last_error(void);

/* Frees what a kiln_* call allocated for the caller (ids, text). */
KILN_API void kiln_free(void *pointer);

/*===--- Loading
 * -----------------------------------------------------------===*/

typedef struct kiln_model kiln_model;

typedef struct kiln_load_options {
  const char *device;      /* "cpu" (NULL: "cpu") or "cuda" */
  int32_t threads;         /* CPU threads per request; 0: one per core */
  const char *weights_dir; /* the model folder, for an artifact compiled
                              with --external-weights; else NULL */
} kiln_load_options;

KILN_API void kiln_load_options_init(kiln_load_options *options);

/* Opens and checks the artifact at `path` and makes one executor (weights
 * loaded, kernels ready). `options` may be NULL. */
KILN_API kiln_status kiln_model_load(const char *path,
                                     const kiln_load_options *options,
                                     kiln_model **model);
KILN_API void kiln_model_free(kiln_model *model);

/* "gpt2", "bert", "roberta", "t5" or "llama". */
KILN_API const char *kiln_model_family(const kiln_model *model);
KILN_API int64_t kiln_model_vocab_size(const kiln_model *model);
/* 1 for encoders (BERT, RoBERTa: no generation), else 0. */
KILN_API int kiln_model_is_encoder(const kiln_model *model);
/* 1 if kilnc embedded a tokenizer (kiln_encode, kiln_decode work). */
KILN_API int kiln_model_has_tokenizer(const kiln_model *model);

/*===--- Text
 * --------------------------------------------------------------===*/

/* The ids of UTF-8 `text` (special tokens added as the tokenizer's
 * post-processor says); *ids is freed with kiln_free. */
KILN_API kiln_status kiln_encode(const kiln_model *model, const char *text,
                                 size_t text_bytes, int64_t **ids,
                                 size_t *count);
/* A pair of texts as the tokenizer's pair template joins them (BERT:
 * [CLS] first [SEP] second [SEP]), with each token's type id (for
 * kiln_request.token_type_ids); *ids and *type_ids are freed with
 * kiln_free. KILN_FAILED_PRECONDITION if the tokenizer has no pair form. */
KILN_API kiln_status kiln_encode_pair(const kiln_model *model,
                                      const char *first, size_t first_bytes,
                                      const char *second, size_t second_bytes,
                                      int64_t **ids, int64_t **type_ids,
                                      size_t *count);
/* The text of `ids` (special tokens skipped), NUL-terminated; *text is
 * freed with kiln_free. */
KILN_API kiln_status kiln_decode(const kiln_model *model, const int64_t *ids,
                                 size_t count, char **text);

/*===--- Running
 * -----------------------------------------------------------===*/

/* Called once per generation step with the token each of the `batch`
 * sequences gained (-1 for one that already ended). Return nonzero to go
 * on, 0 to stop there (kiln_run then returns KILN_CANCELLED and the result
 * holds what was generated). */
typedef int (*kiln_token_callback)(const int64_t *tokens, size_t batch,
                                   void *user_data);

typedef struct kiln_request {
  size_t batch;                         /* sequences */
  const int64_t *const *input_ids;      /* batch arrays of ids, unpadded */
  const size_t *lengths;                /* their lengths */
  const int64_t *const *token_type_ids; /* NULL, or like input_ids (BERT) */
  int64_t max_new_tokens;               /* decoders and T5; 0 for one pass */
  int ignore_eos;
  int sample;         /* 0: greedy; else top_k / top_p / temperature */
  int64_t top_k;      /* 0: no top-k filter */
  double top_p;       /* 1: no top-p filter */
  double temperature; /* 1: the model's distribution */
  uint64_t seed;
  kiln_token_callback on_tokens; /* may be NULL */
  void *user_data;
} kiln_request;

KILN_API void kiln_request_init(kiln_request *request);

typedef struct kiln_result kiln_result;

/* Runs `request`: the model's outputs and, with max_new_tokens, the
 * generated tokens. On KILN_OK or KILN_CANCELLED, *result is set and freed
 * with kiln_result_free. */
KILN_API kiln_status kiln_run(kiln_model *model, const kiln_request *request,
                              kiln_result **result);

/* Named outputs (logits, last_hidden_state, ...), the first being the
 * primary one; values are float32, row-major, `rank` dims in *shape. */
KILN_API size_t kiln_result_output_count(const kiln_result *result);
KILN_API const char *kiln_result_output_name(const kiln_result *result,
                                             size_t index);
KILN_API const float *kiln_result_output(const kiln_result *result,
                                         size_t index, const int64_t **shape,
                                         size_t *rank);
/* The tokens sequence `sequence` gained (eos included when it stopped at
 * one). */
KILN_API const int64_t *kiln_result_tokens(const kiln_result *result,
                                           size_t sequence, size_t *count);
KILN_API void kiln_result_free(kiln_result *result);

#ifdef __cplusplus
}
#endif

#endif /* KILN_RUNTIME_H */
