//===- CudaBlas.cpp - gemm steps on cuBLASLt, loaded at run time ----------===//

#include "runtime/CudaBlas.h"

#include "runtime/CudaDriver.h"
#include "runtime/LoadedLibrary.h"
#include "runtime/StepPlan.h"
#include "support/Status.h"

#include "absl/strings/str_cat.h"

// cublasLt.h gives types and enum values only; every cuBLASLt function
// comes from dlsym.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cublasLt.h>
#include <dlfcn.h>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace kiln::rt {

namespace {
constexpr size_t kWorkspaceBytes = 32 << 20;

/// The largest power of two, at most 256, dividing `base` and every
/// multiple of each step in `steps` (0: no such step): the alignment
/// cuBLASLt may assume of an operand over all batches and launches. Its
/// heuristic assumes 256 bytes unless told less, and an algorithm chosen
/// for 256-byte operands may fault on the arena's 64-byte ones.
uint32_t alignment(CUdeviceptr base, std::initializer_list<int64_t> steps) {
  uint64_t bits = base | 256;
  for (int64_t step : steps)
    bits |= static_cast<uint64_t>(step);
  return static_cast<uint32_t>(bits & -bits);
}
} // namespace

struct CudaBlas::Impl {
  const CudaDriver &driver;
  CUstream stream;
  void *library = nullptr;
  std::string libraryPath;
  cublasLtHandle_t handle = nullptr;
  CUdeviceptr workspace = 0;
  decltype(&cublasLtCreate) create = nullptr;
  decltype(&cublasLtDestroy) destroy = nullptr;
  decltype(&cublasLtGetStatusString) statusString = nullptr;
  decltype(&cublasLtMatmulDescCreate) descCreate = nullptr;
  decltype(&cublasLtMatmulDescDestroy) descDestroy = nullptr;
  decltype(&cublasLtMatmulDescSetAttribute) descSet = nullptr;
  decltype(&cublasLtMatrixLayoutCreate) layoutCreate = nullptr;
  decltype(&cublasLtMatrixLayoutDestroy) layoutDestroy = nullptr;
  decltype(&cublasLtMatrixLayoutSetAttribute) layoutSet = nullptr;
  decltype(&cublasLtMatmulPreferenceCreate) prefCreate = nullptr;
  decltype(&cublasLtMatmulPreferenceDestroy) prefDestroy = nullptr;
  decltype(&cublasLtMatmulPreferenceSetAttribute) prefSet = nullptr;
  decltype(&cublasLtMatmulAlgoGetHeuristic) heuristic = nullptr;
  decltype(&cublasLtMatmul) matmul = nullptr;
  using Key =
      std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool,
                 int64_t, bool, int, bool, int, std::array<uint32_t, 4>>;
  std::map<Key, cublasLtMatmulAlgo_t> algos;
  std::set<Key> unfused; // shapes whose epilogue cuBLASLt cannot fuse
  /// W8A8's int8 products: (m, n, k, alignments), and those it has none for.
  using Int8Key =
      std::tuple<int64_t, int64_t, int64_t, std::array<uint32_t, 4>>;
  std::map<Int8Key, cublasLtMatmulAlgo_t> int8Algos;
  std::set<Int8Key> int8Unsupported;

