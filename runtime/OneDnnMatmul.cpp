//===- OneDnnMatmul.cpp - gemms on weights packed once for oneDNN ---------===//

#include "runtime/OneDnnMatmul.h"

#include "runtime/CpuIsa.h"
#include "runtime/HugePages.h"
#include "runtime/ThreadPool.h"

#include <algorithm>
#include <cstdint>
#include <memory>

#if __has_include(<oneapi/dnnl/dnnl.h>) && !defined(KILN_NO_ONEDNN_HEADERS)
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_types.h>

#include <cstddef>
#include <cstdlib>
#include <dlfcn.h>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>
#define KILN_ONEDNN_HEADERS 1
#endif

namespace kiln::rt {

#ifdef KILN_ONEDNN_HEADERS

/// oneDNN 2's C API as dlsym finds it (the header gives the types and
/// signatures, the library is never linked).
struct OneDnnMatmul::Api {
  decltype(&::dnnl_engine_create) engineCreate = nullptr;
  decltype(&::dnnl_engine_destroy) engineDestroy = nullptr;
  decltype(&::dnnl_stream_create) streamCreate = nullptr;
  decltype(&::dnnl_stream_destroy) streamDestroy = nullptr;
  decltype(&::dnnl_stream_wait) streamWait = nullptr;
  decltype(&::dnnl_memory_desc_init_by_strides) memoryDescInitByStrides =
      nullptr;
  decltype(&::dnnl_memory_desc_init_by_tag) memoryDescInitByTag = nullptr;
  decltype(&::dnnl_memory_desc_get_size) memoryDescGetSize = nullptr;
  decltype(&::dnnl_memory_create) memoryCreate = nullptr;
  decltype(&::dnnl_memory_destroy) memoryDestroy = nullptr;
  decltype(&::dnnl_matmul_desc_init) matmulDescInit = nullptr;
  decltype(&::dnnl_primitive_desc_create) primitiveDescCreate = nullptr;
  decltype(&::dnnl_primitive_desc_destroy) primitiveDescDestroy = nullptr;
  decltype(&::dnnl_primitive_desc_query_md) primitiveDescQueryMd = nullptr;
  decltype(&::dnnl_reorder_primitive_desc_create) reorderPrimitiveDescCreate =
      nullptr;
  decltype(&::dnnl_primitive_create) primitiveCreate = nullptr;
  decltype(&::dnnl_primitive_destroy) primitiveDestroy = nullptr;
  decltype(&::dnnl_primitive_execute) primitiveExecute = nullptr;
  decltype(&::dnnl_primitive_attr_create) primitiveAttrCreate = nullptr;
  decltype(&::dnnl_primitive_attr_destroy) primitiveAttrDestroy = nullptr;
  decltype(&::dnnl_primitive_attr_set_post_ops) primitiveAttrSetPostOps =
      nullptr;
  decltype(&::dnnl_post_ops_create) postOpsCreate = nullptr;
  decltype(&::dnnl_post_ops_destroy) postOpsDestroy = nullptr;
  decltype(&::dnnl_post_ops_append_eltwise) postOpsAppendEltwise = nullptr;
  decltype(&::dnnl_post_ops_append_binary) postOpsAppendBinary = nullptr;
  dnnl_engine_t engine = nullptr;
  dnnl_stream_t stream = nullptr;
};

namespace {

/// The columns of one panel of a packed B the few-rows kernel reads.
constexpr int64_t kPanel = 64;

using V16 = float __attribute__((vector_size(64)));
#define KILN_INLINE inline __attribute__((always_inline))

/// C rows [0, R) of panel `panel` (columns panel * 64 on, `width` of them
/// real): each K row of the panel is read once, as four 16-wide vectors,
/// and multiplied into R accumulators each.
template <int R>
KILN_INLINE void panelProduct(const float *panel, int64_t k, const float *a,
                              int64_t lda, float *c, int64_t ldc,
                              int64_t width) {
  V16 acc[R][4] = {};
  for (int64_t p = 0; p < k; ++p) {
    const float *row = panel + p * kPanel;
    // 1 KiB ahead in the stream each thread reads (GPT-2-small decode,
    // 2 threads: 512 B ahead 22.6-23.2 ms per token, 1 KiB 20.2-21.5,
    // 2 KiB 21.5-21.8).
    __builtin_prefetch(row + 4 * kPanel);
    __builtin_prefetch(row + 4 * kPanel + 32);
    V16 w[4];
    __builtin_memcpy(w, row, sizeof(w));
    for (int r = 0; r < R; ++r) {
      const float x = a[r * lda + p];
      for (int v = 0; v < 4; ++v)
        acc[r][v] += x * w[v];
    }
  }
  for (int r = 0; r < R; ++r) {
    float out[kPanel];
    __builtin_memcpy(out, acc[r], sizeof(out));
    __builtin_memcpy(c + r * ldc, out, width * sizeof(float));
  }
}

/// Panels [begin, end) of C = A B for R rows of A.
template <int R>
KILN_INLINE void panelRange(const float *panels, int64_t paddedK, int64_t n,
                            int64_t k, const float *a, int64_t lda, float *c,
                            int64_t begin, int64_t end) {
  for (int64_t p = begin; p < end; ++p)
    panelProduct<R>(panels + p * paddedK * kPanel, k, a, lda, c + p * kPanel, n,
                    std::min(kPanel, n - p * kPanel));
}

using PanelKernel = void (*)(const float *, int64_t, int64_t, int64_t,
                             const float *, int64_t, float *, int64_t, int64_t);
#define KILN_PANEL_KERNELS(SUFFIX, TARGET)                                     \
  template <int R>                                                             \
  TARGET void panels##SUFFIX(const float *panels, int64_t paddedK, int64_t n,  \
                             int64_t k, const float *a, int64_t lda, float *c, \
                             int64_t begin, int64_t end) {                     \
    panelRange<R>(panels, paddedK, n, k, a, lda, c, begin, end);               \
  }                                                                            \
  constexpr PanelKernel kPanelKernels##SUFFIX[] = {                            \
      panels##SUFFIX<1>, panels##SUFFIX<2>, panels##SUFFIX<3>,                 \
      panels##SUFFIX<4>};
KILN_PANEL_KERNELS(Avx512, __attribute__((target("avx512f,avx2,fma"), flatten)))
KILN_PANEL_KERNELS(Generic, __attribute__((flatten)))
#undef KILN_PANEL_KERNELS

/// One primitive: a row count and an epilogue's shape.
struct Primitive {
  int64_t m;
  bool bias, residual;
  artifact::Activation activation;
  dnnl_primitive_t primitive;
};

/// Destroys what a dnnl_*_create made when the scope ends.
template <typename T> struct Owned {
  T value = nullptr;
  dnnl_status_t (*destroy)(T) = nullptr;
  ~Owned() {
    if (value)
      destroy(value);
  }
};

} // namespace

