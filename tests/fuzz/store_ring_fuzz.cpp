// Fuzz target: the store's wire as a hostile guest drives it. The input is
// a script of guest actions on the ring page: write bytes into req (as
// many as fit), consume replies from rsp, scribble an index, ring the
// doorbell. The VMM side must never crash, never write past the ring's
// room, and keep answering a guest that plays by the rules again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <tortuga/io/store.h>

#include "store/store.h"
#include "store/store_layout.h"
#include "store/store_ring.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tortuga;
  static tg_store_ring page;
  std::memset(&page, 0, sizeof page);
  Store store(1);
  fill_domain_store(store, "fuzz", 1024);
  StoreRing ring(page, store, [] {});
  for (size_t at = 0; at + 2 <= size;) {
    uint8_t op = data[at] % 4, n = data[at + 1];
    at += 2;
    switch (op) {
      case 0: {  // the guest writes up to n bytes of the script into req
        uint32_t room = TG_STORE_RING_SIZE - (page.req_prod - page.req_cons);
        size_t k = std::min<size_t>({n, room, size - at});
        for (size_t i = 0; i < k; ++i) page.req[TG_STORE_RING_IDX(page.req_prod + i)] = static_cast<char>(data[at + i]);
        page.req_prod += static_cast<uint32_t>(k);
        at += k;
        break;
      }
      case 1:  // the guest consumes up to n * 16 bytes of replies
        page.rsp_cons += std::min<uint32_t>(n * 16u, page.rsp_prod - page.rsp_cons);
        break;
      case 2:  // the guest scribbles an index
        (n & 1 ? page.req_prod : page.rsp_cons) += n * 977u;
        break;
      default: break;
    }
    uint32_t before = page.rsp_prod;
    ring.notified();
    // Never more in rsp than the room the guest's rsp_cons left (when sane).
    if (page.rsp_prod - page.rsp_cons > TG_STORE_RING_SIZE && page.rsp_prod != before &&
        before - page.rsp_cons <= TG_STORE_RING_SIZE) {
      std::abort();
    }
  }
  return 0;
}
