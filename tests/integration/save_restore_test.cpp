// Save and restore of a running domain (ABI.md 21) from outside, as the
// daemon drives it: the counter guest (tests/guest/counter.c) runs under
// tortuga-vmm --control, is saved through the control channel, and comes
// back from the image in a new VMM, counting on. Corrupted images are
// refused with one line and exit code 1. Needs /dev/kvm.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "domain/domain.h"
#include "domain_image.pb.h"
#include "framing.h"
#include "image_records.h"
#include "unix_socket.h"
#include "vmm_control.pb.h"
#include "vmm_process.h"

namespace tortuga::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Count {
  uint64_t n = 0, t = 0;
};

// Every "count N t=T" line, in order.
std::vector<Count> counts(const std::string& console) {
  std::vector<Count> out;
  static const std::regex line(R"(count (\d+) t=(\d+))");
  for (auto it = std::sregex_iterator(console.begin(), console.end(), line); it != std::sregex_iterator(); ++it) {
    out.push_back({std::stoull((*it)[1]), std::stoull((*it)[2])});
  }
  return out;
}

class SaveRestore : public ::testing::Test {
 protected:
  SaveRestore() {
    char tmpl[] = "/tmp/tortuga-save-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  ~SaveRestore() override { std::filesystem::remove_all(dir_); }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  std::unique_ptr<VmmChild> start_counter(const std::string& socket) {
    return std::make_unique<VmmChild>(std::vector<std::string>{test_guest_path(), "--name", "counter", "--memory", "32",
                                                               "--cmdline", "counter=1", "--control", socket});
  }

  api::VmmReply request(const std::string& socket, const api::VmmRequest& req) {
    UniqueFd fd = connect_unix(socket);
    send_message(fd.get(), req, 5000);
    api::VmmReply reply;
    EXPECT_TRUE(receive_message(fd.get(), reply, 30000));
    return reply;
  }

  api::VmmReply save(const std::string& socket, const std::string& image, bool keep_running) {
    api::VmmRequest req;
    req.mutable_save()->set_path(image);
    req.mutable_save()->set_keep_running(keep_running);
    return request(socket, req);
  }

  // Runs the counter to count 5, saves it (the domain ends), returns the
  // last count the first VMM printed.
  Count run_and_save(const std::string& image) {
    auto vmm = start_counter(path("c.sock"));
    EXPECT_TRUE(vmm->wait_for_console("count 5 ")) << vmm->console() << vmm->messages();
    api::VmmReply reply = save(path("c.sock"), image, false);
    EXPECT_EQ(reply.error(), "");
    EXPECT_GT(reply.saved_bytes(), 0u);
    VmmRun run = vmm->wait();
    EXPECT_EQ(run.exit_code, 6) << run.messages;  // ABI.md 4.3: suspended
    EXPECT_THAT(run.messages, HasSubstr("counter: saved to " + image));
    EXPECT_TRUE(std::filesystem::exists(image));
    auto c = counts(run.console);
    EXPECT_FALSE(c.empty());
    return c.empty() ? Count{} : c.back();
  }

  // Restores image, waits for three counts, stops it; checks that the
  // count went on from `last` and time forward by at least `gap_ns`.
  void restore_and_check(const std::string& image, Count last, uint64_t gap_ns) {
    auto c = restore_and_count(image);
    ASSERT_GE(c.size(), 3u);
    EXPECT_EQ(c.front().n, last.n + 1) << "the count must go on where it stopped";
    check_continues(c, last, gap_ns);
  }

  std::vector<Count> restore_and_count(const std::string& image) {
    VmmChild vmm({"--restore", image, "--control", path("r.sock")});
    // Three counts (or 30 s, and the test fails on the count below).
    for (int i = 0; i < 300 && counts(vmm.console()).size() < 3; ++i) {
      if (!vmm.wait_for_console("\n", vmm.console().size(), 100) &&
          vmm.messages().find("tortuga-vmm:") != std::string::npos)
        break;
    }
    vmm.signal(SIGTERM);
    VmmRun run = vmm.wait();
    EXPECT_EQ(run.exit_code, 7) << run.messages;
    EXPECT_THAT(run.console, Not(HasSubstr("FAILED")));
    return counts(run.console);
  }