class PackedB {
public:
  OneDnnMatmul::Api *api = nullptr;
  int64_t n = 0, k = 0;
  dnnl_memory_desc_t layout{}; // B as packed
  dnnl_memory_t memory = nullptr;
  /// The packed values (memory's handle; the panels, where they are).
  WeightBuffer storage{nullptr, &std::free};
  /// Where the layout is panels of 64 output columns, each its K (padded)
  /// rows of 64 floats one after the other: the panels, for the few-rows
  /// kernel; null otherwise.
  const float *panels = nullptr;
  int64_t paddedK = 0;
  /// Made on first use, one per row count and epilogue; callers may run
  /// on several threads (the C API's executors share nothing else, but a
  /// caller's threads may share an executor's weights).
  std::mutex mutex;
  std::vector<Primitive> primitives;

  ~PackedB() {
    for (const Primitive &p : primitives)
      api->primitiveDestroy(p.primitive);
    if (memory)
      api->memoryDestroy(memory);
  }

  /// The primitive for `m` rows and this epilogue's shape, made on first
  /// use; null where the library declines.
  dnnl_primitive_t primitive(int64_t m, const PackedEpilogue &e) {
    std::lock_guard<std::mutex> lock(mutex);
    const bool bias = e.bias != nullptr, residual = e.residual != nullptr;
    for (const Primitive &p : primitives)
      if (p.m == m && p.bias == bias && p.residual == residual &&
          p.activation == e.activation)
        return p.primitive;
    // Row counts vary from call to call (a prompt's length); past this
    // many, the oldest are dropped rather than kept without bound.
    constexpr size_t kKept = 16;
    if (primitives.size() == kKept) {
      api->primitiveDestroy(primitives.front().primitive);
      primitives.erase(primitives.begin());
    }
    dnnl_primitive_t made = create(m, bias, residual, e.activation);
    if (made)
      primitives.push_back({m, bias, residual, e.activation, made});
    return made;
  }

private:
  dnnl_primitive_t create(int64_t m, bool bias, bool residual,
                          artifact::Activation activation) {
    OneDnnMatmul::Api &a = *api;
    dnnl_memory_desc_t src, dst, biasDesc, residualDesc;
    const dnnl_dims_t srcDims = {m, k}, dstDims = {m, n}, biasDims = {1, n};
    // A's row stride is given with each call, so the primitive takes any
    // (DNNL_RUNTIME_DIM_VAL would cost the blocked kernel): A is bound
    // dense here and `multiply` declines other strides.
    if (a.memoryDescInitByTag(&src, 2, srcDims, dnnl_f32, dnnl_ab) ||
        a.memoryDescInitByTag(&dst, 2, dstDims, dnnl_f32, dnnl_ab) ||
        a.memoryDescInitByTag(&biasDesc, 2, biasDims, dnnl_f32, dnnl_ab) ||
        a.memoryDescInitByTag(&residualDesc, 2, dstDims, dnnl_f32, dnnl_ab))
      return nullptr;
    dnnl_matmul_desc_t desc;
    if (a.matmulDescInit(&desc, &src, &layout, bias ? &biasDesc : nullptr,
                         &dst))
      return nullptr;
    Owned<dnnl_post_ops_t> ops{nullptr, a.postOpsDestroy};
    Owned<dnnl_primitive_attr_t> attr{nullptr, a.primitiveAttrDestroy};
    if (a.postOpsCreate(&ops.value) || a.primitiveAttrCreate(&attr.value))
      return nullptr;
    // The order applyGemmEpilogue computes: bias (the primitive's own),
    // activation, then the residual.
    if (activation == artifact::Activation::Relu &&
        a.postOpsAppendEltwise(ops.value, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f))
      return nullptr;
    if (activation == artifact::Activation::GeluTanh &&
        a.postOpsAppendEltwise(ops.value, 1.0f, dnnl_eltwise_gelu_tanh, 0.0f,
                               0.0f))
      return nullptr;
    if (residual &&
        a.postOpsAppendBinary(ops.value, dnnl_binary_add, &residualDesc))
      return nullptr;
    if (a.primitiveAttrSetPostOps(attr.value, ops.value))
      return nullptr;
    Owned<dnnl_primitive_desc_t> pd{nullptr, a.primitiveDescDestroy};
    if (a.primitiveDescCreate(&pd.value, &desc, attr.value, a.engine, nullptr))
      return nullptr;
    dnnl_primitive_t p = nullptr;
    if (a.primitiveCreate(&p, pd.value))
      return nullptr;
    return p;
  }
};

