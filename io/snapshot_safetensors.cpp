#include <string>
#include <vector>

#include "input_error.hpp"
#include "safetensors.hpp"
#include "safetensors_writer.hpp"
#include "snapshot_formats.hpp"

namespace qk {

namespace {

Tensor4f read_tensor(const SafeTensorsFile& f, const std::string& name) {
  const TensorInfo& t = f.info(name);
  const std::string where = f.path() + ": tensor '" + name + "'";
  if (!is_float_vector_dtype(t.dtype))
    throw InputError(where, std::string("dtype ") + dtype_name(t.dtype) +
                                " is not supported for vectors (use F32, F16 or BF16)");
  if (t.shape.size() != 4)
    throw InputError(
        where, "has rank " + std::to_string(t.shape.size()) + ", expected 4 [layers, heads, seq, head_dim]");
  Tensor4f out;
  for (int i = 0; i < 4; ++i) out.shape[i] = t.shape[i];
  if (out.numel() == 0) throw InputError(where, "is empty (a dimension is 0)");
  out.data.resize(static_cast<size_t>(out.numel()));
  convert_to_f32(t.dtype, f.data(t), out.data.size(), out.data.data());
  return out;
}

}  // namespace

Snapshot read_snapshot_safetensors(const std::string& path) {
  SafeTensorsFile f(path);
  if (!f.has("k")) throw InputError(path, "snapshot has no tensor 'k'");
  Snapshot s;
  s.path = path;
  s.k = read_tensor(f, "k");
  if (f.has("v")) s.v = read_tensor(f, "v");
  if (f.has("q")) s.q = read_tensor(f, "q");
  s.metadata = f.metadata();
  return s;
}

void write_snapshot_safetensors(const Snapshot& snap, const std::string& path) {
  auto tensor = [](const char* name, const Tensor4f& t) {
    return f32_tensor(name, std::vector<int64_t>(t.shape.begin(), t.shape.end()), t.data);
  };
  std::vector<TensorToWrite> tensors = {tensor("k", snap.k)};
  if (snap.v) tensors.push_back(tensor("v", *snap.v));
  if (snap.q) tensors.push_back(tensor("q", *snap.q));
  write_safetensors(path, tensors, snap.metadata);
}

}  // namespace qk
