//===- DimExpr.cpp - a manifest's dim expressions -------------------------===//

#include "runtime/DimExpr.h"

#include "absl/strings/str_join.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln::rt {

using namespace artifact;

namespace {

constexpr size_t kMaxExprDepth = 16;

int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

} // namespace

/// Checks an expression is well formed (stack depth, symbol indices,
/// divisions by positive constants only).
bool validDim(const DimT &dim, size_t symbols) {
  size_t depth = 0;
  for (size_t i = 0; i < dim.terms.size(); ++i) {
    const Term &t = dim.terms[i];
    switch (t.op()) {
    case ExprOp::Const:
      ++depth;
      break;
    case ExprOp::Symbol:
      if (t.value() < 0 || static_cast<size_t>(t.value()) >= symbols)
        return false;
      ++depth;
      break;
    case ExprOp::Add:
    case ExprOp::Mul:
      if (depth < 2)
        return false;
      --depth;
      break;
    case ExprOp::FloorDiv:
    case ExprOp::CeilDiv:
    case ExprOp::Mod:
      if (depth < 2 || dim.terms[i - 1].op() != ExprOp::Const ||
          dim.terms[i - 1].value() <= 0)
        return false;
      --depth;
      break;
    default:
      return false;
    }
    if (depth > kMaxExprDepth)
      return false;
  }
  return depth == 1;
}

/// Evaluates a (validated) expression. Sums and products wrap instead of
/// overflowing: a crafted expression gives a nonsense dim, which the
/// capacity check of every buffer then refuses.
int64_t evalDim(const DimT &dim, const std::vector<int64_t> &symbols) {
  int64_t stack[kMaxExprDepth];
  size_t top = 0;
  for (const Term &t : dim.terms) {
    switch (t.op()) {
    case ExprOp::Const:
      stack[top++] = t.value();
      continue;
    case ExprOp::Symbol:
      stack[top++] = symbols[t.value()];
      continue;
    default:
      break;
    }
    int64_t rhs = stack[--top], lhs = stack[--top];
    switch (t.op()) {
    case ExprOp::Add:
      stack[top++] = static_cast<int64_t>(static_cast<uint64_t>(lhs) +
                                          static_cast<uint64_t>(rhs));
      break;
    case ExprOp::Mul:
      stack[top++] = static_cast<int64_t>(static_cast<uint64_t>(lhs) *
                                          static_cast<uint64_t>(rhs));
      break;
    case ExprOp::FloorDiv:
      stack[top++] = floorDiv(lhs, rhs);
      break;
    case ExprOp::CeilDiv:
      stack[top++] = lhs == INT64_MIN ? lhs : -floorDiv(-lhs, rhs);
      break;
    case ExprOp::Mod:
      stack[top++] = lhs - floorDiv(lhs, rhs) * rhs;
      break;
    default:
      break;
    }
  }
  return stack[0];
}
std::vector<int64_t> evalDims(const std::vector<std::unique_ptr<DimT>> &dims,
                              const std::vector<int64_t> &symbols) {
  std::vector<int64_t> out;
  out.reserve(dims.size());
  for (const auto &d : dims)
    out.push_back(evalDim(*d, symbols));
  return out;
}

/// The product of the first `count` dims (all by default).
int64_t product(const std::vector<int64_t> &dims, size_t count) {
  int64_t n = 1;
  for (auto it = dims.begin(); it != dims.begin() + count; ++it)
    n *= *it;
  return n;
}

int64_t product(const std::vector<int64_t> &dims) {
  return product(dims, dims.size());
}

std::string formatDims(const std::vector<int64_t> &dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

/// Bytes of a buffer of `dims`, or -1 for a negative dim or an overflow.
int64_t checkedBytes(const std::vector<int64_t> &dims, size_t elementBytes) {
  int64_t bytes = static_cast<int64_t>(elementBytes);
  for (int64_t d : dims)
    if (d < 0 || __builtin_mul_overflow(bytes, d, &bytes))
      return -1;
  return bytes;
}

} // namespace kiln::rt
