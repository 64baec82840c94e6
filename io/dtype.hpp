#pragma once
// Element types of safetensors / HDF5 tensors and conversion to f32.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace qk {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, F8_E4M3, F8_E5M2 };

// The safetensors name ("F32", "BF16", ...) of a dtype, and back (nullopt if unknown).
const char* dtype_name(DType t);
std::optional<DType> dtype_from_name(const std::string& name);
size_t dtype_size(DType t);

// True for the dtypes tensors of vectors may have: F32, F16, BF16.
bool is_float_vector_dtype(DType t);

// IEEE half / bfloat16 bits -> f32 (exact).
float half_to_float(uint16_t h);
float bf16_to_float(uint16_t b);

// f32 -> IEEE half / bfloat16 bits, rounded to nearest, ties to even (numpy's
// astype(float16) and torch's to(bfloat16)); overflow to +-Inf, NaN stays NaN.
uint16_t float_to_half(float f);
uint16_t float_to_bf16(float f);

// Converts n little-endian elements of type t (F32, F16 or BF16) at src to f32.
void convert_to_f32(DType t, const void* src, size_t n, float* dst);

}  // namespace qk
