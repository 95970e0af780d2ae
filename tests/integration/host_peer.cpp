#include "host_peer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace tortuga::testing {

PersistentTap::PersistentTap(std::string name) : name_(std::move(name)) { ok_ = set_persist(true); }

PersistentTap::~PersistentTap() { set_persist(false); }

bool PersistentTap::set_persist(bool on) {
  int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, name_.c_str(), IFNAMSIZ - 1);
  bool done = ::ioctl(fd, TUNSETIFF, &ifr) == 0 && ::ioctl(fd, TUNSETPERSIST, on ? 1 : 0) == 0;
  ::close(fd);
  return done;
}
namespace {

constexpr uint16_t kRarp = 0x8035;

uint32_t sum16(const uint8_t* p, size_t n, uint32_t sum) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n % 2) sum += static_cast<uint32_t>(p[n - 1] << 8);
  return sum;
}

std::string mac_text(const uint8_t* m) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}

}  // namespace

HostPeer::~HostPeer() {
  stop_ = true;
  thread_.join();
}

int HostPeer::announcements(const std::string& mac) const {
  std::lock_guard lock(mutex_);
  auto it = announcements_.find(mac);
  return it == announcements_.end() ? 0 : it->second;
}

void HostPeer::run() {
  unsigned index = 0;
  while (!stop_ && (index = if_nametoindex(ifname_.c_str())) == 0) usleep(10000);  // the VMM makes it
  if (index == 0) return;
  int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (s < 0) return;
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = static_cast<int>(index);
  if (bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(s);
    return;
  }
  listening_ = true;
  std::vector<uint8_t> buf(65536);
  while (!stop_) {
    pollfd p{s, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    sockaddr_ll from{};
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(s, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 14 || from.sll_pkttype == PACKET_OUTGOING) continue;
    handle(s, index, {buf.data(), static_cast<size_t>(n)});
  }
  close(s);
}

void HostPeer::reply(int s, unsigned index, const uint8_t* to, const std::string& text) {
  std::vector<uint8_t> f(14);
  std::memcpy(f.data(), to, 6);
  const uint8_t me[6] = {0x02, 0, 0, 0, 0, 1};
  std::memcpy(f.data() + 6, me, 6);
  f[12] = kTestType >> 8;
  f[13] = kTestType & 0xff;
  f.insert(f.end(), text.begin(), text.end());
  f.push_back(0);
  while (f.size() < 60) f.push_back(0);
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_ifindex = static_cast<int>(index);
  addr.sll_halen = 6;
  std::memcpy(addr.sll_addr, to, 6);
  sendto(s, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
}

// A RARP request (opcode 3) whose source, sender and target addresses are
// one MAC: the announcement ABI.md 21 asks for.
void HostPeer::note_announcement(std::span<const uint8_t> f) {
  if (f.size() < 14 + 28) return;
  const uint8_t* a = f.data() + 14;
  bool rarp = a[0] == 0 && a[1] == 1 && a[2] == 0x08 && a[3] == 0 && a[4] == 6 && a[5] == 4 && a[6] == 0 && a[7] == 3;
  if (!rarp || std::memcmp(f.data() + 6, a + 8, 6) != 0 || std::memcmp(a + 8, a + 18, 6) != 0) return;
  std::lock_guard lock(mutex_);
  ++announcements_[mac_text(a + 8)];
}

void HostPeer::handle(int s, unsigned index, std::span<const uint8_t> f) {
  uint16_t type = static_cast<uint16_t>(f[12] << 8 | f[13]);
  if (type == kRarp) {
    note_announcement(f);
  } else if (type == kTestType) {
    std::string text(reinterpret_cast<const char*>(f.data() + 14),
                     strnlen(reinterpret_cast<const char*>(f.data() + 14), f.size() - 14));
    if (text.rfind("ping ", 0) == 0) {
      ++pongs_;
      reply(s, index, f.data() + 6, "pong " + text.substr(5));
    }
  } else if (type == 0x0800 && f.size() >= 14 + 28 && f[14 + 9] == 17) {
    const uint8_t* ip = f.data() + 14;
    size_t ip_len = static_cast<size_t>(ip[2] << 8 | ip[3]);
    if (ip_len > f.size() - 14) return;
    const uint8_t* udp = ip + 20;
    size_t udp_len = ip_len - 20;
    uint32_t sum = sum16(ip + 12, 8, 0) + 17 + static_cast<uint32_t>(udp_len);
    sum = sum16(udp, udp_len, sum);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    saw_udp_ = true;
    udp_ok_ = sum == 0xffff && (udp[6] | udp[7]) != 0;
    reply(s, index, f.data() + 6, "done");
  }
}

}  // namespace tortuga::testing
