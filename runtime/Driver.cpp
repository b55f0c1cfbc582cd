//===- Driver.cpp - running a model's entry points for a request ----------===//

#include "runtime/Driver.h"

#include "artifact/ModelInfo.h"
#include "runtime/DimExpr.h"
#include "runtime/Executor.h"
#include "runtime/Sampling.h"
#include "runtime/Tensor.h"
#include "support/Status.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace kiln::rt {

absl::Status validateRequest(const ModelInfo &m, const Request &request) {
  const auto &ids = request.inputIds;
  if (ids.empty())
    return fieldError("input_ids", "no sequence given");
  int64_t longest = 0;
  for (size_t b = 0; b < ids.size(); ++b) {
    if (ids[b].empty())
      return fieldError("input_ids", absl::StrCat("sequence ", b, " is empty"));
    for (int64_t id : ids[b])
      if (id < 0 || id >= m.vocabSize)
        return fieldError("input_ids",
                          absl::StrCat("id ", id, " in sequence ", b,
                                       " is outside the vocabulary [0, ",
                                       m.vocabSize, ")"));
    longest = std::max<int64_t>(longest, ids[b].size());
  }
  if (request.maxNewTokens < 0)
    return fieldError("max_new_tokens", "must be >= 0");
  if (m.isEncoderOnly() && request.maxNewTokens > 0)
    return fieldError("max_new_tokens", "encoders do not generate");
  KILN_RETURN_IF_ERROR(request.sampling.validate());

  int64_t needed = m.isDecoderOnly() ? longest + request.maxNewTokens : longest;
  if (m.positionLimit > 0 && needed > m.positionLimit)
    return absl::InvalidArgumentError(absl::StrCat(
        "sequence of ", needed, " tokens",
        m.isDecoderOnly() ? " (prompt + new tokens)" : "",
        " exceeds the model's limit of ", m.positionLimit, " positions"));

  if (request.tokenTypeIds.empty())
    return absl::OkStatus();
  if (!m.isEncoderOnly())
    return fieldError("token_type_ids",
                      "only BERT and RoBERTa take token types");
  if (request.tokenTypeIds.size() != ids.size())
    return fieldError("token_type_ids",
                      "needs one sequence per input sequence");
  for (size_t b = 0; b < ids.size(); ++b) {
    if (request.tokenTypeIds[b].size() != ids[b].size())
      return fieldError("token_type_ids",
                        absl::StrCat("sequence ", b, " has ",
                                     request.tokenTypeIds[b].size(),
                                     " ids, the input has ", ids[b].size()));
    for (int64_t t : request.tokenTypeIds[b])
      if (t < 0 || t >= m.typeVocabSize)
        return fieldError("token_type_ids", absl::StrCat(t, " is outside [0, ",
                                                         m.typeVocabSize, ")"));
  }
  return absl::OkStatus();
}

