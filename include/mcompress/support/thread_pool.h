#pragma once
// A fixed pool of workers for data-parallel loops. Chunk boundaries depend only on the problem
// and the grain, never on the thread count, so every kernel computes each output element the
// same way whatever --threads says: results are identical for any N.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mcompress {

class ThreadPool {
 public:
  // threads <= 0: one per hardware thread.
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) for the chunks [k*grain, min((k+1)*grain, n)) of [0, n), spread over
  // the pool and the calling thread; returns when all are done (rethrowing the first exception a
  // chunk threw). Nested calls run inline.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop();
  void run_chunks();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t n_ = 0, grain_ = 1, chunks_ = 0;
  int64_t next_chunk_ = 0, finished_chunks_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;  // first exception of the running job, rethrown by the caller
};

}  // namespace mcompress