  Impl(const CudaDriver &d, CUstream s) : driver(d), stream(s) {}
  ~Impl() {
    if (handle)
      destroy(handle);
    if (workspace)
      driver.api().memFree(workspace);
    if (library)
      dlclose(library);
  }
  absl::Status check(cublasStatus_t s, const std::string &what) const {
    if (s == CUBLAS_STATUS_SUCCESS)
      return absl::OkStatus();
    return absl::InternalError(
        absl::StrCat(what, ": ", statusString ? statusString(s) : "cuBLASLt",
                     " (", static_cast<int>(s), ")"));
  }
  /// One matmul's descriptor and its X, Y and D layouts (C is D's),
  /// destroyed with it.
  struct Matmul {
    const Impl &impl;
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t x = nullptr, y = nullptr, d = nullptr;
    explicit Matmul(const Impl &i) : impl(i) {}
    Matmul(const Matmul &) = delete;
    Matmul &operator=(const Matmul &) = delete;
    ~Matmul() {
      for (auto layout : {x, y, d})
        if (layout)
          impl.layoutDestroy(layout);
      if (desc)
        impl.descDestroy(desc);
    }
  };
  /// `m`'s descriptor: the compute and scale types, op(X) and op(Y).
  absl::Status describe(Matmul &m, cublasComputeType_t compute,
                        cudaDataType_t scale, cublasOperation_t opX,
                        cublasOperation_t opY, const std::string &where) const {
    KILN_RETURN_IF_ERROR(check(descCreate(&m.desc, compute, scale), where));
    KILN_RETURN_IF_ERROR(
        check(descSet(m.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opX, sizeof(opX)),
              where));
    return check(
        descSet(m.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opY, sizeof(opY)), where);
  }
  /// `m` with `algo` on the stream: D = alpha op(X) op(Y) + beta C.
  absl::Status run(const Matmul &m, const cublasLtMatmulAlgo_t &algo,
                   const void *alpha, CUdeviceptr x, CUdeviceptr y,
                   const void *beta, CUdeviceptr c, CUdeviceptr d,
                   const std::string &where) const {
    auto at = [](CUdeviceptr p) { return reinterpret_cast<void *>(p); };
    return check(matmul(handle, m.desc, alpha, at(x), m.x, at(y), m.y, beta,
                        at(c), m.d, at(d), m.d, &algo, at(workspace),
                        kWorkspaceBytes,
                        reinterpret_cast<cudaStream_t>(stream)),
                 where);
  }
  /// The heuristic's first algorithm for D = op(X) op(Y) (C = D) with the
  /// workspace and the operands' `aligned` bytes (X, Y, C, D), or nullopt
  /// when it has none for them.
  absl::StatusOr<std::optional<cublasLtMatmulAlgo_t>>
  algorithm(cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t x,
            cublasLtMatrixLayout_t y, cublasLtMatrixLayout_t d,
            const std::array<uint32_t, 4> &aligned, const std::string &where) {
    cublasLtMatmulPreference_t pref = nullptr;
    size_t bytes = kWorkspaceBytes;
    cublasLtMatmulHeuristicResult_t result = {};
    int count = 0;
    absl::Status s = check(prefCreate(&pref), where);
    if (s.ok())
      s = check(prefSet(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &bytes,
                        sizeof(bytes)),
                where);
    const cublasLtMatmulPreferenceAttributes_t alignments[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int o = 0; o < 4 && s.ok(); ++o)
      s = check(prefSet(pref, alignments[o], &aligned[o], sizeof(uint32_t)),
                where);
    cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
    if (s.ok())
      status = heuristic(handle, desc, x, y, d, d, pref, 1, &result, &count);
    if (pref)
      prefDestroy(pref);
    KILN_RETURN_IF_ERROR(s);
    if (status == CUBLAS_STATUS_NOT_SUPPORTED ||
        (status == CUBLAS_STATUS_SUCCESS && count == 0))
      return std::nullopt;
    KILN_RETURN_IF_ERROR(check(status, where));
    return std::optional<cublasLtMatmulAlgo_t>(result.algo);
  }
};

CudaBlas::CudaBlas(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaBlas::~CudaBlas() = default;

absl::StatusOr<std::unique_ptr<CudaBlas>>
CudaBlas::load(const CudaDriver &driver, CUstream stream,
               const std::string &library) {
  auto impl = std::make_unique<Impl>(driver, stream);
  // The loader's path first, then the toolkit's usual folders (a machine
  // with the toolkit need not have them on the loader's path).
  std::vector<std::string> candidates = {library};
  if (library.empty()) {
    candidates = {"libcublasLt.so.13", "libcublasLt.so.12"};
    for (const char *dir : std::initializer_list<const char *>{
             getenv("CUDA_HOME"), "/usr/local/cuda"})
      if (dir)
        for (const char *sub : {"/lib64/", "/targets/x86_64-linux/lib/"})
          candidates.push_back(std::string(dir) + sub + "libcublasLt.so.13");
  }
  std::string lastError;
  for (const std::string &name : candidates) {
    if ((impl->library = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)))
      break;
    lastError = dlerror();
  }
  if (!impl->library)
    return absl::UnavailableError(
        library.empty()
            ? "cuBLASLt (libcublasLt.so.13) is not installed; gemm steps "
              "need it (add its folder to LD_LIBRARY_PATH)"
            : absl::StrCat("cannot open cuBLASLt ", library, ": ", lastError));
  impl->libraryPath = loadedPath(impl->library, candidates.front());
  auto resolve = [&](auto &fn, const char *symbol) {
    return resolveSymbol(impl->library, fn, symbol);
  };
  Impl &i = *impl;
  if (!resolve(i.create, "cublasLtCreate") ||
      !resolve(i.destroy, "cublasLtDestroy") ||
      !resolve(i.statusString, "cublasLtGetStatusString") ||
      !resolve(i.descCreate, "cublasLtMatmulDescCreate") ||
      !resolve(i.descDestroy, "cublasLtMatmulDescDestroy") ||
      !resolve(i.descSet, "cublasLtMatmulDescSetAttribute") ||
      !resolve(i.layoutCreate, "cublasLtMatrixLayoutCreate") ||
      !resolve(i.layoutDestroy, "cublasLtMatrixLayoutDestroy") ||
      !resolve(i.layoutSet, "cublasLtMatrixLayoutSetAttribute") ||
      !resolve(i.prefCreate, "cublasLtMatmulPreferenceCreate") ||
      !resolve(i.prefDestroy, "cublasLtMatmulPreferenceDestroy") ||
      !resolve(i.prefSet, "cublasLtMatmulPreferenceSetAttribute") ||
      !resolve(i.heuristic, "cublasLtMatmulAlgoGetHeuristic") ||
      !resolve(i.matmul, "cublasLtMatmul"))
    return absl::UnavailableError("cuBLASLt lacks the entry points Kiln uses");
  KILN_RETURN_IF_ERROR(i.check(i.create(&i.handle), "cublasLtCreate"));
  KILN_RETURN_IF_ERROR(
      driver.check(driver.api().memAlloc(&i.workspace, kWorkspaceBytes),
                   "allocating the cuBLASLt workspace"));
  return std::unique_ptr<CudaBlas>(new CudaBlas(std::move(impl)));
}

