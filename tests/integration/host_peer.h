// The host's side of a test guest's NIC: a packet socket on the TAP
// interface that answers each "ping N" (ethertype kTestType) with
// "pong N", checks the guest's UDP datagram and says "done", and counts
// the frames that announce a MAC (RARP, ABI.md 21). It waits for the
// interface to exist (the VMM may be the one that makes it).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <thread>

namespace tortuga::testing {

constexpr uint16_t kTestType = 0x88b5;

// A TAP that outlives the VMMs that attach to it, so the host's packet
// socket sees the frames of the saving and the restored VMM alike.
class PersistentTap {
 public:
  explicit PersistentTap(std::string name);
  ~PersistentTap();
  bool ok() const { return ok_; }

 private:
  bool set_persist(bool on);
  std::string name_;
  bool ok_ = false;
};

class HostPeer {
 public:
  explicit HostPeer(std::string ifname) : ifname_(std::move(ifname)), thread_([this] { run(); }) {}
  ~HostPeer();
  HostPeer(const HostPeer&) = delete;
  HostPeer& operator=(const HostPeer&) = delete;

  int pongs() const { return pongs_; }
  bool udp_checksum_ok() const { return udp_ok_; }
  bool saw_udp() const { return saw_udp_; }
  // RARP requests from and about `mac` ("xx:xx:xx:xx:xx:xx", lower case).
  int announcements(const std::string& mac) const;
  // True once the packet socket is bound: every frame from then on is seen.
  bool listening() const { return listening_; }

 private:
  void run();
  void reply(int s, unsigned index, const uint8_t* to, const std::string& text);
  void handle(int s, unsigned index, std::span<const uint8_t> f);
  void note_announcement(std::span<const uint8_t> f);

  std::string ifname_;
  std::atomic<bool> stop_{false}, listening_{false};
  std::atomic<int> pongs_{0};
  std::atomic<bool> udp_ok_{false}, saw_udp_{false};
  mutable std::mutex mutex_;
  std::map<std::string, int> announcements_;
  std::thread thread_;
};

}  // namespace tortuga::testing
