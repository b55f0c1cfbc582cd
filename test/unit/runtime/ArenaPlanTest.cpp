//===- ArenaPlanTest.cpp - an entry's arena laid out for a call's shapes --===//
//
// The arena plan on hand-built step lists: operands find the value last
// defined at their compiled offset, values live at the same time never
// share bytes, sizes follow the call's symbols, and sizes that cannot be
// allocated are one error.
//
//===----------------------------------------------------------------------===//

#include "runtime/ArenaPlan.h"
#include "artifact/Artifact.h"
#include "runtime/Pooling.h"
#include "runtime/Tensor.h"
#include "support/ArenaPacking.h"

#include "absl/status/status.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace {

namespace rt = kiln::rt;
namespace art = kiln::artifact;

/// A dim that is symbol `s` (s >= 0) or the constant -s.
std::unique_ptr<art::DimT> dim(int64_t s) {
  auto d = std::make_unique<art::DimT>();
  d->terms.push_back(s >= 0 ? art::Term(art::ExprOp::Symbol, s)
                            : art::Term(art::ExprOp::Const, -s));
  return d;
}

/// An f32 arena buffer of [symbol 0, 4] at a compiled offset.
std::unique_ptr<art::BufferT> arena(int64_t offset) {
  auto b = std::make_unique<art::BufferT>();
  b->kind = art::BufferKind::Arena;
  b->index = offset;
  b->dtype = art::DType::F32;
  b->dims.push_back(dim(0));
  b->dims.push_back(dim(-4));
  return b;
}

std::unique_ptr<art::StepT> kernel(std::vector<int64_t> operands,
                                   int64_t result) {
  auto step = std::make_unique<art::StepT>();
  step->kind = art::StepKind::Kernel;
  for (int64_t o : operands)
    step->operands.push_back(arena(o));
  step->results.push_back(arena(result));
  return step;
}

/// kilnc's layout at symbol 0 = 1 (16-byte buffers): A at 0 (steps 0-1),
/// B at 64 (steps 1-3), C at 0 again once A is dead (steps 2-3), D at 128
/// (step 3 to the end, the entry's result).
art::EntryT chain() {
  art::EntryT entry;
  entry.name = "prefill";
  entry.arena_bytes = 192;
  entry.steps.push_back(kernel({}, 0));        // A
  entry.steps.push_back(kernel({0}, 64));      // B = f(A)
  entry.steps.push_back(kernel({64}, 0));      // C = f(B)
  entry.steps.push_back(kernel({0, 64}, 128)); // D = f(C, B)
  auto result = std::make_unique<art::ResultT>();
  result->name = "out";
  result->buffer = arena(128);
  entry.results.push_back(std::move(result));
  return entry;
}

bool disjoint(const rt::ArenaPlan &plan, const art::BufferT &a,
              const art::BufferT &b) {
  return plan.offset(a) + plan.capacity(a) <= plan.offset(b) ||
         plan.offset(b) + plan.capacity(b) <= plan.offset(a);
}

TEST(ArenaPlanTest, OperandsReadTheValueLastDefinedAtTheirOffset) {
  art::EntryT entry = chain();
  auto plan = rt::ArenaPlan::make(entry, {100});
  ASSERT_TRUE(plan.ok()) << plan.status();
  const auto &s = entry.steps;
  const art::BufferT &a = *s[0]->results[0], &b = *s[1]->results[0],
                     &c = *s[2]->results[0], &d = *s[3]->results[0];
  EXPECT_EQ(plan->capacity(a), 1600); // 100 x 4 floats
  EXPECT_EQ(plan->offset(*s[1]->operands[0]), plan->offset(a));
  EXPECT_EQ(plan->offset(*s[2]->operands[0]), plan->offset(b));
  EXPECT_EQ(plan->offset(*s[3]->operands[0]), plan->offset(c));
  EXPECT_EQ(plan->offset(*s[3]->operands[1]), plan->offset(b));
  EXPECT_EQ(plan->offset(*entry.results[0]->buffer), plan->offset(d));
  // Live together: A and B; B, C and D. A and C may share.
  EXPECT_TRUE(disjoint(*plan, a, b));
  EXPECT_TRUE(disjoint(*plan, b, c));
  EXPECT_TRUE(disjoint(*plan, b, d));
  EXPECT_TRUE(disjoint(*plan, c, d));
  for (const art::BufferT *x : {&a, &b, &c, &d}) {
    EXPECT_EQ(plan->offset(*x) % 64, 0);
    EXPECT_LE(plan->offset(*x) + plan->capacity(*x), plan->bytes());
  }
  // Largest first, lowest free offset: A 0, B 1600, C 0, D 3200.
  EXPECT_EQ(plan->offset(c), plan->offset(a));
  EXPECT_EQ(plan->bytes(), 3 * 1600);
}

TEST(ArenaPlanTest, KeepsKilncsLayoutAtTheCompiledShape) {
  // At the compiled symbol value the plan packs as tightly as kilnc did.
  art::EntryT entry = chain();
  auto plan = rt::ArenaPlan::make(entry, {1});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->bytes(), entry.arena_bytes);
}

TEST(ArenaPlanTest, SizesThatCannotBeAllocatedAreOneError) {
  art::EntryT entry = chain();
  auto plan = rt::ArenaPlan::make(entry, {int64_t{1} << 61});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(plan.status().message(),
            "prefill: a buffer would be [2305843009213693952, 4], too large "
            "to allocate");
}

TEST(ArenaPlanTest, PlansAreKeptPerShape) {
  art::EntryT entry = chain();
  rt::ArenaPlans plans;
  auto first = plans.get(entry, {50});
  auto again = plans.get(entry, {50});
  auto other = plans.get(entry, {60});
  ASSERT_TRUE(first.ok() && again.ok() && other.ok());
  EXPECT_EQ(first->get(), again->get());
  EXPECT_NE(first->get(), other->get());
  EXPECT_EQ((*other)->capacity(*entry.steps[0]->results[0]), 960);
}

TEST(ArenaPackingTest, AnArenaPastInt64IsRefused) {
  // Two buffers live together whose offsets would not fit: -1.
  const int64_t huge = INT64_MAX / 4 - 64;
  std::vector<kiln::ArenaBuffer> buffers = {{huge, 0, 1}, {huge, 0, 1}};
  EXPECT_EQ(kiln::packArena(buffers), -1);
  std::vector<kiln::ArenaBuffer> apart = {{huge, 0, 0}, {huge, 1, 1}};
  EXPECT_GT(kiln::packArena(apart), 0);
}

TEST(PoolingTest, RefusesWhatItCannotPool) {
  rt::Tensor hidden = rt::Tensor::zeros(art::DType::F32, {2, 3, 4});
  auto mismatch = rt::poolEmbeddings(hidden, {3}, rt::Pooling::Mean, false);
  EXPECT_EQ(mismatch.status().message(),
            "pooling needs f32 hidden states [1, length, width], got F32 "
            "[2, 3, 4]");
  auto longer = rt::poolEmbeddings(hidden, {3, 4}, rt::Pooling::Mean, false);
  EXPECT_EQ(longer.status().message(),
            "pooling: sequence 1 has 4 tokens, the hidden states hold 3");
  rt::Tensor ids = rt::Tensor::zeros(art::DType::I64, {2, 3, 4});
  EXPECT_FALSE(rt::poolEmbeddings(ids, {3, 3}, rt::Pooling::Cls, false).ok());
  EXPECT_FALSE(rt::poolingNamed("max").has_value());
}

} // namespace
