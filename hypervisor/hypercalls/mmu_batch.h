// The batch shape mmu_update and mmuext_op share (ABI.md 8.5, 8.6): at most
// `max` items of type T at guest VA `items`, run in order; the first
// failure stops the batch and its error is returned; the number done goes
// to the uint32_t at `done_at` (when nonzero).
#pragma once

#include <cstdint>

#include <tortuga/errno.h>

#include "vcpu/batch_histogram.h"
#include "vcpu/vcpu.h"

namespace tortuga::hypercalls {

// Room kept in the apply program before each item, so that a batch's
// writes normally fit one routine. An item can add more (typing a tree
// may rewrite entries to their stored form, pinning an L4 installs the
// reserved slots); the vCPU then applies the program in chunks.
constexpr size_t kMaxWritesPerMmuItem = 32;

// run(item, item_va) returns 0 or a negative TG_E* code. `sizes` counts
// the batch by its size, once it is known to be one the ABI accepts.
template <typename T, typename Run>
int64_t run_mmu_batch(Vcpu& vcpu, uint64_t items, uint64_t count, uint64_t max, uint64_t done_at, BatchHistogram& sizes,
                      Run run) {
  if (count > max) return -TG_E2BIG;
  sizes.record(count);
  int64_t result = 0;
  uint32_t done = 0;
  for (; done < count; ++done) {
    vcpu.ensure_apply_room(kMaxWritesPerMmuItem);
    uint64_t at = items + done * sizeof(T);
    auto item = vcpu.kernel_address_space().read<T>(at);
    ++vcpu.stats().mmu_requests;
    if (int64_t err = run(item, at); err != 0) {
      result = err;
      break;
    }
  }
  if (done_at != 0) vcpu.kernel_address_space().copy_to(done_at, &done, sizeof done);
  return result;
}

}  // namespace tortuga::hypercalls