  void check_continues(const std::vector<Count>& c, Count last, uint64_t gap_ns) {
    EXPECT_GE(c.front().t, last.t + gap_ns) << "system time must jump forward by the gap, never back";
    for (size_t i = 1; i < c.size(); ++i) {
      EXPECT_EQ(c[i].n, c[i - 1].n + 1);
      EXPECT_GT(c[i].t, c[i - 1].t);
    }
  }

  std::string dir_;
};

TEST_F(SaveRestore, SavedDomainEndsAndItsImageRunsOn) {
  std::string image = path("counter.img");
  Count last = run_and_save(image);
  // The gap the guest must see: at least this long.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  restore_and_check(image, last, 1'000'000'000ULL);
}

TEST_F(SaveRestore, OneImageRestoresTwice) {
  std::string image = path("twice.img");
  Count last = run_and_save(image);
  restore_and_check(image, last, 0);
  restore_and_check(image, last, 0);
}

TEST_F(SaveRestore, KeepRunningLeavesTheDomainRunning) {
  auto vmm = start_counter(path("k.sock"));
  ASSERT_TRUE(vmm->wait_for_console("count 3 ")) << vmm->console();
  std::string image = path("kept.img");
  api::VmmReply reply = save(path("k.sock"), image, true);
  EXPECT_EQ(reply.error(), "");
  EXPECT_FALSE(reply.paused());
  EXPECT_TRUE(std::filesystem::exists(image));
  size_t at = vmm->console().size();
  auto before = counts(vmm->console());
  ASSERT_FALSE(before.empty());
  // It counts on in the same VMM...
  EXPECT_TRUE(vmm->wait_for_console("count " + std::to_string(before.back().n + 3) + " ", at)) << vmm->console();
  api::VmmRequest destroy;
  destroy.mutable_destroy();
  request(path("k.sock"), destroy);
  VmmRun run = vmm->wait();
  EXPECT_EQ(run.exit_code, 7);
  EXPECT_THAT(run.console, Not(HasSubstr("FAILED")));
  // ...and the image it left is a good one: its count goes on from one the
  // first VMM printed (at or after the save), on a later system time.
  auto all = counts(run.console);
  auto c = restore_and_count(image);
  ASSERT_GE(c.size(), 3u);
  EXPECT_GT(c.front().n, before.back().n);
  auto saved = std::find_if(all.begin(), all.end(), [&](const Count& x) { return x.n + 1 == c.front().n; });
  ASSERT_NE(saved, all.end()) << "the restored count must follow one the running domain printed";
  check_continues(c, *saved, 0);
}

TEST_F(SaveRestore, AFailedSaveLeavesTheDomainRunningAndNoFile) {
  auto vmm = start_counter(path("f.sock"));
  ASSERT_TRUE(vmm->wait_for_console("count 2 ")) << vmm->console();
  std::string image = path("no-such-dir/x.img");
  api::VmmReply reply = save(path("f.sock"), image, false);
  EXPECT_THAT(reply.error(), HasSubstr("save failed"));
  EXPECT_FALSE(reply.paused());
  size_t at = vmm->console().size();
  EXPECT_TRUE(vmm->wait_for_console("count ", at)) << "the domain must run on";
  EXPECT_TRUE(std::filesystem::is_empty(dir_ + "/") || !std::filesystem::exists(image));
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    EXPECT_THAT(e.path().filename().string(), Not(HasSubstr(".img"))) << "a partial image was left";
  }
  vmm->signal(SIGTERM);
  EXPECT_EQ(vmm->wait().exit_code, 7);
}

// ---- corrupted images -------------------------------------------------------

std::string read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

// The records of an image, to rewrite some of them.
std::vector<Record> records_of(const std::string& p) {
  UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  ImageReader reader(fd.get());
  std::vector<Record> out;
  do {
    out.push_back(reader.next());
  } while (out.back().type != static_cast<uint32_t>(RecordType::kEnd));
  return out;
}

void write_records(const std::string& p, const std::vector<Record>& records) {
  UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ImageWriter w(fd.get());
  for (const Record& r : records) w.write(static_cast<RecordType>(r.type), r.payload, r.flags);
  w.flush();
}

