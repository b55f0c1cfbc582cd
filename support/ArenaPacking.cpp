//===- ArenaPacking.cpp - buffers with live ranges packed into one arena --===//

#include "support/ArenaPacking.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace kiln {

namespace {

int64_t alignUp(int64_t v) {
  return (v + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
}

} // namespace

int64_t packArena(std::vector<ArenaBuffer> &buffers) {
  std::vector<size_t> order(buffers.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return buffers[a].bytes > buffers[b].bytes;
  });
  int64_t arenaBytes = 0;
  std::vector<size_t> placed;
  std::vector<std::pair<int64_t, int64_t>> taken;
  for (size_t i : order) {
    ArenaBuffer &buffer = buffers[i];
    taken.clear();
    for (size_t j : placed) {
      const ArenaBuffer &other = buffers[j];
      if (other.first <= buffer.last && buffer.first <= other.last)
        taken.push_back({other.offset, other.offset + other.bytes});
    }
    std::sort(taken.begin(), taken.end());
    int64_t offset = 0;
    for (auto [begin, end] : taken) {
      if (offset + buffer.bytes <= begin)
        break;
      offset = std::max(offset, alignUp(end));
    }
    if (buffer.bytes > INT64_MAX / 4 || offset > INT64_MAX / 4 - buffer.bytes)
      return -1;
    buffer.offset = offset;
    arenaBytes = std::max(arenaBytes, alignUp(offset + buffer.bytes));
    placed.push_back(i);
  }
  return arenaBytes;
}

} // namespace kiln
