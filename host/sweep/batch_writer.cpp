#include "batch_writer.hpp"

#include <chrono>
#include <utility>

#include "h5_util.hpp"

namespace qk {

BatchWriter::BatchWriter(ResultsStore& store, std::function<void(int64_t)> on_commit, size_t depth)
    : store_(store), on_commit_(std::move(on_commit)), depth_(depth), thread_([this] { run(); }) {}

BatchWriter::~BatchWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BatchWriter::push(StoreBatch batch) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return queue_.size() < depth_ || error_; });
  if (error_) std::rethrow_exception(error_);
  queue_.push_back(std::move(batch));
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

// Appends queued batches in order; after a failure, drops the rest (the store keeps
// what was committed) and lets push/close report the error.
void BatchWriter::run() {
  h5::quiet();  // HDF5 error printing is per thread; errors become StoreError messages
  for (;;) {
    StoreBatch batch;
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
      store_.append(batch);
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      {
        std::lock_guard<std::mutex> lock(mu_);
        busy_s_ += dt;
      }
      if (on_commit_) on_commit_(store_.rows());
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      error_ = std::current_exception();
      queue_.clear();
      cv_.notify_all();
      return;
    }
  }
}

}  // namespace qk