const std::string &CudaBlas::libraryPath() const { return impl_->libraryPath; }

absl::Status CudaBlas::gemm(const GemmPlan &g, const GemmBuffers &buffers,
                            const std::string &where) {
  Impl &i = *impl_;
  const CUdeviceptr a = buffers.a, b = buffers.b, out = buffers.c;
  const bool hasBias = g.bias >= 0, hasResidual = g.residual >= 0;
  // A and B in f32, or both in bf16/f16 (A narrowed by the caller); C, D,
  // bias and the accumulation in f32 either way.
  const cudaDataType_t operands = g.bType == artifact::DType::BF16 ? CUDA_R_16BF
                                  : g.bType == artifact::DType::F16
                                      ? CUDA_R_16F
                                      : CUDA_R_32F;
  const int64_t operandBytes = g.halfPrecision() ? 2 : 4;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  switch (g.activation) {
  case artifact::Activation::Relu:
    epilogue = hasBias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
    break;
  case artifact::Activation::GeluTanh:
    epilogue = hasBias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
    break;
  default:
    epilogue = hasBias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    break;
  }
  const ColumnMajorGemm c = columnMajor(g);
  cublasOperation_t opX = c.transX ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opY = c.transY ? CUBLAS_OP_T : CUBLAS_OP_N;

  Impl::Matmul matmul(i);
  absl::Status s =
      i.describe(matmul, CUBLAS_COMPUTE_32F, CUDA_R_32F, opX, opY, where);
  cublasLtMatmulDesc_t &desc = matmul.desc;
  cublasLtMatrixLayout_t &x = matmul.x, &y = matmul.y, &d = matmul.d;
  if (s.ok() && epilogue != CUBLASLT_EPILOGUE_DEFAULT)
    s = i.check(i.descSet(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                          sizeof(epilogue)),
                where);
  if (s.ok() && hasBias) {
    void *bias = reinterpret_cast<void *>(buffers.bias);
    s = i.check(
        i.descSet(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)),
        where);
  }
  if (s.ok())
    s = i.check(i.layoutCreate(&x, operands, c.xRows, c.xCols, c.ldx), where);
  if (s.ok())
    s = i.check(i.layoutCreate(&y, operands, c.yRows, c.yCols, c.ldy), where);
  if (s.ok())
    s = i.check(i.layoutCreate(&d, CUDA_R_32F, c.dRows, c.dCols, c.ldd), where);
  if (s.ok() && c.batch > 1) {
    int32_t count = static_cast<int32_t>(c.batch);
    for (auto [layout, stride] :
         {std::pair{x, c.strideX}, std::pair{y, c.strideY},
          std::pair{d, c.strideD}}) {
      if (s.ok())
        s = i.check(i.layoutSet(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                &count, sizeof(count)),
                    where);
      if (s.ok())
        s = i.check(i.layoutSet(layout,
                                CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                &stride, sizeof(stride)),
                    where);
    }
  }
  // cuBLASLt's A is X (B's buffer), its B is Y (A's), C the residual or D.
  const int64_t batched = c.batch > 1, launched = c.launches > 1;
  const CUdeviceptr cBase = hasResidual ? buffers.residual : out;
  const std::array<uint32_t, 4> aligned = {
      alignment(b, {batched * c.strideX * operandBytes}),
      alignment(a, {batched * c.strideY * operandBytes,
                    launched * c.launchStrideY * operandBytes}),
      alignment(cBase,
                {batched * c.strideD * 4, launched * c.launchStrideD * 4}),
      alignment(out,
                {batched * c.strideD * 4, launched * c.launchStrideD * 4})};
  Impl::Key key{c.dCols,     g.n,
                g.k,         g.lda,
                g.ldb,       g.transA,
                g.transB,    c.batch,
                g.shared,    static_cast<int>(epilogue),
                hasResidual, static_cast<int>(g.bType),
                aligned};
  if (i.unfused.count(key)) {
    return absl::UnimplementedError(
        where + ": cuBLASLt has no algorithm with this epilogue fused");
  }
  auto found = i.algos.find(key);
  if (s.ok() && found == i.algos.end()) {
    auto chosen = i.algorithm(desc, x, y, d, aligned, where);
    if (!chosen.ok()) {
      s = chosen.status();
    } else if (!*chosen && epilogue != CUBLASLT_EPILOGUE_DEFAULT) {
      // An epilogue cuBLASLt cannot fuse here is the caller's to run.
      i.unfused.insert(key);
      s = absl::UnimplementedError(
          where + ": cuBLASLt has no algorithm with this epilogue fused");
    } else if (!*chosen) {
      s = absl::InternalError(where + ": cuBLASLt has no algorithm for it");
    } else {
      found = i.algos.emplace(key, **chosen).first;
    }
  }
  // The residual is C, added with beta = 1; else C is D, scaled by 0.
  float one = 1, beta = hasResidual ? 1.0f : 0.0f;
  for (int64_t l = 0; s.ok() && l < c.launches; ++l) {
    CUdeviceptr yPtr = a + l * c.launchStrideY * operandBytes,
                dPtr = out + l * c.launchStrideD * 4,
                cPtr = hasResidual ? buffers.residual + l * c.launchStrideD * 4
                                   : dPtr;
    s = i.run(matmul, found->second, &one, b, yPtr, &beta, cPtr, dPtr, where);
  }
  return s;
}