namespace {

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Appends the executor's device time since `before` (its deviceSeconds()
/// then) to `to`, where it measures one.
void addDeviceTime(const Executor &executor, double before,
                   std::vector<double> &to) {
  if (before >= 0)
    to.push_back(executor.deviceSeconds() - before);
}

/// [B, width] right-padded with `pad`.
Tensor padded(const std::vector<std::vector<int64_t>> &lists, int64_t pad,
              int64_t width) {
  Tensor t =
      Tensor::zeros(DType::I64, {static_cast<int64_t>(lists.size()), width});
  int64_t *out = t.data<int64_t>();
  for (size_t b = 0; b < lists.size(); ++b)
    for (int64_t s = 0; s < width; ++s)
      out[b * width + s] =
          s < static_cast<int64_t>(lists[b].size()) ? lists[b][s] : pad;
  return t;
}

/// Row `row` of the logits viewed as [rows, V], as f32.
std::vector<float> logitRow(const Tensor &logits, int64_t row) {
  int64_t v = logits.shape.back();
  std::vector<float> out(v);
  if (logits.dtype == DType::F32)
    std::memcpy(out.data(), logits.data<float>() + row * v, v * 4);
  else if (logits.dtype == DType::F64)
    for (int64_t i = 0; i < v; ++i)
      out[i] = static_cast<float>(logits.data<double>()[row * v + i]);
  return out;
}

absl::StatusOr<Tensor> takeOutput(std::vector<NamedTensor> &outputs,
                                  const std::string &entry) {
  if (outputs.empty())
    return absl::InternalError(entry + " returned no output");
  const Tensor &t = outputs.front().second;
  if (t.dtype != DType::F32 && t.dtype != DType::F64)
    return absl::InternalError(entry + "'s first output is not float logits");
  return t;
}

/// Logits read as [rows, V]: a shape the request does not explain (a
/// damaged artifact's result dims) is refused before logitRow reads it.
absl::Status checkLogits(const Tensor &t, const std::string &entry,
                         int64_t rows, int64_t vocab) {
  if (t.shape.size() < 2 || t.shape.back() < 1 ||
      (vocab > 0 && t.shape.back() != vocab) ||
      t.numElements() != rows * t.shape.back())
    return absl::InternalError(absl::StrCat(
        entry, " returned logits ", formatDims(t.shape), ", not ", rows,
        " rows of the vocabulary (", vocab, "); the artifact is damaged"));
  return absl::OkStatus();
}

/// Generation shared by the decoder families: `step(next, positions)` runs
/// one decode call and returns logits [B, 1, V]; `next` holds the tokens
/// picked from the first pass.
std::vector<std::vector<int64_t>>
generate(const ModelInfo &m, const Executor &executor, const Request &request,
         Sampler &sampler, std::vector<int64_t> next,
         std::vector<int64_t> positions,
         const std::function<absl::StatusOr<Tensor>(
             const std::vector<int64_t> &, const std::vector<int64_t> &)> &step,
         Response &response, absl::Status &status) {
  size_t batch = next.size();
  std::vector<std::vector<int64_t>> generated(batch);
  std::vector<bool> done(batch, false);
  std::vector<int64_t> gained(batch);
  for (int64_t t = 0; t < request.maxNewTokens; ++t) {
    for (size_t b = 0; b < batch; ++b) {
      gained[b] = done[b] ? -1 : next[b];
      if (done[b])
        continue;
      generated[b].push_back(next[b]);
      if (!request.ignoreEos && std::find(m.eosIds.begin(), m.eosIds.end(),
                                          next[b]) != m.eosIds.end())
        done[b] = true;
    }
    if (request.onTokens && !request.onTokens(gained)) {
      response.stopped = true;
      break;
    }
    if (t + 1 == request.maxNewTokens ||
        std::all_of(done.begin(), done.end(), [](bool d) { return d; }))
      break;
    Clock::time_point start = Clock::now();
    double deviceBefore = executor.deviceSeconds();
    auto logits = step(next, positions);
    if (!logits.ok()) {
      status = logits.status();
      return generated;
    }
    response.decodeStepSeconds.push_back(secondsSince(start));
    addDeviceTime(executor, deviceBefore, response.decodeStepDeviceSeconds);
    for (size_t b = 0; b < batch; ++b) {
      next[b] = sampler.pick(logitRow(*logits, b).data(), logits->shape.back());
      ++positions[b];
    }
  }
  return generated;
}

} // namespace

