#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "atomic_file.h"
#include "state_store.h"

namespace tortuga::toolstack {
namespace {

namespace fs = std::filesystem;

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tortuga-store-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

api::DomainRecord record(const std::string& name, uint32_t id) {
  api::DomainRecord r;
  r.mutable_info()->mutable_config()->set_name(name);
  r.mutable_info()->mutable_config()->set_memory_mib(64);
  r.mutable_info()->set_domid(id);
  r.mutable_info()->set_state(api::DomainInfo::RUNNING);
  r.set_pid_start_time(42);
  return r;
}

TEST_F(StateStoreTest, SavedRecordsLoadBack) {
  StateStore store(dir_);
  store.save(record("a", 1));
  store.save(record("b", 2));
  auto loaded = store.load_all();
  EXPECT_TRUE(loaded.problems.empty());
  ASSERT_EQ(loaded.records.size(), 2u);
  for (const auto& r : loaded.records) {
    EXPECT_EQ(r.info().config().memory_mib(), 64u);
    EXPECT_EQ(r.pid_start_time(), 42u);
  }
}

TEST_F(StateStoreTest, DirectoriesArePrivate) {
  StateStore store(dir_);
  for (const char* sub : {"", "/domains", "/run", "/logs"}) {
    struct stat st {};
    ASSERT_EQ(::stat((dir_ + sub).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u) << sub;
  }
}

TEST_F(StateStoreTest, SaveReplacesAndLeavesNoTemporary) {
  StateStore store(dir_);
  store.save(record("a", 1));
  auto r = record("a", 1);
  r.mutable_info()->set_state(api::DomainInfo::PAUSED);
  store.save(r);
  auto loaded = store.load_all();
  ASSERT_EQ(loaded.records.size(), 1u);
  EXPECT_EQ(loaded.records[0].info().state(), api::DomainInfo::PAUSED);
  int files = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir_ + "/domains")) ++files;
  EXPECT_EQ(files, 1);
}

TEST_F(StateStoreTest, DamagedRecordsAreReportedAndSkipped) {
  StateStore store(dir_);
  store.save(record("good", 1));
  std::ofstream(dir_ + "/domains/torn.json") << "{\"info\": {\"config\": {\"na";
  std::ofstream(dir_ + "/domains/liar.json") << R"({"info": {"config": {"name": "other"}}})";
  std::ofstream(dir_ + "/domains/.good.json.tmp") << "half-written";
  auto loaded = store.load_all();
  ASSERT_EQ(loaded.records.size(), 1u);
  EXPECT_EQ(loaded.records[0].info().config().name(), "good");
  ASSERT_EQ(loaded.problems.size(), 2u);
}

TEST_F(StateStoreTest, RemoveForgetsTheRecordAndRunDirectory) {
  StateStore store(dir_);
  store.save(record("a", 1));
  std::string run = store.make_run_dir("a");
  std::ofstream(run + "/control.sock") << "";
  store.remove("a");
  store.remove_run_dir("a");
  EXPECT_TRUE(store.load_all().records.empty());
  EXPECT_FALSE(fs::exists(run));
}

TEST_F(StateStoreTest, AtomicWriteReplacesWholeFiles) {
  std::string path = dir_ + "/f";
  write_file_atomically(path, "first version");
  write_file_atomically(path, "2nd");
  std::string data;
  ASSERT_TRUE(read_small_file(path, data, 100));
  EXPECT_EQ(data, "2nd");
  EXPECT_FALSE(fs::exists(dir_ + "/.f.tmp"));
  EXPECT_FALSE(read_small_file(dir_ + "/missing", data, 100));
  EXPECT_THROW(read_small_file(path, data, 2), std::runtime_error);
  EXPECT_THROW(write_file_atomically(dir_ + "/no/such/dir/f", "x"), std::runtime_error);
}

}  // namespace
}  // namespace tortuga::toolstack
