#pragma once
// One macro marks the per-element math that host and device share.
#if defined(__CUDACC__)
#define QK_HD __host__ __device__ __forceinline__
#else
#define QK_HD inline
#endif
