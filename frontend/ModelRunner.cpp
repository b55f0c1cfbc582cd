//===- ModelRunner.cpp - running a folder through the interpreter ---------===//

#include "frontend/ModelRunner.h"

#include "models/Models.h"
#include "passes/Passes.h"

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "mlir/Pass/PassManager.h"

#include <algorithm>
#include <functional>

using namespace mlir;

namespace kiln {

absl::StatusOr<LoadedModel> loadModel(MLIRContext &context,
                                      const std::string &dir,
                                      bool decompose) {
  LoadedModel model;
  auto config = loadModelConfig(dir);
  if (!config.ok())
    return config.status();
  model.config = std::move(*config);
  auto weights = WeightStore::openFolder(dir);
  if (!weights.ok())
    return weights.status();
  model.weights = std::move(*weights);
  auto module = buildModel(context, model.config, *model.weights);
  if (!module.ok())
    return module.status();
  model.module = std::move(*module);
  if (decompose) {
    PassManager pm(&context);
    pm.addPass(createKilnDecompose());
    if (failed(pm.run(*model.module)))
      return absl::InternalError("--kiln-decompose failed");
  }
  return model;
}

absl::StatusOr<std::vector<std::vector<int64_t>>>
parseIdLists(const std::string &text, const std::string &what) {
  std::vector<std::vector<int64_t>> lists;
  for (absl::string_view sequence : absl::StrSplit(text, ';')) {
    std::vector<int64_t> ids;
    for (absl::string_view item : absl::StrSplit(sequence, ',')) {
      item = absl::StripAsciiWhitespace(item);
      int64_t id;
      if (!absl::SimpleAtoi(item, &id))
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": '", item, "' is not an integer (expected e.g. 1,2,3;4,5)"));
      ids.push_back(id);
    }
    lists.push_back(std::move(ids));
  }
  return lists;
}

namespace {

Type f32Type(const LoadedModel &m) {
  return Float32Type::get(m.module.get().getContext());
}
Type i64Type(const LoadedModel &m) {
  return IntegerType::get(m.module.get().getContext(), 64);
}

/// [B, S] right-padded with `pad`.
HostTensor padded(const LoadedModel &m,
                  const std::vector<std::vector<int64_t>> &lists, int64_t pad,
                  int64_t width) {
  HostTensor t = HostTensor::zeros(
      {static_cast<int64_t>(lists.size()), width}, i64Type(m));
  for (size_t b = 0; b < lists.size(); ++b)
    for (int64_t s = 0; s < width; ++s)
      t.values[b * width + s] =
          s < static_cast<int64_t>(lists[b].size()) ? lists[b][s] : pad;
  return t;
}

HostTensor column(const LoadedModel &m, const std::vector<int64_t> &values) {
  HostTensor t = HostTensor::zeros({static_cast<int64_t>(values.size())},
                                   i64Type(m));
  for (size_t i = 0; i < values.size(); ++i)
    t.values[i] = static_cast<double>(values[i]);
  return t;
}

func::FuncOp entry(const LoadedModel &m, StringRef name) {
  return m.module.get().lookupSymbol<func::FuncOp>(name);
}

std::string resultName(func::FuncOp fn, unsigned i) {
  auto name = fn.getResultAttrOfType<StringAttr>(i, "kiln.name");
  return name ? name.str() : absl::StrCat("result", i);
}

/// argmax of row `row` of a [rows, V] view of the logits (first maximum
/// wins, as torch.argmax).
int64_t argmaxRow(const HostTensor &logits, int64_t row) {
  int64_t v = logits.shape.back();
  auto begin = logits.values.begin() + row * v;
  return std::max_element(begin, begin + v) - begin;
}

/// One @decode call: ids [B, 1] from `next`, then `fixed` inputs, the
/// positions, and the caches held in `state` (replaced by the updated ones).
/// Returns the logits [B, 1, V].
absl::StatusOr<HostTensor> decodeStep(Interpreter &interpreter,
                                      const LoadedModel &model,
                                      func::FuncOp decode,
                                      const std::vector<int64_t> &next,
                                      const std::vector<HostTensor> &fixed,
                                      const std::vector<int64_t> &positions,
                                      std::vector<HostTensor> &state) {
  HostTensor ids = column(model, next);
  ids.shape = {static_cast<int64_t>(next.size()), 1};
  std::vector<HostTensor> args = {ids};
  args.insert(args.end(), fixed.begin(), fixed.end());
  args.push_back(column(model, positions));
  args.insert(args.end(), state.begin(), state.end());
  auto out = interpreter.run(decode, args);
  if (!out.ok())
    return out.status();
  state.assign(out->begin() + 1, out->end());
  return std::move((*out)[0]);
}

/// Greedy generation shared by the decoder families. `step(ids, positions)`
/// runs one decode call and returns logits [B, 1, V]; `first[b]` is the
/// token picked from the prompt.
std::vector<std::vector<int64_t>> generateGreedy(
    const ModelConfig &config, const RunRequest &request,
    std::vector<int64_t> first, std::vector<int64_t> positions,
    const std::function<absl::StatusOr<HostTensor>(
        const std::vector<int64_t> &, const std::vector<int64_t> &)> &step,
    absl::Status &status) {
  size_t batch = first.size();
  std::vector<std::vector<int64_t>> generated(batch);
  std::vector<bool> done(batch, false);
  std::vector<int64_t> next = first;
  for (int64_t t = 0; t < request.maxNewTokens; ++t) {
    for (size_t b = 0; b < batch; ++b) {
      if (done[b])
        continue;
      generated[b].push_back(next[b]);
      if (!request.ignoreEos &&
          std::find(config.eosIds.begin(), config.eosIds.end(), next[b]) !=
              config.eosIds.end())
        done[b] = true;
    }
    if (t + 1 == request.maxNewTokens ||
        std::all_of(done.begin(), done.end(), [](bool d) { return d; }))
      break;
    auto logits = step(next, positions);
    if (!logits.ok()) {
      status = logits.status();
      return generated;
    }
    for (size_t b = 0; b < batch; ++b) {
      next[b] = argmaxRow(*logits, b);
      ++positions[b];
    }
  }
  return generated;
}

} // namespace