class CorruptImage : public SaveRestore {
 protected:
  void SetUp() override {
    good_ = path("good.img");
    run_and_save(good_);
  }

  // Restoring `image` must end with exit code 1 and one line naming `why`.
  void expect_refused(const std::string& image, const std::string& why) {
    VmmRun run = run_vmm({"--restore", image});
    EXPECT_EQ(run.exit_code, 1) << run.messages << run.console;
    EXPECT_THAT(run.messages, HasSubstr("refused: image " + image + ": "));
    EXPECT_THAT(run.messages, HasSubstr(why));
    EXPECT_EQ(std::count(run.messages.begin(), run.messages.end(), '\n'), 1) << run.messages;
    EXPECT_THAT(run.console, Not(HasSubstr("count ")));
  }

  template <typename M>
  void rewrite(RecordType type, const std::function<void(M&)>& change, const std::string& out) {
    auto records = records_of(good_);
    for (Record& r : records) {
      if (r.type != static_cast<uint32_t>(type)) continue;
      M m;
      ASSERT_TRUE(m.ParseFromString(r.payload));
      change(m);
      r.payload = m.SerializeAsString();
      break;
    }
    write_records(out, records);
  }

  std::string good_;
};

TEST_F(CorruptImage, AFlippedByteIsACorruptRecord) {
  std::string data = read_file(good_);
  for (size_t at : {size_t{40}, data.size() / 2, data.size() - 20}) {
    std::string bad = data;
    bad[at] ^= 0x20;
    write_file(path("flipped.img"), bad);
    expect_refused(path("flipped.img"), "corrupt");
  }
}

TEST_F(CorruptImage, ATruncatedImageIsRefused) {
  std::string data = read_file(good_);
  for (size_t keep : {size_t{4}, size_t{20}, data.size() / 3, data.size() - 1}) {
    write_file(path("short.img"), data.substr(0, keep));
    expect_refused(path("short.img"), "truncated");
  }
  // Cut at a record boundary, before the end record.
  auto records = records_of(good_);
  records.pop_back();
  write_records(path("noend.img"), records);
  expect_refused(path("noend.img"), "without an end record");
}

TEST_F(CorruptImage, WrongMagicOrVersionIsRefused) {
  std::string data = read_file(good_);
  data[0] = 'X';
  write_file(path("magic.img"), data);
  expect_refused(path("magic.img"), "wrong magic");
  rewrite<image::Header>(
      RecordType::kHeader, [](image::Header& h) { h.set_format_version(2); }, path("v2.img"));
  expect_refused(path("v2.img"), "format version 2");
}

