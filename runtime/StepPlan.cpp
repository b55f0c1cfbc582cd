//===- StepPlan.cpp - the shape plans of library steps --------------------===//

#include "runtime/StepPlan.h"

#include "runtime/CallBinding.h"
#include "runtime/DimExpr.h"
#include "support/Status.h"

#include "absl/strings/str_cat.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kiln::rt {

using namespace artifact;

absl::StatusOr<GemmPlan> planGemm(const StepT &step,
                                  const CallBinding &binding) {
  auto lhs = binding.dimsOf(*step.operands[0]);
  auto rhs = binding.dimsOf(*step.operands[1]);
  auto out = binding.dimsOf(*step.results[0]);
  if (!lhs.ok() || !rhs.ok() || !out.ok())
    return !lhs.ok() ? lhs.status() : !rhs.ok() ? rhs.status() : out.status();
  const std::vector<int64_t> &l = *lhs, &r = *rhs;
  size_t rank = l.size();
  GemmPlan g;
  g.transA = step.transpose_lhs;
  g.transB = step.transpose_rhs;
  if (rank < 2 || r.size() < 2 || (r.size() != 2 && r.size() != rank))
    return absl::InternalError(
        absl::StrCat("gemm at ", step.location, ": ranks do not fit"));
  g.m = g.transA ? l[rank - 1] : l[rank - 2];
  g.k = g.transA ? l[rank - 2] : l[rank - 1];
  g.n = g.transB ? r[r.size() - 2] : r[r.size() - 1];
  int64_t k2 = g.transB ? r[r.size() - 1] : r[r.size() - 2];
  g.batch = product(l, rank - 2);
  g.shared = r.size() == 2;
  if (k2 != g.k || (!g.shared && product(r, rank - 2) != g.batch) ||
      product(*out) != g.batch * g.m * g.n)
    return absl::InvalidArgumentError(
        absl::StrCat("gemm at ", step.location, ": ", formatDims(l), " x ",
                     formatDims(r), " do not agree"));
  g.lda = l[rank - 1];
  g.ldb = r[r.size() - 1];
  g.folded = g.shared && !g.transA;
  g.activation = step.activation;
  g.bType = step.operands[1]->dtype;
  int next = 2;
  if (step.has_bias) {
    g.bias = next++;
    KILN_ASSIGN_OR_RETURN(auto bias, binding.dimsOf(*step.operands[g.bias]));
    if (bias != std::vector<int64_t>{g.n})
      return absl::InvalidArgumentError(
          absl::StrCat("gemm at ", step.location, ": bias ", formatDims(bias),
                       " is not [", g.n, "]"));
  }
  if (step.has_residual) {
    g.residual = next++;
    KILN_ASSIGN_OR_RETURN(auto residual,
                          binding.dimsOf(*step.operands[g.residual]));
    if (residual != *out)
      return absl::InvalidArgumentError(absl::StrCat(
          "gemm at ", step.location, ": residual ", formatDims(residual),
          " is not the result's ", formatDims(*out)));
  }
  return g;
}

ColumnMajorGemm columnMajor(const GemmPlan &g) {
  ColumnMajorGemm c;
  int64_t m = g.folded ? g.batch * g.m : g.m;
  // X = op(B)^T [n, k]: B row-major [k, n] is column-major [n, k] as is;
  // B row-major [n, k] (transposed) is column-major [k, n], transposed.
  c.transX = g.transB;
  c.xRows = g.transB ? g.k : g.n;
  c.xCols = g.transB ? g.n : g.k;
  c.ldx = g.ldb;
  // Y = op(A)^T [k, m], likewise.
  c.transY = g.transA;
  c.yRows = g.transA ? m : g.k;
  c.yCols = g.transA ? g.k : m;
  c.ldy = g.lda;
  c.dRows = g.n;
  c.dCols = m;
  c.ldd = g.n;
  if (g.folded)
    return c;
  if (g.shared) {
    // One B for every batch but a transposed A: one product per batch.
    c.launches = g.batch;
    c.launchStrideY = g.m * g.k;
    c.launchStrideD = g.m * g.n;
    return c;
  }
  c.batch = g.batch;
  c.strideX = g.k * g.n;
  c.strideY = g.m * g.k;
  c.strideD = g.m * g.n;
  return c;
}

