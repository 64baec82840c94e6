# Build options of qkgeom.
option(QKGEOM_ENABLE_CUDA "Compile the CUDA kernels when a toolkit is found" ON)
option(QKGEOM_BUILD_TESTS "Build the GoogleTest suites" ON)
option(QKGEOM_BUILD_BENCH "Build the Google Benchmark suites" ON)
# libFuzzer harnesses of the input readers (fuzz/, docs/testing.md "Fuzzing"); clang only.
# Instruments every target with coverage, ASan and UBSan: use a build dir of its own.
option(QKGEOM_FUZZ "Build the libFuzzer harnesses in fuzz/ (clang)" OFF)
if(QKGEOM_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "qkgeom: QKGEOM_FUZZ needs clang (configure with CXX=clang++ CC=clang)")
  endif()
  add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=fuzzer-no-link,address,undefined;-fno-sanitize-recover=undefined;-fno-omit-frame-pointer;-g>")
  add_link_options(-fsanitize=address,undefined)
endif()

# Reproducible float results: no silent FMA contraction in host code, so the
# fp64 re-checks match the seed's own arithmetic bit for bit.
add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-ffp-contract=off>)
add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-Wall> $<$<COMPILE_LANGUAGE:CXX>:-Wextra>)
# Aggregates leave trailing members with default initializers out ({path, type, shape}).
add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-Wno-missing-field-initializers>)
# CI builds with warnings as errors (.ci/run).
option(QKGEOM_WERROR "Treat C++ compiler warnings as errors" OFF)
if(QKGEOM_WERROR)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-Werror>)
endif()

set(QKGEOM_WITH_CUDA OFF)
if(QKGEOM_ENABLE_CUDA)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(QKGEOM_WITH_CUDA ON)
  else()
    message(STATUS "qkgeom: no CUDA toolkit found, building the CPU engine only")
  endif()
endif()
message(STATUS "qkgeom: CUDA ${QKGEOM_WITH_CUDA} (architectures: ${CMAKE_CUDA_ARCHITECTURES})")
