// TG_HC_version: the ABI version, the feature bits and the VMM's name.
#include <cstring>

#include <tortuga/errno.h>
#include <tortuga/hypercall.h>

#include "hypercalls/hypercall_table.h"

namespace tortuga::hypercalls {

uint32_t offered_features() {
  return TG_FEAT_CORE_CPU | TG_FEAT_CONSOLE_IO | TG_FEAT_PV_MMU | TG_FEAT_MULTICALL | TG_FEAT_BALLOON | TG_FEAT_EVENTS |
         TG_FEAT_TIMER | TG_FEAT_SMP | TG_FEAT_GRANT_TABLE | TG_FEAT_PHYSMAP;
}

int64_t version(Vcpu& vcpu, const Args& args) {
  switch (args.a0) {
    case TG_VERSION_abi: return TG_ABI_VERSION;
    case TG_VERSION_features: {
      auto info = vcpu.address_space().read<tg_feature_info>(args.a1);
      info.submap = info.submap_idx == 0 ? offered_features() : 0;
      vcpu.address_space().copy_to(args.a1, &info, sizeof info);
      return 0;
    }
    case TG_VERSION_vmm_name: {
      char name[64] = {};
      std::strncpy(name, "tortuga-vmm " TORTUGA_VERSION, sizeof name - 1);
      vcpu.address_space().copy_to(args.a1, name, sizeof name);
      return 0;
    }
    default: return -TG_ENOSYS;  // unknown sub-operation (ABI.md 1.4)
  }
}

}  // namespace tortuga::hypercalls