absl::Status CudaBlas::gemmInt8(int64_t m, int64_t n, int64_t k, CUdeviceptr q,
                                CUdeviceptr w, CUdeviceptr sums,
                                const std::string &where) {
  Impl &i = *impl_;
  const std::string what = where + ": int8 gemm";
  if (k % 4 != 0 || n % 4 != 0)
    return absl::UnimplementedError(
        what + ": cuBLASLt's int8 kernels need k and n multiples of 4");
  // Column-major, D^T [n, m] = op(X) Y with X = W as [k, n] (ld k, op T)
  // and Y = Q^T as [k, m] (ld k): the row-major S [m, n] (ld n).
  const std::array<uint32_t, 4> aligned = {alignment(w, {}), alignment(q, {}),
                                           alignment(sums, {}),
                                           alignment(sums, {})};
  const Impl::Int8Key key{m, n, k, aligned};
  if (i.int8Unsupported.count(key))
    return absl::UnimplementedError(what + ": cuBLASLt has no algorithm");
  Impl::Matmul matmul(i);
  absl::Status s = i.describe(matmul, CUBLAS_COMPUTE_32I, CUDA_R_32I,
                              CUBLAS_OP_T, CUBLAS_OP_N, what);
  cublasLtMatrixLayout_t &x = matmul.x, &y = matmul.y, &d = matmul.d;
  if (s.ok())
    s = i.check(i.layoutCreate(&x, CUDA_R_8I, k, n, k), what);
  if (s.ok())
    s = i.check(i.layoutCreate(&y, CUDA_R_8I, k, m, k), what);
  if (s.ok())
    s = i.check(i.layoutCreate(&d, CUDA_R_32I, n, m, n), what);
  auto found = i.int8Algos.find(key);
  if (s.ok() && found == i.int8Algos.end()) {
    auto chosen = i.algorithm(matmul.desc, x, y, d, aligned, what);
    if (!chosen.ok()) {
      s = chosen.status();
    } else if (!*chosen) {
      i.int8Unsupported.insert(key);
      s = absl::UnimplementedError(what + ": cuBLASLt has no algorithm");
    } else {
      found = i.int8Algos.emplace(key, **chosen).first;
    }
  }
  // int32 alpha and beta, as the compute type says.
  const int32_t one = 1, zero = 0;
  if (s.ok())
    s = i.run(matmul, found->second, &one, w, q, &zero, sums, sums, what);
  return s;
}

} // namespace kiln::rt
