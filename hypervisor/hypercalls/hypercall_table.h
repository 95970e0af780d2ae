// The hypercall table: one handler per hypercall number. Each handler lives
// in the file named after its hypercall (console_io.cpp, sched_op.cpp, ...);
// dispatch.cpp decodes the registers and counts every call.
#pragma once

#include <cstdint>

#include "vcpu/vcpu.h"

namespace tortuga::hypercalls {

// Arguments in calling-convention order: rdi, rsi, rdx, r10, r8.
struct Args {
  uint64_t a0, a1, a2, a3, a4;
};

using Handler = int64_t (*)(Vcpu& vcpu, const Args& args);

struct Entry {
  Handler handler;
  bool returns;  // false: the handler set the guest's registers itself (iret)
};

int64_t console_io(Vcpu& vcpu, const Args& args);
int64_t sched_op(Vcpu& vcpu, const Args& args);
int64_t set_trap_table(Vcpu& vcpu, const Args& args);
int64_t set_callbacks(Vcpu& vcpu, const Args& args);
int64_t iret(Vcpu& vcpu, const Args& args);
int64_t stack_switch(Vcpu& vcpu, const Args& args);
int64_t set_segment_base(Vcpu& vcpu, const Args& args);
int64_t version(Vcpu& vcpu, const Args& args);
int64_t mmu_update(Vcpu& vcpu, const Args& args);
int64_t mmuext_op(Vcpu& vcpu, const Args& args);
int64_t update_va_mapping(Vcpu& vcpu, const Args& args);
int64_t multicall(Vcpu& vcpu, const Args& args);
int64_t memory_op(Vcpu& vcpu, const Args& args);
int64_t event_channel_op(Vcpu& vcpu, const Args& args);
int64_t set_timer_op(Vcpu& vcpu, const Args& args);
int64_t vcpu_op(Vcpu& vcpu, const Args& args);
int64_t grant_table_op(Vcpu& vcpu, const Args& args);
bool vcpu_op_changes_page_tables(uint64_t cmd);

// Arms this vCPU's one-shot timer (set_timer_op and vcpu_op share it).
int64_t arm_timer(Vcpu& vcpu, uint64_t deadline_ns);

// The table entry for a hypercall number, or nullptr when there is none.
const Entry* find_hypercall(uint64_t nr);

// The feature bits (word 0) this VMM offers; see TG_VERSION_features.
uint32_t offered_features();

// Checks that a guest code address (handler, callback) lies in guest memory
// the kernel can reach; kills the domain otherwise.
void require_guest_code_address(Vcpu& vcpu, uint64_t va, const char* what);

}  // namespace tortuga::hypercalls
