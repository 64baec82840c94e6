# One set of CUDA math libraries per process (docs/dependencies.md, "CUDA libraries").
#
# The torch wheel's libtorch_cuda.so loads cuBLASLt, cuSPARSE, ... from the wheel's own
# nvidia/ folders (its RPATH, $ORIGIN/../../nvidia/cu13/lib); our CUDA targets link the
# toolkit's cuBLAS, cuSOLVER and cudart (CUDA::cublas ...), found through the RUNPATH CMake
# writes. In one process only one libcublasLt.so.13 loads, so cuBLAS came from the toolkit
# and cuBLASLt from the wheel: a pair from two builds, which NVIDIA does not support.
# The fix puts the folders libtorch_cuda takes these libraries from first in every target's
# build RUNPATH. RUNPATH rather than linking the wheel's files: the sonames are the same
# (libcublas.so.13), the wheel has no unversioned libcublas.so to link, and CUDA::cublas
# and the other imported targets stay as they are; only where the libraries load from
# changes. A libtorch without CUDA libraries of its own (CPU wheel, or one built against
# the toolkit) finds none here and nothing changes.

set(QK_CUDA_MATH_LIBS cudart cublas cublasLt cusolver cusparse nvJitLink)

# qk_torch_cuda_lib_dirs(<out>): the folders libtorch_cuda.so finds QK_CUDA_MATH_LIBS in
# (the first folder of its RUNPATH, else RPATH, holding lib<name>.so.*), as it writes them
# ($ORIGIN expanded, not normalized: ldd then prints one folder for the whole set).
function(qk_torch_cuda_lib_dirs out)
  set(lib "${TORCH_INSTALL_PREFIX}/lib/libtorch_cuda.so")
  set(found "")
  if(EXISTS "${lib}")
    file(READ_ELF "${lib}" RPATH rpath RUNPATH runpath)
    if(runpath)
      set(rpath "${runpath}")
    endif()
    get_filename_component(origin "${lib}" DIRECTORY)
    string(REPLACE "\${ORIGIN}" "${origin}" rpath "${rpath}")
    string(REPLACE "\$ORIGIN" "${origin}" rpath "${rpath}")
    string(REPLACE ":" ";" rpath "${rpath}")
    foreach(name IN LISTS QK_CUDA_MATH_LIBS)
      foreach(dir IN LISTS rpath)
        file(GLOB hit "${dir}/lib${name}.so.*")
        if(hit)
          list(APPEND found "${dir}")
          break()
        endif()
      endforeach()
    endforeach()
    list(REMOVE_DUPLICATES found)
  endif()
  set(${out} "${found}" PARENT_SCOPE)
endfunction()

# qk_cublas_header_version(<out> <include dir>...): "MAJOR.MINOR" of the first cublas_api.h
# in those folders, or "".
function(qk_cublas_header_version out)
  set(v "")
  foreach(dir IN LISTS ARGN)
    if(EXISTS "${dir}/cublas_api.h")
      file(STRINGS "${dir}/cublas_api.h" lines REGEX "^#define CUBLAS_VER_(MAJOR|MINOR) ")
      if(lines MATCHES "MAJOR ([0-9]+);.*MINOR ([0-9]+)")
        set(v "${CMAKE_MATCH_1}.${CMAKE_MATCH_2}")
      endif()
      break()
    endif()
  endforeach()
  set(${out} "${v}" PARENT_SCOPE)
endfunction()

if(QKGEOM_WITH_TORCH)
  qk_torch_cuda_lib_dirs(QK_TORCH_CUDA_LIB_DIRS)
  if(QK_TORCH_CUDA_LIB_DIRS)
    list(PREPEND CMAKE_BUILD_RPATH ${QK_TORCH_CUDA_LIB_DIRS})
    message(STATUS "qkgeom: CUDA math libraries from libtorch's folders: ${QK_TORCH_CUDA_LIB_DIRS}")
    # Compiled against the toolkit's headers, run on the wheel's libraries: fine while the
    # wheel's cuBLAS is not older than the headers (same soname, newer minor).
    if(QKGEOM_WITH_CUDA)
      list(GET QK_TORCH_CUDA_LIB_DIRS 0 QK_FIRST_DIR)
      qk_cublas_header_version(QK_CUBLAS_BUILT ${CUDAToolkit_INCLUDE_DIRS})
      qk_cublas_header_version(QK_CUBLAS_RUN "${QK_FIRST_DIR}/../include")
      if(QK_CUBLAS_BUILT AND QK_CUBLAS_RUN AND QK_CUBLAS_RUN VERSION_LESS QK_CUBLAS_BUILT)
        message(WARNING "qkgeom: compiled against cuBLAS ${QK_CUBLAS_BUILT} (toolkit) but runs "
                        "the torch wheel's older cuBLAS ${QK_CUBLAS_RUN}")
      endif()
    endif()
  endif()
endif()
