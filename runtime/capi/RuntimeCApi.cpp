//===- RuntimeCApi.cpp - kiln/runtime.h over the C++ runtime --------------===//
//
// Each call converts its C arguments, calls the runtime (Artifact::open,
// the executors, runModel, the embedded tokenizer) and turns an
// absl::Status into a kiln_status plus this thread's message. No
// exception crosses the C boundary.
//
//===----------------------------------------------------------------------===//

#include "kiln/runtime.h"

#include "artifact/Artifact.h"
#include "artifact/Family.h"
#include "artifact/ModelInfo.h"
#include "runtime/CpuExecutor.h"
#include "runtime/Driver.h"
#include "runtime/Executor.h"
#include "runtime/ModelTokenizer.h"
#include "runtime/Tensor.h"
#include "support/Tokenizer.h"
#ifdef KILN_CUDA_EXECUTOR
#include "runtime/CudaDriver.h"
#include "runtime/CudaExecutor.h"
#endif

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace rt = kiln::rt;

struct kiln_model {
  std::unique_ptr<kiln::Artifact> artifact;
  kiln::ModelInfo info;
  std::string device;
  rt::CpuOptions cpu;
#ifdef KILN_CUDA_EXECUTOR
  std::shared_ptr<rt::CudaDriver> cudaDriver;
#endif
  std::unique_ptr<kiln::Tokenizer> tokenizer; // null: none embedded
  std::mutex mutex;
  std::vector<std::unique_ptr<rt::Executor>> idle;
};

struct kiln_result {
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<std::vector<float>> values;
  std::vector<std::vector<int64_t>> tokens;
};

namespace {

thread_local std::string lastError;

kiln_status fail(const absl::Status &status) {
  lastError = std::string(status.message());
  return static_cast<kiln_status>(status.code());
}

kiln_status fail(kiln_status code, std::string message) {
  lastError = std::move(message);
  return code;
}

/// Runs `body`, turning an exception into a status.
template <typename Body> kiln_status guarded(Body &&body) {
  lastError.clear();
  try {
    return body();
  } catch (const std::bad_alloc &) {
    return fail(KILN_RESOURCE_EXHAUSTED, "out of memory");
  } catch (const std::exception &e) {
    return fail(KILN_INTERNAL, e.what());
  }
}

absl::StatusOr<std::unique_ptr<rt::Executor>> makeExecutor(kiln_model &m) {
  if (m.device == "cpu") {
    auto created = rt::CpuExecutor::create(*m.artifact, m.cpu);
    if (!created.ok())
      return created.status();
    return std::unique_ptr<rt::Executor>(std::move(*created));
  }
#ifdef KILN_CUDA_EXECUTOR
  rt::CudaOptions cuda;
  cuda.weightsDir = m.cpu.weightsDir;
  cuda.driver = m.cudaDriver;
  auto created = rt::CudaExecutor::create(*m.artifact, cuda);
  if (!created.ok())
    return created.status();
  return std::unique_ptr<rt::Executor>(std::move(*created));
#else
  return absl::UnavailableError(
      "device cuda: this library was built without the CUDA executor");
#endif
}

/// The error of a text call on a model whose artifact has no tokenizer
/// (the runtime's own message, saying why).
kiln_status noTokenizer(const kiln_model &m) {
  return fail(rt::modelTokenizer(*m.artifact).status());
}

/// An executor of the model's for one request: an idle one, or a new one.
class Lease {
public:
  explicit Lease(kiln_model &m) : model_(m) {}
  ~Lease() {
    if (executor_) {
      std::lock_guard<std::mutex> lock(model_.mutex);
      model_.idle.push_back(std::move(executor_));
    }
  }
  absl::StatusOr<rt::Executor *> take() {
    {
      std::lock_guard<std::mutex> lock(model_.mutex);
      if (!model_.idle.empty()) {
        executor_ = std::move(model_.idle.back());
        model_.idle.pop_back();
        return executor_.get();
      }
    }
    auto made = makeExecutor(model_);
    if (!made.ok())
      return made.status();
    executor_ = std::move(*made);
    return executor_.get();
  }

private:
  kiln_model &model_;
  std::unique_ptr<rt::Executor> executor_;
};

template <typename T> T *copyOut(const std::vector<T> &values) {
  auto *out = static_cast<T *>(
      std::malloc(std::max<size_t>(values.size(), 1) * sizeof(T)));
  if (!out)
    throw std::bad_alloc();
  if (!values.empty())
    std::memcpy(out, values.data(), values.size() * sizeof(T));
  return out;
}

} // namespace

