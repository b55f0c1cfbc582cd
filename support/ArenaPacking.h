//===- ArenaPacking.h - buffers with live ranges packed into one arena ----===//
//
// The one packing of intermediate buffers into an arena, shared by kilnc
// (kiln-plan-memory, at the compiled maxima) and the runtime (an arena laid
// out again for a call past them, runtime/ArenaPlan.h): largest first, each
// at the lowest 64-byte-aligned offset that no buffer live at the same
// time occupies. Two buffers are live at the same time when their step
// ranges [first, last] overlap.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SUPPORT_ARENAPACKING_H
#define KILN_SUPPORT_ARENAPACKING_H

#include <cstdint>
#include <vector>

namespace kiln {

inline constexpr int64_t kArenaAlignment = 64;

struct ArenaBuffer {
  int64_t bytes = 0, first = 0, last = 0; // live over steps [first, last]
  int64_t offset = -1;                    // set by packArena
};

/// Sets every buffer's offset; returns the arena's size (a multiple of
/// kArenaAlignment), or -1 if it would not fit in int64.
int64_t packArena(std::vector<ArenaBuffer> &buffers);

} // namespace kiln

#endif // KILN_SUPPORT_ARENAPACKING_H
