//===- QuantGemmBench.cpp - one decoded token's gemms, f32 and quantized --===//
//
// kiln-quant-gemm-bench [threads]: the linear layers GPT-2-small reads per
// decoded token (12 layers of 2304 x 768, 768 x 768, 3072 x 768 and
// 768 x 3072, then the 50257 x 768 LM head), one row of A each, every
// weight a distinct copy so they stream from memory as a model's do: f32
// through runtime/Blas, int8 and int4 (group 128) through
// runtime/QuantGemm (int4 also on the f32 kernel where the host has
// AVX-512 BF16). Prints the best and median milliseconds per token over
// interleaved rounds, the weight bytes read and the rate they were read
// at; asserts nothing. Isolates the gemms'
// share of kilnc --quantize's decode speed from attention and the rest.
//
//===----------------------------------------------------------------------===//

#include "runtime/Blas.h"
#include "runtime/CpuIsa.h"
#include "runtime/QuantGemm.h"
#include "runtime/ThreadPool.h"
#include "support/Quantize.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace rt = kiln::rt;

struct Shape {
  int64_t n, k;
};

/// GPT-2-small's linear layers in the order one token runs them.
std::vector<Shape> tokenShapes() {
  std::vector<Shape> shapes;
  for (int layer = 0; layer < 12; ++layer)
    for (Shape s : {Shape{2304, 768}, Shape{768, 768}, Shape{3072, 768},
                    Shape{768, 3072}})
      shapes.push_back(s);
  shapes.push_back({50257, 768});
  return shapes;
}

/// One way to run a token's gemms, and its times.
struct Variant {
  std::string name;
  int64_t bytes;
  std::function<void()> token;
  std::vector<double> ms;
};

/// Times every variant's token `reps` times, the variants interleaved in
/// each round (this machine's speed drifts from second to second: an
/// interleaved round sees the same drift for all).
void timeInterleaved(std::vector<Variant> &variants, int reps) {
  for (Variant &v : variants)
    v.token(); // warm-up
  for (int rep = 0; rep < reps; ++rep)
    for (Variant &v : variants) {
      auto start = std::chrono::steady_clock::now();
      v.token();
      std::chrono::duration<double, std::milli> took =
          std::chrono::steady_clock::now() - start;
      v.ms.push_back(took.count());
    }
}

} // namespace

int main(int argc, char **argv) {
  const int threads =
      argc > 1 ? std::atoi(argv[1])
               : static_cast<int>(std::thread::hardware_concurrency());
  rt::ThreadPool pool(threads);
  rt::Blas blas(pool);
  const rt::CpuIsa isa = rt::hostIsa();
  std::printf("kiln-quant-gemm-bench: %d threads, %s kernels, BLAS %s\n",
              threads, std::string(rt::isaName(isa)).c_str(),
              blas.provider().c_str());
  const std::vector<Shape> shapes = tokenShapes();
  std::mt19937 gen(1);
  std::normal_distribution<float> normal;
  std::vector<std::vector<float>> dense;
  int64_t maxDim = 0, f32Bytes = 0;
  for (Shape s : shapes) {
    dense.emplace_back(s.n * s.k);
    // A few distinct values suffice: the bytes, not the numbers, matter.
    for (int64_t i = 0; i < s.n * s.k; ++i)
      dense.back()[i] = i < 4096 ? normal(gen) : dense.back()[i % 4096];
    maxDim = std::max({maxDim, s.n, s.k});
    f32Bytes += s.n * s.k * 4;
  }
  std::vector<float> a(maxDim, 0.5f), c(maxDim), scratch;
  for (int64_t i = 0; i < maxDim; ++i)
    a[i] = normal(gen);
  std::vector<Variant> variants;
  variants.push_back({"f32", f32Bytes, [&] {
                        for (size_t i = 0; i < shapes.size(); ++i)
                          blas.sgemm(false, true, 1, shapes[i].n, shapes[i].k,
                                     a.data(), shapes[i].k, dense[i].data(),
                                     shapes[i].k, c.data(), shapes[i].n);
                      }});
  std::vector<std::vector<kiln::QuantizedWeight>> stored(2);
  // int4 twice where the host has AVX-512 BF16: its kernel, then the f32
  // one (allowBf16QuantKernel).
  std::vector<std::pair<int, bool>> runs = {{8, true}, {4, true}};
  if (rt::hostHasBf16Dot())
    runs.push_back({4, false});
  for (auto [bits, bf16] : runs) {
    std::vector<kiln::QuantizedWeight> &weights = stored[bits == 8 ? 0 : 1];
    int64_t bytes = 0;
    for (size_t i = 0; i < shapes.size(); ++i) {
      auto format = kiln::makeQuantFormat(bits, shapes[i].n, shapes[i].k,
                                          kiln::defaultQuantGroup(bits));
      if (!format.ok()) {
        std::fprintf(stderr, "%s\n", format.status().ToString().c_str());
        return 1;
      }
      if (weights.size() < shapes.size())
        weights.push_back(kiln::quantizeWeight(*format, dense[i].data(), 0));
      bytes += format->totalBytes();
    }
    const char *name = bits == 8                      ? "int8"
                       : bf16 && rt::hostHasBf16Dot() ? "int4"
                                                      : "int4-f32";
    variants.push_back({name, bytes, [&, bf16 = bf16, &weights = weights] {
                          rt::allowBf16QuantKernel(bf16);
                          for (const kiln::QuantizedWeight &w : weights) {
                            kiln::QuantizedMatrix view{
                                w.format, w.values.data(), w.scales.data()};
                            rt::quantizedGemm(view, 1, a.data(), w.format.cols,
                                              c.data(), w.format.rows, pool,
                                              blas, isa, scratch);
                          }
                        }});
  }
  timeInterleaved(variants, 21);
  rt::allowBf16QuantKernel(true);
  std::printf("%-8s %8s %9s %9s %8s %8s\n", "weight", "MB/token", "best ms",
              "median ms", "GB/s", "vs f32");
  auto best = [](const Variant &v) {
    return *std::min_element(v.ms.begin(), v.ms.end());
  };
  for (Variant &v : variants) {
    std::sort(v.ms.begin(), v.ms.end());
    std::printf("%-8s %8.1f %9.2f %9.2f %8.1f %7.2fx\n", v.name.c_str(),
                v.bytes / 1e6, best(v), v.ms[v.ms.size() / 2],
                v.bytes / best(v) / 1e6, best(variants[0]) / best(v));
  }
  return 0;
}
