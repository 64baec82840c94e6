#pragma once
// A writer thread that builds and appends batches to a results store, so that prefill
// never waits on the disk (nor on building the rows: the --save-kv layout and copies). At
// most `depth` batches wait in its queue; push blocks beyond that.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "results_store.hpp"

namespace qk {

class BatchWriter {
 public:
  // on_commit(items, tokens) runs on the writer thread after each batch is committed, with
  // the counts given to push.
  using OnCommit = std::function<void(int64_t items, int64_t tokens)>;
  BatchWriter(ResultsStore& store, OnCommit on_commit, size_t depth = 2);
  ~BatchWriter();
  BatchWriter(const BatchWriter&) = delete;
  BatchWriter& operator=(const BatchWriter&) = delete;

  // Queues a batch of `items` probes and `tokens` tokens; rethrows the writer's error if an
  // append has failed.
  void push(StoreBatch batch, int64_t items, int64_t tokens);
  // Queues a batch that `make` builds on the writer thread (counted in busy_s).
  void push(std::function<StoreBatch()> make, int64_t items, int64_t tokens);
  // Waits for the queue to drain and the thread to end; rethrows the writer's error.
  void close();
  bool failed() const;
  double busy_s() const;  // seconds spent building and appending (on the writer thread)

 private:
  struct Queued {
    StoreBatch rows;
    std::function<StoreBatch()> make;  // when set: builds rows on the writer thread
    int64_t items = 0, tokens = 0;
  };
  void run();
  ResultsStore& store_;
  OnCommit on_commit_;
  size_t depth_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Queued> queue_;
  bool closing_ = false;
  std::exception_ptr error_;
  double busy_s_ = 0;
  std::thread thread_;
};

}  // namespace qk