void PackedBDelete::operator()(PackedB *b) const { delete b; }
PackedShape packedShape(const PackedB &b) { return {b.n, b.k}; }
bool packedPanels(const PackedB &b) { return b.panels != nullptr; }

std::unique_ptr<OneDnnMatmul> OneDnnMatmul::load(void *handle) {
  auto api = std::make_unique<Api>();
  auto resolve = [&](auto &fn, const char *name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
        dlsym(handle, name));
    return fn != nullptr;
  };
  Api &a = *api;
  const bool found =
      resolve(a.engineCreate, "dnnl_engine_create") &&
      resolve(a.engineDestroy, "dnnl_engine_destroy") &&
      resolve(a.streamCreate, "dnnl_stream_create") &&
      resolve(a.streamDestroy, "dnnl_stream_destroy") &&
      resolve(a.streamWait, "dnnl_stream_wait") &&
      resolve(a.memoryDescInitByStrides, "dnnl_memory_desc_init_by_strides") &&
      resolve(a.memoryDescInitByTag, "dnnl_memory_desc_init_by_tag") &&
      resolve(a.memoryDescGetSize, "dnnl_memory_desc_get_size") &&
      resolve(a.memoryCreate, "dnnl_memory_create") &&
      resolve(a.memoryDestroy, "dnnl_memory_destroy") &&
      resolve(a.matmulDescInit, "dnnl_matmul_desc_init") &&
      resolve(a.primitiveDescCreate, "dnnl_primitive_desc_create") &&
      resolve(a.primitiveDescDestroy, "dnnl_primitive_desc_destroy") &&
      resolve(a.primitiveDescQueryMd, "dnnl_primitive_desc_query_md") &&
      resolve(a.reorderPrimitiveDescCreate,
              "dnnl_reorder_primitive_desc_create") &&
      resolve(a.primitiveCreate, "dnnl_primitive_create") &&
      resolve(a.primitiveDestroy, "dnnl_primitive_destroy") &&
      resolve(a.primitiveExecute, "dnnl_primitive_execute") &&
      resolve(a.primitiveAttrCreate, "dnnl_primitive_attr_create") &&
      resolve(a.primitiveAttrDestroy, "dnnl_primitive_attr_destroy") &&
      resolve(a.primitiveAttrSetPostOps, "dnnl_primitive_attr_set_post_ops") &&
      resolve(a.postOpsCreate, "dnnl_post_ops_create") &&
      resolve(a.postOpsDestroy, "dnnl_post_ops_destroy") &&
      resolve(a.postOpsAppendEltwise, "dnnl_post_ops_append_eltwise") &&
      resolve(a.postOpsAppendBinary, "dnnl_post_ops_append_binary");
  if (!found)
    return nullptr;
  if (api->engineCreate(&api->engine, dnnl_cpu, 0))
    return nullptr;
  if (api->streamCreate(&api->stream, api->engine, dnnl_stream_default_flags)) {
    api->engineDestroy(api->engine);
    return nullptr;
  }
  std::unique_ptr<OneDnnMatmul> matmul(new OneDnnMatmul);
  matmul->api_ = std::move(api);
  return matmul;
}