absl::StatusOr<NormPlan> planNorm(const StepT &step,
                                  const CallBinding &binding) {
  auto in = binding.dimsOf(*step.operands[0]);
  auto scale = binding.dimsOf(*step.operands[1]);
  auto out = binding.dimsOf(*step.results[0]);
  if (!in.ok() || !scale.ok() || !out.ok())
    return !in.ok() ? in.status() : !scale.ok() ? scale.status() : out.status();
  NormPlan p;
  p.rms = step.norm == NormKind::Rms;
  p.bias = step.has_bias;
  p.epsilon = static_cast<float>(step.epsilon);
  p.width = in->empty() ? 0 : in->back();
  p.rows = p.width > 0 ? product(*in) / p.width : 0;
  bool ok =
      !in->empty() && *out == *in && *scale == std::vector<int64_t>{p.width};
  if (ok && p.bias) {
    KILN_ASSIGN_OR_RETURN(auto bias, binding.dimsOf(*step.operands[2]));
    ok = bias == *scale;
  }
  if (!ok)
    return absl::InvalidArgumentError(absl::StrCat(
        "norm at ", step.location, ": input ", formatDims(*in), ", scale ",
        formatDims(*scale), " and result ", formatDims(*out), " do not agree"));
  return p;
}

absl::StatusOr<std::vector<int64_t>> cacheRowStarts(const StepT &step,
                                                    const AttentionPlan &p,
                                                    const void *positions,
                                                    bool wide) {
  std::vector<int64_t> starts(p.batch);
  for (int64_t b = 0; b < p.batch; ++b) {
    int64_t start = wide ? static_cast<const int64_t *>(positions)[b]
                         : static_cast<const int32_t *>(positions)[b];
    if (start < 0 || start + p.sq > p.cacheLength)
      return absl::InvalidArgumentError(absl::StrCat(
          "attention at ", step.location, ": kv cache overflow: sequence ", b,
          " writes rows [", start, ", ", start + p.sq, ") of a cache of ",
          p.cacheLength));
    starts[b] = start;
  }
  return starts;
}

absl::StatusOr<AttentionPlan> planAttention(const StepT &step,
                                            const CallBinding &binding) {
  std::vector<std::vector<int64_t>> dims;
  for (const auto &b : step.operands) {
    KILN_ASSIGN_OR_RETURN(auto d, binding.dimsOf(*b));
    dims.push_back(std::move(d));
  }
  KILN_ASSIGN_OR_RETURN(auto out, binding.dimsOf(*step.results[0]));
  auto fail = [&](const std::string &what) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention at ", step.location, ": ", what));
  };
  const std::vector<int64_t> &q = dims[0], &k = dims[1], &v = dims[2];
  if (out != q)
    return fail("the result is not the query's shape");
  if (q.size() != 3 || k.size() != 3 || v != k || k[0] != q[0] ||
      q[2] % step.num_heads != 0)
    return fail(absl::StrCat("query ", formatDims(q), ", key ", formatDims(k),
                             " and value ", formatDims(v), " do not agree"));
  AttentionPlan a;
  a.batch = q[0];
  a.sq = q[1];
  a.heads = step.num_heads;
  a.kvHeads = step.num_kv_heads;
  a.headDim = q[2] / a.heads;
  a.width = k[2];
  if (a.width != a.kvHeads * a.headDim)
    return fail(absl::StrCat("key width ", k[2], " is not ", a.kvHeads,
                             " heads of ", a.headDim));
  a.scale = static_cast<float>(step.scale);
  a.causal =
      step.mask == MaskKind::Causal || step.mask == MaskKind::CausalPadding;
  a.sk = k[1];
  int next = 3;
  if (step.has_key_mask)
    a.mask = next++;
  if (step.has_bias)
    a.bias = next++;
  if (step.has_cache) {
    a.kCache = next;
    a.vCache = next + 1;
    a.positions = next + 2;
    const std::vector<int64_t> &kc = dims[next], &vc = dims[next + 1],
                               &pos = dims[next + 2];
    if (kc.size() != 3 || vc != kc || kc[0] != a.batch || kc[2] != a.width ||
        pos != std::vector<int64_t>{a.batch} || a.sq > kc[1])
      return fail(absl::StrCat("caches ", formatDims(kc), ", new rows ",
                               formatDims(k), " and positions ",
                               formatDims(pos), " do not agree"));
    a.cacheLength = kc[1];
    a.sk = kc[1];
  }
  if (a.mask >= 0 && dims[a.mask] != std::vector<int64_t>{a.batch, a.sk})
    return fail(absl::StrCat(
        "key_mask ", formatDims(dims[a.mask]),
        " is not [batch, key_len] = ", formatDims({a.batch, a.sk})));
  if (a.bias >= 0) {
    const std::vector<int64_t> &bd = dims[a.bias];
    std::vector<int64_t> full = {a.batch, a.heads, a.sq, a.sk};
    if (bd.size() != 4)
      return fail("bias is not rank 4");
    int64_t stride = 1;
    for (int i = 3; i >= 0; --i) {
      if (bd[i] != 1 && bd[i] != full[i])
        return fail(absl::StrCat("bias ", formatDims(bd),
                                 " does not broadcast to ", formatDims(full)));
      a.biasStrides[i] = bd[i] == 1 ? 0 : stride;
      stride *= bd[i];
    }
  }
  return a;
}

} // namespace kiln::rt
