// The network backend under tortuga-vmm with the test guest's frontend
// (tests/guest/netfront.c): frames between the guest and a peer on the
// host side of the TAP interface, both directions, multi-slot transmit,
// and a UDP checksum the backend fills in for a CSUM_BLANK packet.
// Needs /dev/kvm and CAP_NET_ADMIN (label `guest`).
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "vmm_process.h"

namespace tortuga::testing {
namespace {

using ::testing::HasSubstr;

constexpr uint16_t kTestType = 0x88b5;

// The host's side: a packet socket on the TAP interface that answers each
// "ping N" with "pong N", checks the guest's UDP datagram, and says "done".
class HostPeer {
 public:
  explicit HostPeer(std::string ifname) : ifname_(std::move(ifname)), thread_([this] { run(); }) {}
  ~HostPeer() {
    stop_ = true;
    thread_.join();
  }
  int pongs() const { return pongs_; }
  bool udp_checksum_ok() const { return udp_ok_; }
  bool saw_udp() const { return saw_udp_; }

 private:
  void run() {
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

  void reply(int s, unsigned index, const uint8_t* to, const std::string& text) {
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

  static uint32_t sum16(const uint8_t* p, size_t n, uint32_t sum) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    if (n % 2) sum += static_cast<uint32_t>(p[n - 1] << 8);
    return sum;
  }

  void handle(int s, unsigned index, std::span<const uint8_t> f) {
    uint16_t type = static_cast<uint16_t>(f[12] << 8 | f[13]);
    if (type == kTestType) {
      std::string text(reinterpret_cast<const char*>(f.data() + 14), strnlen(reinterpret_cast<const char*>(f.data() + 14), f.size() - 14));
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

  std::string ifname_;
  std::atomic<bool> stop_{false};
  std::atomic<int> pongs_{0};
  std::atomic<bool> udp_ok_{false}, saw_udp_{false};
  std::thread thread_;
};

TEST(NetDevice, FramesGoBothWaysAndBlankChecksumsAreFilledIn) {
  std::string tap = "tgt" + std::to_string(getpid() % 100000);
  HostPeer peer(tap);
  VmmRun run = run_vmm({test_guest_path(), "--name", "netguest", "--cmdline", "net=ping n=5", "--nic",
                        tap + ",mac=02:54:47:00:00:07"});
  EXPECT_EQ(run.exit_code, 0) << run.console << run.messages;
  EXPECT_THAT(run.console, HasSubstr("net: connected\n"));
  for (int i = 1; i <= 5; ++i) EXPECT_THAT(run.console, HasSubstr("net: got pong " + std::to_string(i) + "\n"));
  EXPECT_THAT(run.console, HasSubstr("net: udp sent with a blank checksum"));
  EXPECT_THAT(run.console, HasSubstr("net: done"));
  EXPECT_GE(peer.pongs(), 5) << "a ping sent before the peer listened is sent again";
  EXPECT_TRUE(peer.saw_udp());
  EXPECT_TRUE(peer.udp_checksum_ok()) << "the backend fills in the UDP checksum the guest left blank";
}

// A network namespace with a bridge, a veth pair whose far end has
// 10.77.0.1, and (once the VMM made it) the domain's TAP moved in and
// attached to the bridge: the guest reaches a real host stack through it.
class BridgeNamespace {
 public:
  BridgeNamespace(std::string name, std::string tap) : name_(std::move(name)), tap_(std::move(tap)) {
    ok_ = sh("ip netns add " + name_) && sh(ip("link add br0 type bridge")) &&
          sh(ip("link add veth0 type veth peer name veth1 address 02:00:00:00:00:01")) &&
          sh(ip("link set veth0 master br0")) && sh(ip("addr add 10.77.0.1/24 dev veth1")) &&
          sh(ip("link set br0 up")) && sh(ip("link set veth0 up")) && sh(ip("link set veth1 up")) &&
          sh(ip("neigh add 10.77.0.2 lladdr 02:54:47:00:00:07 dev veth1"));
    plumber_ = std::thread([this] { plumb(); });
    server_ = std::thread([this] { serve(); });
  }
  ~BridgeNamespace() {
    stop_ = true;
    plumber_.join();
    server_.join();
    sh("ip netns del " + name_);
  }
  bool ok() const { return ok_; }
  // Moves the calling thread (only) into the namespace; what it forks runs there.
  bool enter() const {
    int ns = open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
    bool in = ns >= 0 && setns(ns, CLONE_NEWNET) == 0;
    if (ns >= 0) close(ns);
    return in;
  }
  bool got_datagram() const { return got_; }
  // The namespace's links and counters, for a failure message.
  std::string describe() const {
    std::string out = plumbing_errors_;
    FILE* f = popen((ip("-s link") + " 2>&1; " + ip("neigh") + " 2>&1; " + "bridge -n " + name_ + " fdb 2>&1").c_str(), "r");
    if (f == nullptr) return out;
    char buf[512];
    while (fgets(buf, sizeof buf, f) != nullptr) out += buf;
    pclose(f);
    return out;
  }

 private:
  static bool sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }
  std::string ip(const std::string& args) const { return "ip -n " + name_ + " " + args; }

  // Puts the TAP in the bridge as soon as the VMM (which runs inside the
  // namespace) has made it. Moving a TAP between namespaces after the VMM
  // made it can lose the interface (NOTES.md), so the VMM is started in
  // the namespace instead.
  void plumb() {
    while (!stop_ && !sh(ip("link set " + tap_ + " master br0"))) usleep(10000);
    if (!stop_ && !sh(ip("link set " + tap_ + " up"))) plumbing_errors_ += "cannot bring " + tap_ + " up\n";
  }

  // A UDP server in the namespace: answers "reply" to the guest.
  void serve() {
    if (!enter()) return;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(4001);
    inet_pton(AF_INET, "10.77.0.1", &addr.sin_addr);
    for (int tries = 0; !stop_ && bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0; ++tries) usleep(10000);
    char buf[256];
    while (!stop_) {
      pollfd p{s, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      sockaddr_in from{};
      socklen_t len = sizeof from;
      ssize_t n = recvfrom(s, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n >= 11 && std::memcmp(buf, "tortuga udp", 11) == 0) {
        got_ = true;  // the kernel checked the UDP checksum the backend filled in
        sendto(s, "reply", 5, 0, reinterpret_cast<sockaddr*>(&from), len);
      }
    }
    close(s);
  }

  std::string name_, tap_, plumbing_errors_;
  bool ok_ = false;
  std::atomic<bool> stop_{false}, got_{false};
  std::thread plumber_, server_;
};

TEST(NetDevice, UdpToAHostStackBehindABridgeInANamespace) {
  std::string id = std::to_string(getpid() % 100000);
  BridgeNamespace ns("tgns" + id, "tgb" + id);
  ASSERT_TRUE(ns.ok()) << "ip netns, bridge and veth setup";
  VmmRun run;
  bool entered = false;
  std::thread([&] {  // the VMM runs in the namespace, and makes its TAP there
    entered = ns.enter();
    if (entered) {
      run = run_vmm({test_guest_path(), "--name", "netguest", "--cmdline", "net=udp peer=02:00:00:00:00:01", "--nic",
                     "tgb" + id + ",mac=02:54:47:00:00:07"});
    }
  }).join();
  ASSERT_TRUE(entered);
  EXPECT_EQ(run.exit_code, 0) << run.console << run.messages;
  EXPECT_THAT(run.console, HasSubstr("net: udp reply through the bridge"));
  EXPECT_TRUE(ns.got_datagram()) << ns.describe();
}

TEST(NetDevice, ABadTapNameIsRefusedBeforeTheDomainStarts) {
  VmmRun run = run_vmm({test_guest_path(), "--name", "netguest", "--nic", "this-name-is-far-too-long-for-linux"});
  EXPECT_EQ(run.exit_code, 1) << run.messages;
  EXPECT_THAT(run.messages, HasSubstr("netguest: refused: bad TAP interface name"));
}

}  // namespace
}  // namespace tortuga::testing