OneDnnMatmul::~OneDnnMatmul() {
  if (api_) {
    api_->streamDestroy(api_->stream);
    api_->engineDestroy(api_->engine);
  }
}

PackedBPtr OneDnnMatmul::pack(bool transB, int64_t n, int64_t k, const float *b,
                              int64_t ldb) {
  Api &a = *api_;
  // op(B) [K, N]: stored [N, K] it is B^T, element (k, n) at n * ldb + k.
  const dnnl_dims_t dims = {k, n};
  const dnnl_dims_t strides = {transB ? 1 : ldb, transB ? ldb : 1};
  dnnl_memory_desc_t plain, any, src, dst;
  // The layout the primitive picks for 128 rows, a prefill's: measured on
  // BERT's and GPT-2's shapes it is the same for every row count from 1
  // to 1024 (blocks of 16 x 64), and the primitive for another row count
  // is made for this layout (it declines, and sgemm runs, if it cannot).
  const dnnl_dims_t srcDims = {128, k}, dstDims = {128, n};
  if (a.memoryDescInitByStrides(&plain, 2, dims, dnnl_f32, strides) ||
      a.memoryDescInitByTag(&any, 2, dims, dnnl_f32, dnnl_format_tag_any) ||
      a.memoryDescInitByTag(&src, 2, srcDims, dnnl_f32, dnnl_ab) ||
      a.memoryDescInitByTag(&dst, 2, dstDims, dnnl_f32, dnnl_ab))
    return nullptr;
  dnnl_matmul_desc_t desc;
  if (a.matmulDescInit(&desc, &src, &any, nullptr, &dst))
    return nullptr;
  Owned<dnnl_primitive_desc_t> pd{nullptr, a.primitiveDescDestroy};
  if (a.primitiveDescCreate(&pd.value, &desc, nullptr, a.engine, nullptr))
    return nullptr;
  const dnnl_memory_desc_t *chosen =
      a.primitiveDescQueryMd(pd.value, dnnl_query_weights_md, 0);
  if (!chosen)
    return nullptr;
  PackedBPtr packed(new PackedB);
  packed->api = &a;
  packed->n = n;
  packed->k = k;
  packed->layout = *chosen;
  // The packed copy in 2 MiB pages (runtime/HugePages.h).
  packed->storage = allocateWeightBuffer(a.memoryDescGetSize(&packed->layout));
  if (!packed->storage)
    return nullptr;
  if (a.memoryCreate(&packed->memory, &packed->layout, a.engine,
                     packed->storage.get()))
    return nullptr;
  Owned<dnnl_memory_t> from{nullptr, a.memoryDestroy};
  if (a.memoryCreate(&from.value, &plain, a.engine, const_cast<float *>(b)))
    return nullptr;
  Owned<dnnl_primitive_desc_t> reorderPd{nullptr, a.primitiveDescDestroy};
  if (a.reorderPrimitiveDescCreate(&reorderPd.value, &plain, a.engine,
                                   &packed->layout, a.engine, nullptr))
    return nullptr;
  Owned<dnnl_primitive_t> reorder{nullptr, a.primitiveDestroy};
  if (a.primitiveCreate(&reorder.value, reorderPd.value))
    return nullptr;
  const dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, from.value},
                                  {DNNL_ARG_TO, packed->memory}};
  if (a.primitiveExecute(reorder.value, a.stream, 2, args) ||
      a.streamWait(a.stream))
    return nullptr;
  // The layout oneDNN 2 picks for f32 weights on AVX-512 (BA16a64b, checked
  // on every BERT and GPT-2 shape): K in blocks of 16, N in blocks of 64,
  // the K blocks of one N block contiguous, so each 64-column panel is its
  // K rows of 64 floats in a row (padding zeroed by the reorder).
  const dnnl_memory_desc_t &l = packed->layout;
  const dnnl_blocking_desc_t &blocks = l.format_desc.blocking;
  if (l.format_kind == dnnl_blocked && l.ndims == 2 && l.offset0 == 0 &&
      blocks.inner_nblks == 2 && blocks.inner_idxs[0] == 0 &&
      blocks.inner_idxs[1] == 1 && blocks.inner_blks[1] == kPanel &&
      blocks.strides[0] == blocks.inner_blks[0] * kPanel &&
      blocks.strides[1] == l.padded_dims[0] * kPanel &&
      l.padded_dims[1] % kPanel == 0) {
    packed->panels = static_cast<const float *>(packed->storage.get());
    packed->paddedK = l.padded_dims[0];
  }
  return packed;
}

