//===- MapGuard.h - a mapped file that changes becomes an error -----------===//
//
// Kiln reads weights and artifacts through mmap, without copying them. A
// mapped file that is truncated (or rewritten shorter) after it was mapped
// makes the next read past its new end raise SIGBUS, which would otherwise
// kill the process with a core dump and no word of which file. The readers
// register their mappings here; the first registration installs a SIGBUS
// handler that, for a fault inside a registered mapping, prints one line
// naming the file and exits 1, as for any other bad input. A fault anywhere
// else keeps the action the process had before.
//
// Reading with read(2) instead would make the fault impossible but cost a
// copy of every weight; a changed file is rare enough that the zero-copy
// path stays, and the handler turns its one failure into an error message.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SUPPORT_MAPGUARD_H
#define KILN_SUPPORT_MAPGUARD_H

#include <cstddef>
#include <string>

namespace kiln {

/// Reports a bus error inside [data, data + size) as `path` having changed
/// while in use. Up to 256 mappings are guarded at once; past that a
/// mapping is read unguarded.
void guardMapping(const void *data, size_t size, const std::string &path);

/// Stops guarding the mapping that starts at `data` (before it is unmapped).
void unguardMapping(const void *data);

} // namespace kiln

#endif // KILN_SUPPORT_MAPGUARD_H
