#pragma once
// Non-finite values (NaN, +-Inf) in captured q/k/v and in checkpoint weights: where the
// first one is, which heads hold any, and why a forward pass went non-finite (a
// non-finite weight, or activations past the range of the compute dtype). One pass over
// each tensor; no libtorch (docs/metrics.md, "Non-finite values").
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "snapshot.hpp"

namespace qk {

// The first non-finite value of a snapshot, in layer order (q, k, v within a layer).
struct NonFiniteValue {
  std::string tensor;  // "q", "k" or "v"
  int64_t layer = -1, head = -1, position = -1, dim = -1;
  float value = 0;
  int64_t count = 0;           // non-finite values of that tensor in that layer
  std::vector<int64_t> heads;  // the heads of that tensor in that layer holding any
};

// True when every value of x[0..n) is finite.
bool all_finite(const float* x, int64_t n);

// The first non-finite value of snap (q, k and v as present); nullopt when all are finite.
std::optional<NonFiniteValue> first_nonfinite(const Snapshot& snap);

// [layers][heads] of t: 1 where that head of that layer holds a non-finite value.
std::vector<uint8_t> nonfinite_heads(const Tensor4f& t);

// "layer 1 k: 10 non-finite value(s) in KV head(s) 0 (read by query head(s) 0, 1), first
// k[1, 0, 0, 0] = nan ([layer, head, position, dim])". q_heads / kv_heads give the query
// heads a KV head serves.
std::string describe_nonfinite(const NonFiniteValue& v, int q_heads, int kv_heads);

// The first non-finite weight of a checkpoint: file, tensor, index of the first one.
struct NonFiniteWeight {
  std::string file, tensor;
  std::vector<int64_t> index;
  float value = 0;
  int64_t count = 0;  // non-finite values in that tensor
};

// Scans the F32 / F16 / BF16 tensors of the checkpoint in `model_dir` (model.safetensors,
// else the shards its index lists), in file then name order; nullopt when all are finite.
std::optional<NonFiniteWeight> first_nonfinite_weight(const std::string& model_dir);

// "FILE: tensor 'NAME': 1 non-finite value(s), first at [0, 0] = nan".
std::string describe_weight(const NonFiniteWeight& w);

// Throws InputError (exit 3) naming the checkpoint's file, the tensor `name` and the first
// non-finite index when `data` (row-major, `shape`) holds a NaN or Inf.
void check_finite_weight(const std::string& model_dir, const std::string& name, const float* data,
                         const std::vector<int64_t>& shape);

// Why a forward pass in `dtype` ("f32", "f16", "bf16") over the checkpoint in `model_dir`
// went non-finite at `first`, as an exception to throw: InputError (exit 3) when a weight
// is non-finite (named) or when the weights are finite in f32 (then config.json is
// suspect); std::runtime_error (exit 4) when the weights are finite and the activations
// overflow f16 / bf16, with the hint to use a wider dtype. `what` prefixes the message.
[[noreturn]] void throw_nonfinite_forward(const std::string& what, const NonFiniteValue& first,
                                          const Snapshot& snap, const std::string& model_dir,
                                          const std::string& dtype);

// The cause of a non-finite forward pass in one line (the message of the exception above
// without `what`), and whether it is bad input (exit 3) rather than overflow (exit 4).
std::string nonfinite_cause(const std::string& model_dir, const std::string& dtype, bool* bad_input);

// Throws (as throw_nonfinite_forward) when the captured snapshot holds a non-finite value.
// The compute dtype is snap.metadata["dtype"] (f32 when absent).
void check_capture_finite(const Snapshot& snap, const std::string& model_dir);

}  // namespace qk
