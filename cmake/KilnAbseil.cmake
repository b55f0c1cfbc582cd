# Abseil, linked statically into every Kiln binary: kiln-run must start on
# machines that have only the C/C++ runtime and glibc (the GPU machines have
# no Abseil), and one linkage for all targets keeps a single copy per
# process. Debian's CMake targets are the shared libraries, so the static
# archives are found through pkg-config's --static closure instead.
find_package(Threads REQUIRED)
if(KILN_DEPS_DIR)
  # A carried folder (tools/gpu-check.sh prepare) on a machine without the
  # packages: every Abseil archive it holds, in one linker group.
  file(GLOB _kiln_absl_archives ${KILN_DEPS_DIR}/lib/libabsl_*.a)
  if(NOT _kiln_absl_archives)
    message(FATAL_ERROR "KILN_DEPS_DIR=${KILN_DEPS_DIR} holds no lib/libabsl_*.a")
  endif()
  add_library(kiln_absl INTERFACE)
  target_include_directories(kiln_absl SYSTEM INTERFACE ${KILN_DEPS_DIR}/include)
  target_link_libraries(kiln_absl INTERFACE
    -Wl,--start-group ${_kiln_absl_archives} -Wl,--end-group
    atomic rt Threads::Threads)
  return()
endif()
find_package(PkgConfig REQUIRED)
pkg_check_modules(KILN_ABSL REQUIRED absl_status absl_statusor absl_strings
  absl_str_format)
set(_kiln_absl_archives)
foreach(_lib IN LISTS KILN_ABSL_STATIC_LIBRARIES)
  if(_lib MATCHES "^absl_")
    find_library(_kiln_${_lib}_a NAMES lib${_lib}.a
      HINTS ${KILN_ABSL_STATIC_LIBRARY_DIRS} ${KILN_ABSL_LIBRARY_DIRS})
    if(NOT _kiln_${_lib}_a)
      message(FATAL_ERROR "Abseil static archive lib${_lib}.a not found "
                          "(install libabsl-dev)")
    endif()
    list(APPEND _kiln_absl_archives ${_kiln_${_lib}_a})
  endif()
endforeach()
list(REMOVE_DUPLICATES _kiln_absl_archives)
add_library(kiln_absl INTERFACE)
target_include_directories(kiln_absl SYSTEM INTERFACE ${KILN_ABSL_INCLUDE_DIRS})
# The archives depend on each other in cycles: one linker group. A shared
# library (the C API's, property KILN_SHARED_ABSL) links Debian's shared
# Abseil instead: the archives are not position-independent (cordz uses
# local-exec TLS), so they cannot go into a shared object.
set(_shared "$<BOOL:$<TARGET_PROPERTY:KILN_SHARED_ABSL>>")
target_link_libraries(kiln_absl INTERFACE
  "$<$<NOT:${_shared}>:-Wl,--start-group;${_kiln_absl_archives};-Wl,--end-group>"
  "$<${_shared}:${KILN_ABSL_LINK_LIBRARIES}>"
  atomic rt Threads::Threads)
