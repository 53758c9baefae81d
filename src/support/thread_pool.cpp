#include "mcompress/support/thread_pool.h"

#include <algorithm>
#include <exception>
#include <utility>

namespace mcompress {
namespace {
thread_local bool in_parallel_region = false;
}

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::run_chunks() {
  in_parallel_region = true;
  while (true) {
    int64_t chunk;
    {
      std::lock_guard lock(mutex_);
      if (!job_ || next_chunk_ >= chunks_) break;
      chunk = next_chunk_++;
    }
    int64_t begin = chunk * grain_;
    try {
      (*job_)(begin, std::min(begin + grain_, n_));
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    std::lock_guard lock(mutex_);
    if (++finished_chunks_ == chunks_) done_.notify_all();
  }
  in_parallel_region = false;
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    run_chunks();
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t chunks = (n + grain - 1) / grain;
  if (workers_.empty() || chunks == 1 || in_parallel_region) {
    for (int64_t begin = 0; begin < n; begin += grain) fn(begin, std::min(begin + grain, n));
    return;
  }
  {
    std::lock_guard lock(mutex_);
    job_ = &fn;
    n_ = n;
    grain_ = grain;
    chunks_ = chunks;
    next_chunk_ = 0;
    finished_chunks_ = 0;
    ++generation_;
  }
  wake_.notify_all();
  run_chunks();
  std::unique_lock lock(mutex_);
  done_.wait(lock, [&] { return finished_chunks_ == chunks_; });
  job_ = nullptr;
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

}  // namespace mcompress
