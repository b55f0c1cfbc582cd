//===- GemmLibraryBench.cpp - sgemm GFLOP/s of each CPU GEMM library ------===//
//
// kiln-gemm-bench [threads]: C[M, N] = A[M, K] W[N, K]^T (a Linear layer's
// layout) in f32 on the shapes Kiln's CPU gemm steps run (N, K of BERT-base
// and GPT-2-small, including the 50257-wide LM head; M = 1, 8, 128, 1024),
// through each library Kiln could load, as Kiln calls them: runtime/Blas
// with KILN_GEMM=onednn-sgemm, =onednn (the matmul primitive on weights
// packed once, as gemm steps run where oneDNN is) and =openblas (sgemv for
// one row), and BLIS's CBLAS interface. The weights rotate over copies larger
// than the caches, as a model's weights stream from memory. Prints GFLOP/s;
// asserts nothing. Run with the environment as given (OPENBLAS_CORETYPE changes
// OpenBLAS's kernels: compare both).
//
//===----------------------------------------------------------------------===//

#include "runtime/Blas.h"
#include "runtime/ThreadPool.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <functional>
#include <map>
#include <memory>
#include <stdlib.h>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

using Gemm = std::function<void(int64_t m, int64_t n, int64_t k, const float *a,
                                const float *w, float *c)>;

double gflops(const Gemm &gemm, int64_t m, int64_t n, int64_t k) {
  // Enough weight copies to overflow a 64 MiB cache.
  const int64_t copies = std::max<int64_t>(1, (64 << 20) / (n * k * 4) + 1);
  std::vector<float> a(m * k, 0.5f), c(m * n);
  std::vector<std::vector<float>> w(copies, std::vector<float>(n * k, 0.25f));
  // Once per copy: the packed path packs each there, as a load would.
  for (const auto &copy : w)
    gemm(m, n, k, a.data(), copy.data(), c.data());
  const double flops = 2.0 * m * n * k;
  const int iters = std::clamp<int>(int(4e9 / (flops + 2e7)), 3, 200);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i)
    gemm(m, n, k, a.data(), w[i % copies].data(), c.data());
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count() /
      iters;
  return flops / seconds / 1e9;
}

} // namespace

int main(int argc, char **argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 0;
  kiln::rt::ThreadPool pool(threads);
  struct Library {
    std::string name;
    Gemm gemm;
  };
  std::vector<Library> libraries;
  std::vector<std::unique_ptr<kiln::rt::Blas>> blases;
  // Packed weights by address and shape (the copies of one shape are
  // freed before the next shape's are made).
  using PackedKey = std::tuple<const float *, int64_t, int64_t>;
  auto packs = std::make_shared<std::map<PackedKey, kiln::rt::PackedBPtr>>();
  for (const char *choice : {"onednn-sgemm", "onednn", "openblas"}) {
    setenv("KILN_GEMM", choice, 1);
    auto blas = std::make_unique<kiln::rt::Blas>(pool);
    if (blas->provider() == "built-in")
      continue;
    kiln::rt::Blas *b = blas.get();
    if (std::string(choice) == "onednn") {
      if (!b->pack(true, 1, 1, std::vector<float>(1).data(), 1))
        continue; // no matmul primitive here
      libraries.push_back(
          {"oneDNN matmul, packed",
           [b, packs](int64_t m, int64_t n, int64_t k, const float *a,
                      const float *w, float *c) {
             kiln::rt::PackedBPtr &p = (*packs)[{w, n, k}];
             if (!p)
               p = b->pack(true, n, k, w, k);
             b->gemmPacked(*p, m, a, k, c, {});
           }});
    } else {
      libraries.push_back(
          {blas->provider(), [b](int64_t m, int64_t n, int64_t k,
                                 const float *a, const float *w, float *c) {
             b->sgemm(false, true, m, n, k, a, k, w, k, c, n);
           }});
    }
    blases.push_back(std::move(blas));
  }
  using CblasSgemm =
      void (*)(int, int, int, int, int, int, float, const float *, int,
               const float *, int, float, float *, int);
  if (void *blis = dlopen("libblis.so.4", RTLD_NOW | RTLD_LOCAL))
    if (auto sgemm = reinterpret_cast<CblasSgemm>(dlsym(blis, "cblas_sgemm"))) {
      if (auto set = reinterpret_cast<void (*)(int)>(
              dlsym(blis, "bli_thread_set_num_threads")))
        set(pool.threads());
      libraries.push_back(
          {"libblis.so.4", [sgemm](int64_t m, int64_t n, int64_t k,
                                   const float *a, const float *w, float *c) {
             sgemm(101, 111, 112, m, n, k, 1.0f, a, k, w, k, 0.0f, c, n);
           }});
    }
  // Library by library, so that one's threads (OpenBLAS's spin after each
  // call) do not take the cores from the next.
  struct Shape {
    int64_t m, n, k;
  };
  std::vector<Shape> shapes;
  const int64_t layers[][2] = {
      {2304, 768}, {768, 768}, {3072, 768}, {768, 3072}, {50257, 768}};
  for (const auto &[n, k] : layers)
    for (int64_t m : {1, 8, 128, 1024})
      if (n < 10000 || m <= 128)
        shapes.push_back({m, n, k});
  std::vector<std::vector<double>> results(libraries.size());
  for (size_t l = 0; l < libraries.size(); ++l) {
    for (const Shape &s : shapes)
      results[l].push_back(gflops(libraries[l].gemm, s.m, s.n, s.k));
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  const char *coretype = std::getenv("OPENBLAS_CORETYPE");
  std::printf("sgemm GFLOP/s, %d threads, OPENBLAS_CORETYPE=%s\n",
              pool.threads(), coretype ? coretype : "(unset)");
  std::printf("%6s %6s %5s", "M", "N", "K");
  for (const Library &l : libraries)
    std::printf(" %22s", l.name.c_str());
  std::printf("\n");
  for (size_t i = 0; i < shapes.size(); ++i) {
    std::printf("%6lld %6lld %5lld", static_cast<long long>(shapes[i].m),
                static_cast<long long>(shapes[i].n),
                static_cast<long long>(shapes[i].k));
    for (size_t l = 0; l < libraries.size(); ++l)
      std::printf(" %22.1f", results[l][i]);
    std::printf("\n");
  }
  packs->clear(); // before the library that packed them
  return 0;
}
