#pragma once
// The CPU twins parallelise over tiles with OpenMP and call OpenBLAS from inside
// those loops, so OpenBLAS itself must run single-threaded.
namespace qk {

// Sets OpenBLAS to one thread (idempotent, thread-safe).
void use_single_threaded_blas();

}  // namespace qk
