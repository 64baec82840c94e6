#include "progress.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

namespace qk {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = static_cast<long>(std::lround(s));
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

Progress::Progress(std::string label, int64_t total_items, int64_t total_tokens, bool enabled,
                   double plain_every_s)
    : label_(std::move(label)),
      total_items_(total_items),
      total_tokens_(total_tokens),
      enabled_(enabled),
      tty_(isatty(STDERR_FILENO) == 1),
      plain_every_s_(plain_every_s),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

// ETA from the token rate (prompt lengths vary; tokens are the work).
std::string Progress::line() const {
  const double t = elapsed_s();
  const double ips = t > 0 ? items_ / t : 0.0, tps = t > 0 ? tokens_ / t : 0.0;
  const double eta = tps > 0 ? (total_tokens_ - tokens_) / tps : NAN;
  const double pct = total_items_ > 0 ? 100.0 * items_ / total_items_ : 100.0;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%s: %lld/%lld probes (%.1f%%), %.2f probes/s, %.0f tokens/s, "
                "elapsed %s, ETA %s",
                label_.c_str(), static_cast<long long>(items_), static_cast<long long>(total_items_), pct,
                ips, tps, format_duration(t).c_str(),
                items_ >= total_items_ ? "0s" : format_duration(eta).c_str());
  return buf;
}

void Progress::advance(int64_t items, int64_t tokens) {
  items_ += items;
  tokens_ += tokens;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since < (tty_ ? 0.25 : plain_every_s_)) return;
  last_draw_ = now;
  if (tty_)
    std::cerr << "\r\033[K" << line() << std::flush;
  else
    std::cerr << line() << "\n";
}

void Progress::finish() {
  if (!enabled_) return;
  if (tty_) std::cerr << "\r\033[K";
  std::cerr << line() << "\n";
}

}  // namespace qk
