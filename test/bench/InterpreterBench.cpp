//===- InterpreterBench.cpp - interpreter speed on a GPT-2-small shape ----===//
//
// Writes a GPT-2-small-shaped folder (12 layers, 768 wide, 12 heads, vocab
// 50257, 1024 positions; random normal weights, std 0.02) to a temporary
// directory, then times loading, graph building and one 128-token prompt
// through the interpreter (logits for every position, as kiln-interpret
// --output computes them). Prints the numbers; asserts nothing.
//
//   build/bin/kiln-interpreter-bench [--tokens N] [--layers N]
//   build/bin/kiln-interpreter-bench --write DIR [--layers N]
//       (only writes the folder, e.g. for kilnc --report)
//
//===----------------------------------------------------------------------===//

#include "compiler/ReferenceRun.h"

#include "mlir/IR/MLIRContext.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void writeModel(const fs::path &dir, int layers) {
  const int64_t H = 768, V = 50257, P = 1024, I = 3072;
  std::vector<std::pair<std::string, std::vector<int64_t>>> tensors = {
      {"wte.weight", {V, H}},
      {"wpe.weight", {P, H}},
      {"ln_f.weight", {H}},
      {"ln_f.bias", {H}}};
  for (int l = 0; l < layers; ++l) {
    std::string p = "h." + std::to_string(l) + ".";
    for (const char *ln : {"ln_1", "ln_2"}) {
      tensors.push_back({p + ln + ".weight", {H}});
      tensors.push_back({p + ln + ".bias", {H}});
    }
    tensors.push_back({p + "attn.c_attn.weight", {H, 3 * H}});
    tensors.push_back({p + "attn.c_attn.bias", {3 * H}});
    tensors.push_back({p + "attn.c_proj.weight", {H, H}});
    tensors.push_back({p + "attn.c_proj.bias", {H}});
    tensors.push_back({p + "mlp.c_fc.weight", {H, I}});
    tensors.push_back({p + "mlp.c_fc.bias", {I}});
    tensors.push_back({p + "mlp.c_proj.weight", {I, H}});
    tensors.push_back({p + "mlp.c_proj.bias", {H}});
  }
  std::string header = "{";
  uint64_t offset = 0;
  for (const auto &[name, shape] : tensors) {
    uint64_t n = 1;
    std::string dims;
    for (int64_t d : shape) {
      n *= d;
      dims += (dims.empty() ? "" : ",") + std::to_string(d);
    }
    header += (header.size() > 1 ? "," : "") + std::string("\"") + name +
              "\":{\"dtype\":\"F32\",\"shape\":[" + dims +
              "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + 4 * n) + "]}";
    offset += 4 * n;
  }
  header += "}";
  std::ofstream out(dir / "model.safetensors", std::ios::binary);
  uint64_t length = header.size();
  out.write(reinterpret_cast<const char *>(&length), 8);
  out << header;
  std::mt19937 rng(0);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> chunk(1 << 20);
  for (uint64_t written = 0; written < offset / 4;) {
    uint64_t n = std::min<uint64_t>(chunk.size(), offset / 4 - written);
    for (uint64_t i = 0; i < n; ++i)
      chunk[i] = normal(rng);
    out.write(reinterpret_cast<const char *>(chunk.data()), n * 4);
    written += n;
  }
  std::ofstream(dir / "config.json")
      << "{\"model_type\": \"gpt2\", \"architectures\": [\"GPT2LMHeadModel\"],"
         " \"vocab_size\": 50257, \"n_embd\": 768, \"n_layer\": "
      << layers << ", \"n_head\": 12, \"n_positions\": 1024}";
}

} // namespace

int main(int argc, char **argv) {
  int tokens = 128, layers = 12;
  std::string writeOnly;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--tokens"))
      tokens = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--layers"))
      layers = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--write"))
      writeOnly = argv[i + 1];
  }
  if (!writeOnly.empty()) {
    fs::create_directories(writeOnly);
    writeModel(writeOnly, layers);
    return 0;
  }
  fs::path dir = fs::temp_directory_path() /
                 ("kiln-bench-gpt2-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto start = Clock::now();
  writeModel(dir, layers);
  double writeSeconds = secondsSince(start);

  mlir::MLIRContext context;
  start = Clock::now();
  auto model = kiln::loadModel(context, dir.string());
  double loadSeconds = secondsSince(start);
  if (!model.ok()) {
    std::fprintf(stderr, "error: %s\n",
                 std::string(model.status().message()).c_str());
    return 1;
  }
  kiln::RunRequest request;
  request.inputIds.emplace_back();
  for (int i = 0; i < tokens; ++i)
    request.inputIds.back().push_back((i * 7919) % 50257);
  start = Clock::now();
  auto result = kiln::runModel(*model, request);
  double runSeconds = secondsSince(start);
  fs::remove_all(dir);
  if (!result.ok()) {
    std::fprintf(stderr, "error: %s\n",
                 std::string(result.status().message()).c_str());
    return 1;
  }
  std::printf("gpt2-small shape: %d layers, %d-token prompt\n", layers, tokens);
  std::printf("  write random weights   %8.2f s\n", writeSeconds);
  std::printf("  config + graph build   %8.3f s\n", loadSeconds);
  std::printf("  interpret prefill      %8.2f s  (first run: includes "
              "reading weights)\n",
              runSeconds);
  return 0;
}
