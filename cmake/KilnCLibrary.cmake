# Installs a C API library (runtime/capi, compiler/capi) as component
# COMPONENT of the Kiln package: the library in lib/, its public header in
# include/kiln/, and Kiln<Component>Targets.cmake (the Kiln::<component>
# target; KilnConfig.cmake includes it).
function(kiln_install_c_library target component)
  string(SUBSTRING ${component} 0 1 _first)
  string(TOUPPER ${_first} _first)
  string(SUBSTRING ${component} 1 -1 _rest)
  set(_set Kiln${_first}${_rest}Targets)
  install(TARGETS ${target} EXPORT ${_set}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT ${component}
    PUBLIC_HEADER DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/kiln
      COMPONENT ${component})
  install(EXPORT ${_set} NAMESPACE Kiln:: FILE ${_set}.cmake
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Kiln COMPONENT ${component})
endfunction()
