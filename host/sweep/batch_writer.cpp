#include "batch_writer.hpp"

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>

#include "h5_util.hpp"

namespace qk {

BatchWriter::BatchWriter(ResultsStore& store, OnCommit on_commit, size_t depth)
    : store_(store), on_commit_(std::move(on_commit)), depth_(depth), thread_([this] { run(); }) {}

BatchWriter::~BatchWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BatchWriter::push(StoreBatch batch, int64_t items, int64_t tokens) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return queue_.size() < depth_ || error_; });
  if (error_) std::rethrow_exception(error_);
  queue_.push_back(Queued{std::move(batch), nullptr, items, tokens});
  cv_.notify_all();
}

void BatchWriter::push(std::function<StoreBatch()> make, int64_t items, int64_t tokens) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return queue_.size() < depth_ || error_; });
  if (error_) std::rethrow_exception(error_);
  queue_.push_back(Queued{StoreBatch{}, std::move(make), items, tokens});
  cv_.notify_all();
}

void BatchWriter::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (error_) std::rethrow_exception(error_);
}

double BatchWriter::busy_s() const {
  std::lock_guard<std::mutex> lock(mu_);
  return busy_s_;
}

bool BatchWriter::failed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_ != nullptr;
}

namespace {

// A failed append as the user should read it: a full disk (ENOSPC) or a file-size limit
// (EFBIG), which HDF5 reports deep in its error stack, becomes "no space left on PATH";
// anything else stays as it is.
std::exception_ptr plain_error(std::exception_ptr e, const std::string& path) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    const int err = disk_full_errno(x.what());
    const bool big = err == 27;
    if (err == 0) return e;
    return std::make_exception_ptr(
        std::runtime_error("no space left on " + path + (big ? " (the file-size limit was reached)" : "") +
                           "; the committed probes stay in the file: free space, then rerun with --resume"));
  } catch (...) {
    return e;
  }
}

}  // namespace

// Appends queued batches in order; after a failure, drops the rest (the store keeps
// what was committed) and lets push/close report the error.
void BatchWriter::run() {
  h5::quiet();  // HDF5 error printing is per thread; errors become StoreError messages
  for (;;) {
    Queued batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty() || closing_; });
      if (queue_.empty()) return;
      batch = std::move(queue_.front());
      queue_.pop_front();
    }
    cv_.notify_all();
    try {
      const auto t0 = std::chrono::steady_clock::now();
      if (batch.make) batch.rows = batch.make();
      store_.append(batch.rows);
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      {
        std::lock_guard<std::mutex> lock(mu_);
        busy_s_ += dt;
      }
      if (on_commit_) on_commit_(batch.items, batch.tokens);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      error_ = plain_error(std::current_exception(), store_.path());
      queue_.clear();
      cv_.notify_all();
      return;
    }
  }
}

}  // namespace qk
