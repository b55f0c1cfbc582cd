# `cmake --install BUILD [--prefix P]`: the command-line tools, the C API
# (include/kiln/runtime.h, lib/libkiln-runtime.so) and the CMake package,
# so that another project's
#   find_package(Kiln REQUIRED)
#   target_link_libraries(app PRIVATE Kiln::runtime)
# builds against it (examples/embed, checked by test/tools/install-check.sh).
# Kiln::runtime needs no LLVM, MLIR or CUDA on the user's machine.
# Components: tools, runtime (the library, its header and the package) and
# python (what `pip install .` puts in the wheel, python/CMakeLists.txt);
# a plain `cmake --install` installs tools and runtime (the python
# component is excluded from it: EXCLUDE_FROM_ALL).
include(CMakePackageConfigHelpers)

foreach(_tool kiln-run kilnc kiln-opt kiln-interpret)
  if(TARGET ${_tool})
    install(TARGETS ${_tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
      COMPONENT tools)
  endif()
endforeach()

set(_kiln_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/Kiln)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/KilnConfig.cmake.in
  ${CMAKE_BINARY_DIR}/KilnConfig.cmake
  INSTALL_DESTINATION ${_kiln_cmake_dir})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/KilnConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/KilnConfig.cmake
              ${CMAKE_BINARY_DIR}/KilnConfigVersion.cmake
        DESTINATION ${_kiln_cmake_dir} COMPONENT runtime)
