#include "exec_context.hpp"

#include <mutex>

#include "threads.hpp"

namespace qk {

namespace {
std::mutex g_mu;
bool g_recorded = false;
Device g_device;
}  // namespace

void record_context(const ExecContext& ctx) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_recorded = true;
  g_device = ctx.device;
}

EngineSettings engine_settings() {
  std::lock_guard<std::mutex> lock(g_mu);
  return {g_recorded ? g_device.name() : "cpu", applied_threads()};
}

}  // namespace qk