extern "C" {

int kiln_runtime_api_version(void) { return KILN_RUNTIME_API_VERSION; }

const char *kiln_last_error(void) { return lastError.c_str(); }

void kiln_free(void *pointer) { std::free(pointer); }

void kiln_load_options_init(kiln_load_options *options) {
  if (options)
    *options = kiln_load_options{nullptr, 0, nullptr};
}

kiln_status kiln_model_load(const char *path, const kiln_load_options *options,
                            kiln_model **model) {
  return guarded([&]() -> kiln_status {
    if (!path || !model)
      return fail(KILN_INVALID_ARGUMENT,
                  "kiln_model_load: path and model must not be NULL");
    *model = nullptr;
    kiln_load_options o;
    kiln_load_options_init(&o);
    if (options)
      o = *options;
    auto m = std::make_unique<kiln_model>();
    m->device = o.device ? o.device : "cpu";
    if (m->device != "cpu" && m->device != "cuda")
      return fail(KILN_INVALID_ARGUMENT,
                  "device must be cpu or cuda, got '" + m->device + "'");
    if (o.threads < 0 || o.threads > 1024)
      return fail(KILN_INVALID_ARGUMENT,
                  absl::StrCat("threads must be 0 (one per core) to 1024, got ",
                               o.threads));
    m->cpu.threads = o.threads;
    m->cpu.weightsDir = o.weights_dir ? o.weights_dir : "";
    auto artifact = kiln::Artifact::open(path);
    if (!artifact.ok())
      return fail(artifact.status());
    m->artifact = std::move(*artifact);
    auto info = kiln::fromArtifact(m->artifact->manifest().model.get());
    if (!info.ok())
      return fail(info.status());
    m->info = std::move(*info);
#ifdef KILN_CUDA_EXECUTOR
    if (m->device == "cuda") {
      auto driver = rt::CudaDriver::load();
      if (!driver.ok())
        return fail(driver.status());
      m->cudaDriver = std::move(*driver);
    }
#endif
    if (m->artifact->manifest().tokenizer >= 0) {
      auto tokenizer = rt::modelTokenizer(*m->artifact);
      if (!tokenizer.ok())
        return fail(tokenizer.status());
      m->tokenizer = std::move(*tokenizer);
    }
    // One executor now: a model that cannot run fails here, not at its
    // first request.
    auto executor = makeExecutor(*m);
    if (!executor.ok())
      return fail(executor.status());
    m->idle.push_back(std::move(*executor));
    *model = m.release();
    return KILN_OK;
  });
}

void kiln_model_free(kiln_model *model) { delete model; }

const char *kiln_model_family(const kiln_model *model) {
  return model ? kiln::familyName(model->info.family) : "";
}

int64_t kiln_model_vocab_size(const kiln_model *model) {
  return model ? model->info.vocabSize : 0;
}

int kiln_model_is_encoder(const kiln_model *model) {
  return model && model->info.isEncoderOnly() ? 1 : 0;
}

int kiln_model_has_tokenizer(const kiln_model *model) {
  return model && model->tokenizer ? 1 : 0;
}

kiln_status kiln_encode(const kiln_model *model, const char *text,
                        size_t textBytes, int64_t **ids, size_t *count) {
  return guarded([&]() -> kiln_status {
    if (!model || (!text && textBytes) || !ids || !count)
      return fail(KILN_INVALID_ARGUMENT,
                  "kiln_encode: model, ids and count must not be NULL");
    *ids = nullptr;
    *count = 0;
    if (!model->tokenizer)
      return noTokenizer(*model);
    auto encoded =
        model->tokenizer->encode(std::string_view(text ? text : "", textBytes));
    if (!encoded.ok())
      return fail(encoded.status());
    *ids = copyOut(*encoded);
    *count = encoded->size();
    return KILN_OK;
  });
}

kiln_status kiln_encode_pair(const kiln_model *model, const char *first,
                             size_t firstBytes, const char *second,
                             size_t secondBytes, int64_t **ids,
                             int64_t **typeIds, size_t *count) {
  return guarded([&]() -> kiln_status {
    if (!model || (!first && firstBytes) || (!second && secondBytes) || !ids ||
        !typeIds || !count)
      return fail(KILN_INVALID_ARGUMENT,
                  "kiln_encode_pair: model, ids, type_ids and count must not "
                  "be NULL");
    *ids = nullptr;
    *typeIds = nullptr;
    *count = 0;
    if (!model->tokenizer)
      return noTokenizer(*model);
    auto encoded = model->tokenizer->encodePair(
        std::string_view(first ? first : "", firstBytes),
        std::string_view(second ? second : "", secondBytes));
    if (!encoded.ok())
      return fail(encoded.status());
    *ids = copyOut(encoded->ids);
    *typeIds = copyOut(encoded->typeIds);
    *count = encoded->ids.size();
    return KILN_OK;
  });
}

kiln_status kiln_decode(const kiln_model *model, const int64_t *ids,
                        size_t count, char **text) {
  return guarded([&]() -> kiln_status {
    if (!model || (!ids && count) || !text)
      return fail(KILN_INVALID_ARGUMENT,
                  "kiln_decode: model and text must not be NULL");
    *text = nullptr;
    if (!model->tokenizer)
      return noTokenizer(*model);
    auto decoded =
        model->tokenizer->decode(std::vector<int64_t>(ids, ids + count));
    if (!decoded.ok())
      return fail(decoded.status());
    std::vector<char> bytes(decoded->begin(), decoded->end());
    bytes.push_back('\0');
    *text = copyOut(bytes);
    return KILN_OK;
  });
}

void kiln_request_init(kiln_request *request) {
  if (!request)
    return;
  std::memset(request, 0, sizeof(*request));
  request->top_p = 1.0;
  request->temperature = 1.0;
}

kiln_status kiln_run(kiln_model *model, const kiln_request *request,
                     kiln_result **result) {
  return guarded([&]() -> kiln_status {
    if (!model || !request || !result)
      return fail(KILN_INVALID_ARGUMENT,
                  "kiln_run: model, request and result must not be NULL");
    *result = nullptr;
    const kiln_request &q = *request;
    if (q.batch > 0 && (!q.input_ids || !q.lengths))
      return fail(KILN_INVALID_ARGUMENT,
                  "input_ids: input_ids and lengths must not be NULL");
    rt::Request r;
    for (size_t b = 0; b < q.batch; ++b) {
      if (!q.input_ids[b] && q.lengths[b])
        return fail(KILN_INVALID_ARGUMENT,
                    absl::StrCat("input_ids: sequence ", b, " is NULL"));
      r.inputIds.emplace_back(q.input_ids[b], q.input_ids[b] + q.lengths[b]);
      if (q.token_type_ids) {
        if (!q.token_type_ids[b] && q.lengths[b])
          return fail(KILN_INVALID_ARGUMENT,
                      absl::StrCat("token_type_ids: sequence ", b, " is NULL"));
        r.tokenTypeIds.emplace_back(q.token_type_ids[b],
                                    q.token_type_ids[b] + q.lengths[b]);
      }
    }
    r.maxNewTokens = q.max_new_tokens;
    r.ignoreEos = q.ignore_eos != 0;
    r.sampling.greedy = q.sample == 0;
    r.sampling.topK = q.top_k;
    r.sampling.topP = q.top_p;
    r.sampling.temperature = q.temperature;
    r.sampling.seed = q.seed;
    if (q.on_tokens)
      r.onTokens = [&q](const std::vector<int64_t> &gained) {
        return q.on_tokens(gained.data(), gained.size(), q.user_data) != 0;
      };
    if (absl::Status s = rt::validateRequest(model->info, r); !s.ok())
      return fail(s);

    Lease lease(*model);
    auto executor = lease.take();
    if (!executor.ok())
      return fail(executor.status());
    auto response = rt::runModel(model->info, **executor, r);
    if (!response.ok())
      return fail(response.status());

    auto out = std::make_unique<kiln_result>();
    for (const auto &[name, tensor] : response->outputs) {
      out->names.push_back(name);
      out->shapes.push_back(tensor.shape);
      out->values.push_back(rt::toFloat(tensor));
    }
    out->tokens = std::move(response->generated);
    *result = out.release();
    if (response->stopped)
      return fail(KILN_CANCELLED, "generation stopped by the token callback");
    return KILN_OK;
  });
}

size_t kiln_result_output_count(const kiln_result *result) {
  return result ? result->names.size() : 0;
}

const char *kiln_result_output_name(const kiln_result *result, size_t index) {
  return result && index < result->names.size() ? result->names[index].c_str()
                                                : nullptr;
}

const float *kiln_result_output(const kiln_result *result, size_t index,
                                const int64_t **shape, size_t *rank) {
  if (!result || index >= result->values.size())
    return nullptr;
  if (shape)
    *shape = result->shapes[index].data();
  if (rank)
    *rank = result->shapes[index].size();
  return result->values[index].data();
}

const int64_t *kiln_result_tokens(const kiln_result *result, size_t sequence,
                                  size_t *count) {
  if (count)
    *count = 0;
  if (!result || sequence >= result->tokens.size())
    return nullptr;
  if (count)
    *count = result->tokens[sequence].size();
  return result->tokens[sequence].data();
}

void kiln_result_free(kiln_result *result) { delete result; }

} // extern "C"