TEST_F(CorruptImage, SizesThatDisagreeAreRefused) {
  rewrite<image::Config>(
      RecordType::kConfig, [](image::Config& c) { c.set_vcpus(2); }, path("vcpus.img"));
  expect_refused(path("vcpus.img"), "vCPU count disagrees");
  rewrite<image::Config>(
      RecordType::kConfig, [](image::Config& c) { c.set_memory_mib(64); }, path("mem.img"));
  expect_refused(path("mem.img"), "memory size disagrees");
  VmmRun run = run_vmm({"--restore", good_, "--memory", "64"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.messages, HasSubstr("not what the command line asks for"));
}

TEST_F(CorruptImage, AGfnOutsideMemoryIsRefused) {
  auto records = records_of(good_);
  for (Record& r : records) {
    if (r.type == static_cast<uint32_t>(RecordType::kPages)) {
      uint64_t outside = (32ULL << 20) / 4096;  // the first gfn past 32 MiB
      std::memcpy(r.payload.data() + 8, &outside, 8);
      break;
    }
  }
  write_records(path("gfn.img"), records);
  expect_refused(path("gfn.img"), "outside the domain's memory");
}

TEST_F(CorruptImage, AnUnknownMandatoryRecordIsRefusedAnOptionalOneSkipped) {
  auto records = records_of(good_);
  auto at = records.begin() + 3;
  records.insert(at, Record{99, kRecordMandatory, "future"});
  write_records(path("mandatory.img"), records);
  expect_refused(path("mandatory.img"), "unknown mandatory record type 99");
  records = records_of(good_);
  records.insert(records.begin() + 3, Record{99, 0, "future"});
  // The end record counts the records before it.
  image::End end;
  ASSERT_TRUE(end.ParseFromString(records.back().payload));
  end.set_records(end.records() + 1);
  records.back().payload = end.SerializeAsString();
  write_records(path("optional.img"), records);
  VmmChild vmm({"--restore", path("optional.img")});
  EXPECT_TRUE(vmm.wait_for_console("count ")) << vmm.messages();
  vmm.signal(SIGTERM);
  EXPECT_EQ(vmm.wait().exit_code, 7);
}

TEST_F(CorruptImage, StateThatTheVmmWouldNeverHaveMadeIsRefused) {
  // A page-table pin the memory does not back: validation fails.
  rewrite<image::PageTypes>(
      RecordType::kPageTypes, [](image::PageTypes& p) { p.mutable_pins(0)->set_level(1); }, path("pin.img"));
  expect_refused(path("pin.img"), "pinned");
  // A vCPU in CPL0.
  rewrite<image::Vcpu>(
      RecordType::kVcpu, [](image::Vcpu& v) { v.mutable_regs()->mutable_cs()->set_selector(0x08); }, path("cpl0.img"));
  expect_refused(path("cpl0.img"), "code selector 0x8");
  // A store node without a parent.
  rewrite<image::Store>(
      RecordType::kStore, [](image::Store& s) { s.add_nodes()->set_path("/no/parent"); }, path("store.img"));
  expect_refused(path("store.img"), "store:");
}

// ABI.md 21.1: the only CPU feature a restore checks is XCR0, which KVM
// refuses when the destination's CPUID view does not offer every state
// component it enables (bit 63 is reserved on every CPU).
TEST_F(CorruptImage, AnXcr0TheHostCannotProvideIsRefused) {
  rewrite<image::Vcpu>(
      RecordType::kVcpu,
      [](image::Vcpu& v) {
        ASSERT_GT(v.regs().xcrs_size(), 0);
        auto* xcr0 = v.mutable_regs()->mutable_xcrs(0);
        ASSERT_EQ(xcr0->index(), 0u);
        xcr0->set_value(xcr0->value() | (1ULL << 63));
      },
      path("xcr0.img"));
  expect_refused(path("xcr0.img"), "KVM refused its FPU state");
}

// Dirty logging for the migration to come: a round holds what the guest
// wrote (KVM's log) and what the VMM wrote for it, and a round taken while
// the domain is paused holds only the frames the VMM shares with it.
TEST(DirtyLog, RoundsHoldGuestAndVmmWritesAndNothingWhilePaused) {
  Console console([](std::span<const uint8_t>) {}, -1);
  DomainConfig config;
  config.name = "dirty";
  config.kernel = test_guest_path();
  config.cmdline = "counter=1";
  config.memory_mib = 32;
  Domain domain(config, console);
  std::thread runner([&] { domain.run(); });
  domain.start_dirty_log();
  std::vector<uint64_t> vmm_frames;
  const FrameTable& frames = domain.mmu().frames();
  // The counter rewrites 16 pages of its pattern at every tick; wait for a
  // round that has them (30 s at most).
  size_t best = 0;
  for (int round = 0; round < 300 && best < 16 + 8; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    best = std::max(best, domain.take_dirty_pages().size());
  }
  EXPECT_GE(best, 16u + 8u) << "a tick's pattern pages (and the VMM's frames) in one round";
  ASSERT_TRUE(domain.pause());
  domain.take_dirty_pages();  // what was written before the pause took effect
  {
    std::lock_guard lock(domain.mmu().frame_lock());
    for (uint64_t gfn = 0; gfn < frames.nr_frames(); ++gfn) {
      if (frames.at(gfn).type == PageType::kVmm) vmm_frames.push_back(gfn);
    }
  }
  EXPECT_EQ(domain.take_dirty_pages(), vmm_frames);
  EXPECT_GE(vmm_frames.size(), 3u + 4u);  // shared info, two rings, four grant frames
  domain.unpause();
  domain.stop_dirty_log();
  domain.destroy("test over");
  runner.join();
}

}  // namespace
}  // namespace tortuga::testing
