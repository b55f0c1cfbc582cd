# The layering of docs/architecture.md, checked at configure time over the
# link graph: the bottom libraries (support/, artifact/, runtime/ and
# kiln-run) link nothing of LLVM/MLIR and nothing of Kiln above them, and
# the frontend links neither the passes nor the runtime. A violation stops
# the configuration with the chain of links that breaks it.

# Sets `out` to every target and library `target` links, directly or not.
function(_kiln_link_closure target out)
  set(seen)
  set(queue ${target})
  while(queue)
    list(POP_FRONT queue t)
    if(NOT TARGET ${t})
      continue()
    endif()
    get_target_property(_type ${t} TYPE)
    set(_links)
    if(NOT _type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(_direct ${t} LINK_LIBRARIES)
      if(_direct)
        list(APPEND _links ${_direct})
      endif()
    endif()
    get_target_property(_interface ${t} INTERFACE_LINK_LIBRARIES)
    if(_interface)
      list(APPEND _links ${_interface})
    endif()
    foreach(l IN LISTS _links)
      if(NOT l IN_LIST seen)
        list(APPEND seen ${l})
        list(APPEND queue ${l})
      endif()
    endforeach()
  endwhile()
  set(${out} ${seen} PARENT_SCOPE)
endfunction()

# Fails if `target` (when it exists) links any of the names after FORBIDS.
function(_kiln_forbid target)
  cmake_parse_arguments(ARG "" "" "FORBIDS" ${ARGN})
  if(NOT TARGET ${target})
    return()
  endif()
  _kiln_link_closure(${target} closure)
  foreach(l IN LISTS closure)
    # A forbidden target, or (LLVM forbidden) any LLVM/MLIR library by path.
    if(l IN_LIST ARG_FORBIDS OR
       ("LLVM" IN_LIST ARG_FORBIDS AND l MATCHES "(^|/)lib(LLVM|MLIR)[^/]*\\.(so|a)"))
      list(FILTER closure INCLUDE REGEX "^(Kiln|kiln_mlir|LLVM|MLIR)")
      message(FATAL_ERROR "layering: ${target} links ${l}, which its layer "
              "may not use (docs/architecture.md); its Kiln and LLVM links: "
              "${closure}")
    endif()
  endforeach()
endfunction()

function(kiln_check_layers)
  set(llvm LLVM MLIR kiln_mlir KilnDialect KilnGraphBuilder KilnInterpreter
      KilnModels KilnPasses KilnCompiler KilnReferenceRun)
  _kiln_forbid(KilnSupport FORBIDS ${llvm} KilnArtifact KilnHfConfig KilnRuntime)
  _kiln_forbid(KilnArtifact FORBIDS ${llvm} KilnHfConfig KilnRuntime)
  _kiln_forbid(KilnRuntime FORBIDS ${llvm} KilnHfConfig)
  _kiln_forbid(kiln-run FORBIDS ${llvm} KilnHfConfig)
  _kiln_forbid(KilnToolSupport FORBIDS ${llvm} KilnRuntime)
  _kiln_forbid(KilnHfConfig FORBIDS ${llvm} KilnRuntime)
  foreach(frontend KilnGraphBuilder KilnInterpreter KilnModels)
    _kiln_forbid(${frontend} FORBIDS KilnPasses KilnRuntime KilnCompiler
                 KilnReferenceRun)
  endforeach()
  _kiln_forbid(KilnPasses FORBIDS KilnRuntime KilnCompiler KilnReferenceRun
               KilnInterpreter)
  # The compile links no interpreter or runtime; kilnc hands it the
  # calibration hook from KilnReferenceRun (docs/architecture.md).
  _kiln_forbid(KilnCompiler FORBIDS KilnInterpreter KilnRuntime
               KilnReferenceRun)
endfunction()
