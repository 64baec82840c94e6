#include "bo/backend.hpp"

#include "threads.hpp"

namespace qk {

Device device_here(const std::string& spec) {
  const DeviceSpec s = parse_device(spec);
  std::string why;
  const int visible = s.kind == DeviceSpec::Kind::Cpu ? 0 : gpu_device_count(&why);
  return resolve_device(s, visible, why);
}

Backend backend_of(const Device& d) {
  Backend b;
  b.gpu = d.cuda;
  b.device = d.index;
  b.name = d.name();
  return b;
}

Backend choose_backend(const std::string& spec) { return backend_of(device_here(spec)); }

ExecContext resolve_context(const std::string& device, int threads) {
  ExecContext ctx;
  ctx.device = device_here(device);
  ctx.threads = setup_threads(threads);
  record_context(ctx);
  return ctx;
}

}  // namespace qk
