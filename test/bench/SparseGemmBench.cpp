//===- SparseGemmBench.cpp - pruned-weight gemms against the dense one ----===//
//
// kiln-sparse-gemm-bench [threads]: one decode row (M = 1) and M = 4
// through GPT-2-small's linear shapes (N x K = 2304 x 768, 3072 x 768,
// 768 x 3072), f32: the dense weight through runtime/Blas, the compressed
// 2:4 weight and the sparse-rows weight at 50-95% zeros through
// runtime/SparseGemm. The weights rotate over copies larger than the
// caches, as a model's weights stream from memory. Prints microseconds per
// call and the speed-up over dense; asserts nothing. What
// sparseRowsThreshold (support/Prune.h) is chosen from.
//
//===----------------------------------------------------------------------===//

#include "runtime/Blas.h"
#include "runtime/CpuIsa.h"
#include "runtime/SparseGemm.h"
#include "runtime/ThreadPool.h"
#include "support/Prune.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace rt = kiln::rt;

/// Median microseconds of `call(copy)` over rotating copies.
double micros(int64_t copies, const std::function<void(int64_t)> &call) {
  for (int64_t i = 0; i < copies; ++i)
    call(i);
  std::vector<double> times;
  for (int rep = 0; rep < 15; ++rep) {
    auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < copies; ++i)
      call(i);
    std::chrono::duration<double, std::micro> took =
        std::chrono::steady_clock::now() - start;
    times.push_back(took.count() / static_cast<double>(copies));
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

} // namespace

int main(int argc, char **argv) {
  const int threads =
      argc > 1 ? std::atoi(argv[1])
               : static_cast<int>(std::thread::hardware_concurrency());
  rt::ThreadPool pool(threads);
  rt::Blas blas(pool);
  const rt::CpuIsa isa = rt::hostIsa();
  std::printf("kiln-sparse-gemm-bench: %d threads, %s kernels, BLAS %s\n",
              threads, std::string(rt::isaName(isa)).c_str(),
              blas.provider().c_str());
  std::printf("%-12s %2s %-18s %10s %8s\n", "N x K", "M", "weight", "us/call",
              "vs dense");
  const int64_t shapes[][2] = {{2304, 768}, {3072, 768}, {768, 3072}};
  std::mt19937 gen(1);
  std::normal_distribution<float> normal;
  for (const auto &shape : shapes) {
    const int64_t n = shape[0], k = shape[1];
    const int64_t copies = std::max<int64_t>(2, (96 << 20) / (n * k * 4) + 1);
    std::vector<std::vector<float>> dense(copies, std::vector<float>(n * k));
    for (auto &w : dense)
      for (float &x : w)
        x = normal(gen);
    for (int64_t m : {1, 4}) {
      std::vector<float> a(m * k, 0.5f), c(m * n), scratch;
      double base = micros(copies, [&](int64_t i) {
        blas.sgemm(false, true, m, n, k, a.data(), k, dense[i].data(), k,
                   c.data(), n);
      });
      char label[32];
      std::snprintf(label, sizeof label, "%lldx%lld", static_cast<long long>(n),
                    static_cast<long long>(k));
      std::printf("%-12s %2lld %-18s %10.1f %8s\n", label,
                  static_cast<long long>(m), "dense", base, "1.00x");
      {
        std::vector<kiln::Sparse24Weight> s;
        for (auto w : dense) {
          kiln::PruneSpec spec;
          spec.n = 2;
          spec.m = 4;
          spec.axis = 1;
          kiln::applyPrune(spec, w.data(), n, k);
          s.push_back(kiln::compress24({n, k}, w.data(), 0));
        }
        double t = micros(copies, [&](int64_t i) {
          kiln::Sparse24Matrix view{
              {n, k}, s[i].values.data(), s[i].indices.data()};
          rt::sparse24Gemm(view, m, a.data(), k, c.data(), n, pool, blas, isa,
                           scratch);
        });
        std::printf("%-12s %2lld %-18s %10.1f %7.2fx\n", label,
                    static_cast<long long>(m), "2:4 compressed", t, base / t);
      }
      for (double fraction : {0.5, 0.6, 0.7, 0.8, 0.9, 0.95}) {
        std::vector<kiln::SparseRowsWeight> s;
        for (auto w : dense) {
          kiln::PruneSpec spec;
          spec.fraction = fraction;
          kiln::applyPrune(spec, w.data(), n, k);
          s.push_back(kiln::compressRows(n, k, w.data(), 0));
        }
        double t = micros(copies, [&](int64_t i) {
          kiln::SparseRowsMatrix view{n, k, s[i].offsets.data(),
                                      s[i].indices.data(), s[i].values.data()};
          rt::sparseRowsGemm(view, m, a.data(), k, c.data(), n, pool, blas, isa,
                             scratch);
        });
        char name[32];
        std::snprintf(name, sizeof name, "rows, %.0f%% zeros", fraction * 100);
        std::printf("%-12s %2lld %-18s %10.1f %7.2fx\n", label,
                    static_cast<long long>(m), name, t, base / t);
      }
    }
  }
  return 0;
}
