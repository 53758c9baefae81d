#include <algorithm>
#include <cstdlib>
#include <string>

#include "mcompress/batch/batch.h"
#include "mcompress/support/error.h"

namespace mcompress::batch {

namespace {

// A non-negative integer variable; nullopt when unset, usage error when not a number.
std::optional<long long> int_var(const std::function<const char*(const char*)>& env, const char* name) {
  const char* v = env(name);
  if (!v || !*v) return std::nullopt;
  char* end = nullptr;
  long long n = std::strtoll(v, &end, 10);
  if (*end != '\0' || n < 0) throw_usage("--shard auto: {}='{}' is not a non-negative integer", name, v);
  return n;
}

Shard checked(long long index, long long count, const std::string& source) {
  if (count < 1 || index >= count)
    throw_usage("--shard auto ({}): shard {} of {} is out of range", source, index, count);
  return {static_cast<int>(index), static_cast<int>(count), source};
}

}  // namespace

Shard resolve_shard_auto(const std::function<const char*(const char*)>& env) {
  auto index = int_var(env, "MCOMPRESS_SHARD_INDEX");
  auto count = int_var(env, "MCOMPRESS_SHARD_COUNT");
  if (index) {
    if (!count) throw_usage("--shard auto: MCOMPRESS_SHARD_INDEX is set but MCOMPRESS_SHARD_COUNT is not");
    return checked(*index, *count, "MCOMPRESS_SHARD_INDEX");
  }
  if (auto id = int_var(env, "SLURM_ARRAY_TASK_ID")) {
    auto min = int_var(env, "SLURM_ARRAY_TASK_MIN");
    auto max = int_var(env, "SLURM_ARRAY_TASK_MAX");
    auto n = int_var(env, "SLURM_ARRAY_TASK_COUNT");
    long long step = int_var(env, "SLURM_ARRAY_TASK_STEP").value_or(1);
    if (!min || !max || !n || step < 1)
      throw_usage("--shard auto: SLURM_ARRAY_TASK_ID is set without SLURM_ARRAY_TASK_MIN, _MAX and _COUNT");
    // --array=1,2,7 reports MIN=1 MAX=7 STEP=1 COUNT=3: its IDs do not map onto 0..COUNT-1.
    if ((*max - *min) / step + 1 != *n || (*max - *min) % step != 0)
      throw_usage("--shard auto: the Slurm array {}-{}:{} has {} tasks, so it is a list array (like --array=1,2,7) "
                  "whose IDs do not map onto shards; submit --array=0-{} instead", *min, *max, step, *n, *n - 1);
    if (*id < *min || (*id - *min) % step != 0)
      throw_usage("--shard auto: SLURM_ARRAY_TASK_ID={} is not in the array {}-{}:{}", *id, *min, *max, step);
    return checked((*id - *min) / step, *n, "slurm");
  }
  if (auto k = int_var(env, "JOB_COMPLETION_INDEX")) {
    if (!count)
      throw_usage("--shard auto: JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but MCOMPRESS_SHARD_COUNT "
                  "is not; set it to the Job's completions");
    return checked(*k, *count, "kubernetes");
  }
  throw_usage("--shard auto: none of MCOMPRESS_SHARD_INDEX, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX is set");
}

}  // namespace mcompress::batch
