//===- HugePages.h - weight copies in 2 MiB pages -------------------------===//
//
// A decode step streams every weight once; in 4 KiB pages that is a page
// walk per 4 KiB (measured on GPT-2-small decode, 2 threads: packed f32
// weights 22.2-23.9 -> 17.3-21.2 ms per token, compressed 2:4 weights
// 15.3 -> 13.7-14.1, in 2 MiB pages). Kernels that give transparent huge
// pages only on request (madvise mode, as Debian's do) need the advice.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_HUGEPAGES_H
#define KILN_RUNTIME_HUGEPAGES_H

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <stdlib.h>
#include <sys/mman.h>

namespace kiln::rt {

using WeightBuffer = std::unique_ptr<void, void (*)(void *)>;

/// `bytes` of uninitialized memory for a weight: 2 MiB aligned, its whole
/// 2 MiB pages advised to be huge ones, the rest of it (and a weight
/// smaller than a huge page, 64-byte aligned) in ordinary pages, so no
/// huge page is half empty. Null where none can be had.
inline WeightBuffer allocateWeightBuffer(size_t bytes) {
  constexpr size_t kHugePage = size_t(2) << 20;
  const bool huge = bytes >= kHugePage;
  void *p = nullptr;
  if (bytes == 0 || posix_memalign(&p, huge ? kHugePage : 64, bytes) != 0)
    return WeightBuffer(nullptr, &std::free);
  if (huge) // advice: ordinary pages where it is not taken
    madvise(p, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);
  return WeightBuffer(p, &std::free);
}

} // namespace kiln::rt

#endif // KILN_RUNTIME_HUGEPAGES_H