absl::StatusOr<Response> runModel(const ModelInfo &m, Executor &executor,
                                  const Request &request) {
  KILN_RETURN_IF_ERROR(validateRequest(m, request));
  const auto &ids = request.inputIds;
  const int64_t batch = ids.size();
  int64_t longest = 0;
  std::vector<int64_t> lengths;
  std::vector<std::vector<int64_t>> ones;
  for (const auto &seq : ids) {
    longest = std::max<int64_t>(longest, seq.size());
    lengths.push_back(seq.size());
    ones.push_back(std::vector<int64_t>(seq.size(), 1));
  }
  Tensor inputIds = padded(ids, m.padId, longest);
  Tensor mask = padded(ones, 0, longest);
  Response response;
  Sampler sampler(request.sampling);
  Clock::time_point start = Clock::now();
  const double deviceStart = executor.deviceSeconds();

  if (m.isEncoderOnly()) {
    Tensor tokenTypes = request.tokenTypeIds.empty()
                            ? Tensor::zeros(DType::I64, {batch, longest})
                            : padded(request.tokenTypeIds, 0, longest);
    KILN_ASSIGN_OR_RETURN(
        auto out, (executor.run("forward", {inputIds, tokenTypes, mask})));
    response.firstPassSeconds = secondsSince(start);
    addDeviceTime(executor, deviceStart, response.firstPassDeviceSeconds);
    response.outputs = std::move(out);
    return response;
  }

  // Decode calls: ids [B, 1], then `fixed` inputs, then the positions.
  auto decodeCall = [&](const std::vector<Tensor> &fixed)
      -> std::function<absl::StatusOr<Tensor>(const std::vector<int64_t> &,
                                              const std::vector<int64_t> &)> {
    return
        [&executor, fixed, vocab = m.vocabSize](
            const std::vector<int64_t> &next,
            const std::vector<int64_t> &positions) -> absl::StatusOr<Tensor> {
          std::vector<Tensor> args = {
              Tensor::fromI64({static_cast<int64_t>(next.size()), 1}, next)};
          args.insert(args.end(), fixed.begin(), fixed.end());
          args.push_back(Tensor::fromI64(
              {static_cast<int64_t>(positions.size())}, positions));
          KILN_ASSIGN_OR_RETURN(auto out, executor.run("decode", args));
          auto logits = takeOutput(out, "decode");
          if (logits.ok())
            KILN_RETURN_IF_ERROR(checkLogits(
                *logits, "decode", static_cast<int64_t>(next.size()), vocab));
          return logits;
        };
  };
  absl::Status status;
  if (m.isDecoderOnly()) {
    KILN_RETURN_IF_ERROR(executor.resetCaches(
        batch, longest + std::max<int64_t>(request.maxNewTokens, 1)));
    KILN_ASSIGN_OR_RETURN(
        auto out,
        (executor.run("prefill",
                      {inputIds, Tensor::fromI64(
                                     {batch}, std::vector<int64_t>(batch))})));
    response.firstPassSeconds = secondsSince(start);
    addDeviceTime(executor, deviceStart, response.firstPassDeviceSeconds);
    KILN_ASSIGN_OR_RETURN(auto logits, takeOutput(out, "prefill"));
    KILN_RETURN_IF_ERROR(
        checkLogits(logits, "prefill", batch * longest, m.vocabSize));
    std::vector<int64_t> first;
    for (int64_t b = 0; b < batch; ++b)
      first.push_back(
          sampler.pick(logitRow(logits, b * longest + lengths[b] - 1).data(),
                       logits.shape.back()));
    response.outputs = std::move(out);
    if (request.maxNewTokens == 0)
      return response;
    response.generated = generate(m, executor, request, sampler, first, lengths,
                                  decodeCall({}), response, status);
    if (!status.ok())
      return status;
    return response;
  }

  // T5: encode once, then decode from decoder_start_token_id.
  KILN_ASSIGN_OR_RETURN(auto encoded,
                        (executor.run("encode", {inputIds, mask})));
  KILN_ASSIGN_OR_RETURN(auto hidden, takeOutput(encoded, "encode"));
  KILN_RETURN_IF_ERROR(
      executor.resetCaches(batch, std::max<int64_t>(request.maxNewTokens, 1)));
  auto step = decodeCall({hidden, mask});
  KILN_ASSIGN_OR_RETURN(auto logits,
                        step(std::vector<int64_t>(batch, m.decoderStartId),
                             std::vector<int64_t>(batch, 0)));
  response.firstPassSeconds = secondsSince(start);
  addDeviceTime(executor, deviceStart, response.firstPassDeviceSeconds);
  std::vector<int64_t> first;
  for (int64_t b = 0; b < batch; ++b)
    first.push_back(
        sampler.pick(logitRow(logits, b).data(), logits.shape.back()));
  response.outputs.push_back({"logits", logits});
  response.outputs.push_back({"encoder_last_hidden_state", hidden});
  if (request.maxNewTokens > 0) {
    response.generated =
        generate(m, executor, request, sampler, first,
                 std::vector<int64_t>(batch, 1), step, response, status);
    if (!status.ok())
      return status;
  }
  return response;
}

} // namespace kiln::rt
