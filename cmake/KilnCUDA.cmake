# The one CUDA probe. With KILN_ENABLE_CUDA (default ON) and a toolkit
# found (nvcc and cublasLt.h, on PATH, in CUDA_HOME or /usr/local/cuda),
# KILN_HAVE_CUDA is ON: the runtime gets the CUDA executor and its kernels
# (nvcc, sm_90 + PTX), and the full build compiles its CUDA test for sm_90
# too. -DKILN_ENABLE_CUDA=OFF builds none of it. Nothing built needs a GPU
# to be present: the driver and CUDA libraries are loaded at run time.
option(KILN_ENABLE_CUDA "Build the CUDA executor, kernels and tests when a CUDA toolkit is found" ON)
set(KILN_HAVE_CUDA OFF)
if(KILN_ENABLE_CUDA)
  find_program(KILN_NVCC nvcc HINTS ENV CUDA_HOME /usr/local/cuda PATH_SUFFIXES bin)
  find_path(KILN_CUDA_INCLUDE cublasLt.h HINTS ENV CUDA_HOME /usr/local/cuda
    PATH_SUFFIXES include)
  if(KILN_NVCC AND KILN_CUDA_INCLUDE)
    set(KILN_HAVE_CUDA ON)
    if(NOT KILN_RUNTIME_ONLY)
      # CUDA as a language only for the toolchain test (test/unit/cuda).
      set(CMAKE_CUDA_COMPILER ${KILN_NVCC})
      set(CMAKE_CUDA_ARCHITECTURES "90-real;90-virtual")
      set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
      set(CMAKE_CUDA_STANDARD 17)
      enable_language(CUDA)
      find_package(CUDAToolkit REQUIRED)
      message(STATUS "CUDA ${CUDAToolkit_VERSION}: compiling for sm_90 (+PTX)")
    endif()
    message(STATUS "Kiln: building the CUDA executor (nvcc ${KILN_NVCC})")
  else()
    message(STATUS "CUDA toolkit not found: building without the CUDA executor")
  endif()
else()
  message(STATUS "KILN_ENABLE_CUDA=OFF: building without CUDA")
endif()
