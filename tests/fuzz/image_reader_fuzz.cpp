// Fuzz target: a saved domain image as a hostile file (domain_image.h).
// The reader must end every input with an ImageError, or hand back state
// that the pure validators (the store, the store ring, the console ring,
// event channels) then accept or refuse with their own error; never a
// crash, a hang or an allocation the input size does not justify.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "console_ring.h"
#include "image/domain_image.h"
#include "vcpu/reserved_area.h"
#include "store/store.h"
#include "store/store_ring.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tortuga;
  UniqueFd fd(memfd_create("image", MFD_CLOEXEC));
  if (size > 0 && ::write(fd.get(), data, size) != static_cast<ssize_t>(size)) return 0;
  ::lseek(fd.get(), 0, SEEK_SET);
  try {
    ImageSource source(fd.get());
    DomainConfig config = source.config();
    if (config.memory_mib > 4) return 0;  // memory is sized by the image: keep the fuzzer's small
    GuestMemory memory(config.memory_mib << 20, reserved_area::kGpa, 1 << 20);
    source.read_memory(memory);
    DomainState st = source.read_state();
    static tg_store_ring store_page;
    static tg_console_ring console_page;
    static tg_shared_info shared;
    Store store(1);
    StoreRing ring(store_page, store, [] {});
    ring.restore(st.store_ring);
    ConsoleRing console(
        console_page, [](std::span<const uint8_t>) {}, [] {});
    console.restore(st.console_ring);
    EventChannels events(shared, config.vcpus, [](uint32_t, bool) {});
    events.restore(st.events);
  } catch (const ImageError&) {
  } catch (const std::invalid_argument&) {
  } catch (const StoreStateError&) {
  }
  return 0;
}
