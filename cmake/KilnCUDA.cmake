# CUDA is optional at configure time. When nvcc is found (on PATH or in
# /usr/local/cuda), CUDA sources are compiled to SASS for sm_90 plus PTX, and
# KILN_HAVE_CUDA is ON. Nothing built here needs a GPU to be present: CUDA
# libraries are linked as shared objects that load the driver lazily.
option(KILN_ENABLE_CUDA "Compile CUDA sources when a CUDA toolkit is found" ON)
set(KILN_HAVE_CUDA OFF)
if(KILN_ENABLE_CUDA)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(CMAKE_CUDA_ARCHITECTURES "90-real;90-virtual")
    set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
    set(CMAKE_CUDA_STANDARD 17)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(KILN_HAVE_CUDA ON)
    message(STATUS "CUDA ${CUDAToolkit_VERSION}: compiling for sm_90 (+PTX)")
  else()
    message(STATUS "CUDA toolkit not found: building without CUDA sources")
  endif()
endif()
