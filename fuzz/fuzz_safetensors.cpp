// libFuzzer: the safetensors reader (io/safetensors.cpp) and the safetensors snapshot
// reader on the input written to a file. InputError is the expected answer to bad input;
// anything else (crash, other exception, sanitizer report) is a bug.
#include <cstdint>

#include "fuzz_file.hpp"
#include "input_error.hpp"
#include "safetensors.hpp"
#include "snapshot.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qk::fuzz::FuzzFile f(data, size, ".safetensors");
  try {
    qk::SafeTensorsFile st(f.path);
    volatile uint8_t sink = 0;
    for (const auto& name : st.names()) {
      try {
        const qk::TensorInfo& t = st.info(name);
        if (t.end > t.begin) sink = sink ^ st.data(t)[0] ^ st.data(t)[t.end - t.begin - 1];
        (void)t.numel();
      } catch (const qk::InputError&) {
      }
    }
    for (const auto& [key, value] : st.metadata()) sink = sink ^ key.size() ^ value.size();
  } catch (const qk::InputError&) {
  }
  try {
    qk::validate_snapshot(qk::load_snapshot(f.path));
  } catch (const qk::InputError&) {
  }
  return 0;
}