absl::StatusOr<RunResult> runModel(const LoadedModel &model,
                                   const RunRequest &request) {
  const ModelConfig &c = model.config;
  const auto &ids = request.inputIds;
  if (ids.empty())
    return absl::InvalidArgumentError("--input-ids: no sequence given");
  int64_t longest = 0;
  for (size_t b = 0; b < ids.size(); ++b) {
    if (ids[b].empty())
      return absl::InvalidArgumentError(
          absl::StrCat("--input-ids: sequence ", b, " is empty"));
    for (int64_t id : ids[b])
      if (id < 0 || id >= c.vocabSize)
        return absl::InvalidArgumentError(absl::StrCat(
            "--input-ids: id ", id, " in sequence ", b,
            " is outside the vocabulary [0, ", c.vocabSize, ")"));
    longest = std::max<int64_t>(longest, ids[b].size());
  }
  if (request.maxNewTokens < 0)
    return absl::InvalidArgumentError("--max-new-tokens must be >= 0");

  // The longest sequence the model can index.
  int64_t needed = c.isDecoderOnly() ? longest + request.maxNewTokens : longest;
  int64_t limit = c.maxPositions;
  if (c.family == ModelFamily::Roberta)
    limit = c.maxPositions - c.padIdOrZero() - 1; // positions start past pad
  if (c.family != ModelFamily::T5 && needed > limit)
    return absl::InvalidArgumentError(absl::StrCat(
        "sequence of ", needed, " tokens",
        c.isDecoderOnly() ? " (prompt + --max-new-tokens)" : "",
        " exceeds the model's limit of ", limit, " positions"));

  const int64_t batch = ids.size();
  Interpreter interpreter(*model.weights, request.precision);
  if (request.callHandler)
    interpreter.setCallHandler(request.callHandler);
  if (request.observer)
    interpreter.setObserver(request.observer);
  RunResult result;
  HostTensor inputIds = padded(model, ids, c.padIdOrZero(), longest);
  std::vector<int64_t> lengths;
  std::vector<std::vector<int64_t>> ones;
  for (const auto &seq : ids) {
    lengths.push_back(seq.size());
    ones.push_back(std::vector<int64_t>(seq.size(), 1));
  }
  HostTensor mask = padded(model, ones, 0, longest);

  auto named = [&](func::FuncOp fn, std::vector<HostTensor> &values) {
    for (unsigned i = 0; i < values.size(); ++i) {
      std::string name = resultName(fn, i);
      if (name.rfind("k_cache.", 0) == 0 || name.rfind("v_cache.", 0) == 0)
        continue;
      result.outputs.push_back({name, std::move(values[i])});
    }
  };

  if (c.family == ModelFamily::Bert || c.family == ModelFamily::Roberta) {
    if (request.maxNewTokens > 0)
      return absl::InvalidArgumentError(
          "--max-new-tokens: encoders do not generate");
    HostTensor tokenTypes = HostTensor::zeros({batch, longest}, i64Type(model));
    if (!request.tokenTypeIds.empty()) {
      if (request.tokenTypeIds.size() != ids.size())
        return absl::InvalidArgumentError(
            "--token-type-ids: needs one sequence per input sequence");
      for (size_t b = 0; b < ids.size(); ++b) {
        if (request.tokenTypeIds[b].size() != ids[b].size())
          return absl::InvalidArgumentError(absl::StrCat(
              "--token-type-ids: sequence ", b, " has ",
              request.tokenTypeIds[b].size(), " ids, the input has ",
              ids[b].size()));
        for (int64_t t : request.tokenTypeIds[b])
          if (t < 0 || t >= c.typeVocabSize)
            return absl::InvalidArgumentError(
                absl::StrCat("--token-type-ids: ", t, " is outside [0, ",
                             c.typeVocabSize, ")"));
      }
      tokenTypes = padded(model, request.tokenTypeIds, 0, longest);
    }
    func::FuncOp forward = entry(model, "forward");
    auto out = interpreter.run(forward, {inputIds, tokenTypes, mask});
    if (!out.ok())
      return out.status();
    named(forward, *out);
    return result;
  }
  if (!request.tokenTypeIds.empty())
    return absl::InvalidArgumentError(
        "--token-type-ids: only BERT and RoBERTa take token types");

  const int64_t cacheWidth = c.numKvHeads * c.headDim;
  const int64_t layers =
      c.family == ModelFamily::T5 ? c.numDecoderLayers : c.numLayers;
  auto zeroCaches = [&](int64_t maxSeq) {
    std::vector<HostTensor> caches;
    for (int64_t i = 0; i < 2 * layers; ++i)
      caches.push_back(
          HostTensor::zeros({batch, maxSeq, cacheWidth}, f32Type(model)));
    return caches;
  };
  // Caches live in `state` between calls: [ids, ..., positions, caches].
  absl::Status status;
  if (c.isDecoderOnly()) {
    std::vector<HostTensor> caches =
        zeroCaches(longest + std::max<int64_t>(request.maxNewTokens, 1));
    std::vector<HostTensor> args = {inputIds,
                                    column(model, std::vector<int64_t>(batch))};
    args.insert(args.end(), caches.begin(), caches.end());
    func::FuncOp prefill = entry(model, "prefill");
    auto out = interpreter.run(prefill, args);
    if (!out.ok())
      return out.status();
    std::vector<HostTensor> state(out->begin() + 1, out->end());
    std::vector<int64_t> first;
    const HostTensor &logits = (*out)[0];
    for (int64_t b = 0; b < batch; ++b)
      first.push_back(argmaxRow(logits, b * longest + lengths[b] - 1));
    named(prefill, *out);
    if (request.maxNewTokens == 0)
      return result;
    func::FuncOp decode = entry(model, "decode");
    auto step = [&](const std::vector<int64_t> &next,
                    const std::vector<int64_t> &positions) {
      return decodeStep(interpreter, model, decode, next, {}, positions,
                        state);
    };
    result.generated =
        generateGreedy(c, request, first, lengths, step, status);
    if (!status.ok())
      return status;
    return result;
  }

  // T5: encode once, then decode from decoder_start_token_id.
  func::FuncOp encode = entry(model, "encode");
  auto encoded = interpreter.run(encode, {inputIds, mask});
  if (!encoded.ok())
    return encoded.status();
  HostTensor encoderHidden = (*encoded)[0];
  func::FuncOp decode = entry(model, "decode");
  std::vector<HostTensor> state =
      zeroCaches(std::max<int64_t>(request.maxNewTokens, 1));
  auto step = [&](const std::vector<int64_t> &next,
                  const std::vector<int64_t> &positions) {
    return decodeStep(interpreter, model, decode, next, {encoderHidden, mask},
                      positions, state);
  };
  std::vector<int64_t> start(batch, *c.decoderStartId);
  auto logits = step(start, std::vector<int64_t>(batch, 0));
  if (!logits.ok())
    return logits.status();
  std::vector<int64_t> first;
  for (int64_t b = 0; b < batch; ++b)
    first.push_back(argmaxRow(*logits, b));
  result.outputs.push_back({"logits", *logits});
  result.outputs.push_back({"encoder_last_hidden_state", encoderHidden});
  if (request.maxNewTokens > 0) {
    result.generated = generateGreedy(c, request, first,
                                      std::vector<int64_t>(batch, 1), step,
                                      status);
    if (!status.ok())
      return status;
  }
  return result;
}

} // namespace kiln
