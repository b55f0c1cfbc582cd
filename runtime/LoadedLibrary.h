//===- LoadedLibrary.h - entry points and paths of dlopen'd libraries -----===//
//
// The CUDA libraries (driver, cuBLASLt, cuSPARSELt) are opened at run time
// so kiln-run starts without them; these are the two things each load
// does with the handle.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_LOADEDLIBRARY_H
#define KILN_RUNTIME_LOADEDLIBRARY_H

#include <dlfcn.h>
#include <link.h>
#include <string>

namespace kiln::rt {

/// Points `fn` at `symbol` of the opened `library`; false when it has none.
template <typename Fn>
bool resolveSymbol(void *library, Fn &fn, const char *symbol) {
  fn = reinterpret_cast<Fn>(dlsym(library, symbol));
  return fn != nullptr;
}

/// The file the loader chose for `library` (opened as `asked`), for logs.
inline std::string loadedPath(void *library, const std::string &asked) {
  if (struct link_map *map = nullptr;
      dlinfo(library, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name)
    return map->l_name;
  return asked;
}

} // namespace kiln::rt

#endif // KILN_RUNTIME_LOADEDLIBRARY_H