bool OneDnnMatmul::multiplyFewRows(const PackedB &b, int64_t m, const float *a,
                                   int64_t lda, float *c, ThreadPool &pool,
                                   CpuIsa isa) {
  if (!b.panels || m < 1 || m > kFewRows)
    return false;
  const PanelKernel kernel =
      (isa == CpuIsa::Avx512 ? kPanelKernelsAvx512
                             : kPanelKernelsGeneric)[m - 1];
  const int64_t panels = (b.n + kPanel - 1) / kPanel;
  pool.parallelFor(panels, [&](int64_t begin, int64_t end) {
    kernel(b.panels, b.paddedK, b.n, b.k, a, lda, c, begin, end);
  });
  return true;
}

bool OneDnnMatmul::multiply(PackedB &b, int64_t m, const float *a, int64_t lda,
                            float *c, const PackedEpilogue &epilogue) {
  Api &api = *api_;
  if (lda != b.k || m <= 0)
    return false;
  dnnl_primitive_t primitive = b.primitive(m, epilogue);
  if (!primitive)
    return false;
  dnnl_memory_desc_t src, dst, bias;
  const dnnl_dims_t srcDims = {m, b.k}, dstDims = {m, b.n}, biasDims = {1, b.n};
  api.memoryDescInitByTag(&src, 2, srcDims, dnnl_f32, dnnl_ab);
  api.memoryDescInitByTag(&dst, 2, dstDims, dnnl_f32, dnnl_ab);
  api.memoryDescInitByTag(&bias, 2, biasDims, dnnl_f32, dnnl_ab);
  Owned<dnnl_memory_t> srcMemory{nullptr, api.memoryDestroy},
      dstMemory{nullptr, api.memoryDestroy},
      biasMemory{nullptr, api.memoryDestroy},
      residualMemory{nullptr, api.memoryDestroy};
  std::vector<dnnl_exec_arg_t> args;
  auto bind = [&](int arg, Owned<dnnl_memory_t> &memory,
                  const dnnl_memory_desc_t &desc, const float *data) {
    if (api.memoryCreate(&memory.value, &desc, api.engine,
                         const_cast<float *>(data)))
      return false;
    args.push_back({arg, memory.value});
    return true;
  };
  if (!bind(DNNL_ARG_SRC, srcMemory, src, a) ||
      !bind(DNNL_ARG_DST, dstMemory, dst, c))
    return false;
  args.push_back({DNNL_ARG_WEIGHTS, b.memory});
  if (epilogue.bias && !bind(DNNL_ARG_BIAS, biasMemory, bias, epilogue.bias))
    return false;
  // The residual is the last post-op: its index is the count before it.
  const int residualIndex =
      epilogue.activation == artifact::Activation::None ? 0 : 1;
  if (epilogue.residual &&
      !bind(DNNL_ARG_ATTR_MULTIPLE_POST_OP(residualIndex) | DNNL_ARG_SRC_1,
            residualMemory, dst, epilogue.residual))
    return false;
  return api.primitiveExecute(primitive, api.stream,
                              static_cast<int>(args.size()),
                              args.data()) == dnnl_success &&
         api.streamWait(api.stream) == dnnl_success;
}

#else // !KILN_ONEDNN_HEADERS

struct OneDnnMatmul::Api {};
class PackedB {};
void PackedBDelete::operator()(PackedB *b) const { delete b; }
PackedShape packedShape(const PackedB &) { return {}; }
bool packedPanels(const PackedB &) { return false; }
std::unique_ptr<OneDnnMatmul> OneDnnMatmul::load(void *) { return nullptr; }
OneDnnMatmul::~OneDnnMatmul() = default;
PackedBPtr OneDnnMatmul::pack(bool, int64_t, int64_t, const float *, int64_t) {
  return nullptr;
}
bool OneDnnMatmul::multiply(PackedB &, int64_t, const float *, int64_t, float *,
                            const PackedEpilogue &) {
  return false;
}
bool OneDnnMatmul::multiplyFewRows(const PackedB &, int64_t, const float *,
                                   int64_t, float *, ThreadPool &, CpuIsa) {
  return false;
}

#endif // KILN_ONEDNN_HEADERS

} // namespace kiln::rt
