# Third-party libraries, all from Debian packages (scripts/deps.sh installs them).
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(PkgConfig REQUIRED)
# SHA-256 of the files a sweep's provenance names.
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
# Sweeps under mpirun (Open MPI): one shard per rank, rank 0 merges. Optional.
find_package(MPI COMPONENTS C)
pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)
# OpenBLAS is linked statically with its symbols kept private (--exclude-libs): libtorch
# exports BLAS symbols of its own (sgemm_, ...), and a shared OpenBLAS loaded first would
# take those calls over and fight libtorch's threads. Falls back to the shared library.
find_library(QK_OPENBLAS_STATIC NAMES libopenblas.a HINTS ${OPENBLAS_LIBRARY_DIRS} NO_DEFAULT_PATH)
add_library(qk_openblas INTERFACE)
target_include_directories(qk_openblas INTERFACE ${OPENBLAS_INCLUDE_DIRS})
if(QK_OPENBLAS_STATIC)
  target_link_libraries(qk_openblas INTERFACE ${QK_OPENBLAS_STATIC} gfortran Threads::Threads m)
  target_link_options(qk_openblas INTERFACE "LINKER:--exclude-libs,libopenblas.a")
else()
  target_link_libraries(qk_openblas INTERFACE PkgConfig::OPENBLAS)
endif()
# The tokenizer's regexes (PCRE2, UTF + UCP) and Unicode normalization/properties (ICU).
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(ICU_UC REQUIRED IMPORTED_TARGET icu-uc)
if(QKGEOM_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(QKGEOM_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

# HDF5 as one imported target.
add_library(qk_hdf5 INTERFACE)
target_include_directories(qk_hdf5 INTERFACE ${HDF5_INCLUDE_DIRS})
target_link_libraries(qk_hdf5 INTERFACE ${HDF5_LIBRARIES})
target_compile_definitions(qk_hdf5 INTERFACE ${HDF5_DEFINITIONS})

# libtorch from the PyPI torch wheel (docs/dependencies.md): its CMake package dir
# comes from the Python that has it. Linked only into the runtime library and the CLI.
option(QKGEOM_WITH_TORCH "Link libtorch (from the Python torch wheel) into the model runtime" ON)
if(QKGEOM_WITH_TORCH)
  execute_process(COMMAND ${Python3_EXECUTABLE} -c "import torch; print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE QK_TORCH_PREFIX OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
    RESULT_VARIABLE QK_TORCH_RC)
  if(NOT QK_TORCH_RC EQUAL 0)
    message(FATAL_ERROR "qkgeom: libtorch not found: `${Python3_EXECUTABLE} -c 'import torch'` failed. "
                        "Run `make deps`, or configure with -DQKGEOM_WITH_TORCH=OFF.")
  endif()
  list(APPEND CMAKE_PREFIX_PATH ${QK_TORCH_PREFIX})
  # Torch's package resets CMAKE_CUDA_ARCHITECTURES and appends its own -gencode list
  # (with targets nvcc 13 rejects) to CMAKE_CUDA_FLAGS: keep ours.
  set(QK_SAVED_CUDA_ARCHS "${CMAKE_CUDA_ARCHITECTURES}")
  set(QK_SAVED_CUDA_FLAGS "${CMAKE_CUDA_FLAGS}")
  find_package(Torch REQUIRED)
  set(CMAKE_CUDA_ARCHITECTURES "${QK_SAVED_CUDA_ARCHS}")
  set(CMAKE_CUDA_FLAGS "${QK_SAVED_CUDA_FLAGS}")
  message(STATUS "qkgeom: libtorch ${Torch_VERSION} from ${QK_TORCH_PREFIX}")
endif()
