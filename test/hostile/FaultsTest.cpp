//===- FaultsTest.cpp - interrupted checkpoint writes and allocation failures -===//
//
// A checkpoint write killed at any moment, or failing after N bytes (RLIMIT_FSIZE: the kernel
// refuses the write, as a full disk would), must leave the previous file whole and loadable.
// An allocation that cannot be satisfied must surface as kiln's error naming the size, not as a
// bare std::bad_alloc or a crash.
//
//===----------------------------------------------------------------------===//
#include "Isolate.h"

#include "kiln/Npy.h"
#include "kiln/kiln.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <random>
#include <thread>

using namespace kiln;
using namespace kiln::layers;
using namespace kiln::test;

namespace {

class Faults : public ::testing::Test {
protected:
  void SetUp() override {
    backend::clear_session();
    dir = std::filesystem::temp_directory_path() /
          ("kiln-faults-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string tmp(const std::string &name) const { return (dir / name).string(); }
  std::filesystem::path dir;
};

/// A model of `hidden` units (4 * (32 * hidden + 2 * hidden) bytes of weights), every weight set
/// to `fill` so a reload tells which save it came from.
Model model(int64_t hidden, float fill) {
  auto in = Input({32});
  auto x = Dense(hidden)(in);
  auto out = Dense(2)(x);
  Model m(in, out);
  std::vector<Array> w = m.get_weights();
  for (Array &a : w)
    std::fill(a.data.begin(), a.data.end(), fill);
  m.set_weights(w);
  return m;
}

/// The one value every weight of `m` holds, or NaN when they differ.
float uniformValue(const Model &m) {
  float v = m.get_weights()[0].data[0];
  for (const Array &a : m.get_weights())
    for (float x : a.data)
      if (x != v)
        return std::nanf("");
  return v;
}

/// Runs `write` in a child that may write at most `bytes` bytes to any file.
Outcome withFileSizeLimit(uint64_t bytes, const std::function<void()> &write) {
  return runIsolated([&] {
    std::signal(SIGXFSZ, SIG_IGN); // the write fails with EFBIG instead of killing us
    rlimit fs{bytes, bytes};
    ::setrlimit(RLIMIT_FSIZE, &fs);
    write();
  });
}

TEST_F(Faults, SaveFailingAfterNBytesLeavesPreviousFileWhole) {
  std::string p = tmp("m.h5");
  model(64, 1.0f).save(p);
  auto before = std::filesystem::file_size(p);
  Model next = model(4096, 2.0f); // about 600 KB of weights
  for (uint64_t limit : {uint64_t(0), uint64_t(100), uint64_t(4096), uint64_t(100000),
                         uint64_t(500000)}) {
    Outcome o = withFileSizeLimit(limit, [&] { next.save(p); });
    EXPECT_EQ(o.kind, 'K') << "limit " << limit << ": " << o.describe();
    EXPECT_NE(o.message.find("m.h5"), std::string::npos) << o.describe();
    EXPECT_EQ(std::filesystem::file_size(p), before) << "limit " << limit;
    EXPECT_EQ(uniformValue(load_model(p)), 1.0f) << "limit " << limit;
  }
  // The temporary files of the failed writes were removed.
  for (const auto &e : std::filesystem::directory_iterator(dir))
    EXPECT_EQ(e.path().filename(), "m.h5") << "left behind: " << e.path();
}

TEST_F(Faults, SaveWeightsFailingAfterNBytesLeavesPreviousFileWhole) {
  std::string p = tmp("w.h5");
  Model a = model(256, 1.0f);
  a.save_weights(p);
  Outcome o = withFileSizeLimit(20000, [&] { model(256, 3.0f).save_weights(p); });
  EXPECT_EQ(o.kind, 'K') << o.describe();
  Model b = model(256, 0.0f);
  b.load_weights(p);
  EXPECT_EQ(uniformValue(b), 1.0f);
}

TEST_F(Faults, SaveNpyFailingAfterNBytesLeavesPreviousFileWhole) {
  std::string p = tmp("a.npy");
  saveNpy(p, Array({3}, {1, 2, 3}));
  Outcome o = withFileSizeLimit(1000, [&] { saveNpy(p, Array({10000})); });
  EXPECT_EQ(o.kind, 'E') << o.describe();
  EXPECT_NE(o.message.find("write failed"), std::string::npos) << o.describe();
  EXPECT_EQ(loadNpy(p).data, (std::vector<float>{1, 2, 3}));
}

TEST_F(Faults, SaveKilledAtRandomMomentsLeavesAWholeFile) {
  // Each round: a child saves a model over the file again and again; the parent kills it after
  // a random delay. Whatever moment the kill lands on, the file is one whole save, never a mix.
  std::string p = tmp("m.h5");
  model(64, 1.0f).save(p);
  std::mt19937 rng(12345);
  int rounds = kSanitized ? 8 : 20;
  int sawNew = 0;
  for (int round = 0; round < rounds; ++round) {
    float fill = float(round + 2);
    Model next = model(2048, fill);
    std::fflush(nullptr);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      try {
        for (;;)
          next.save(p);
      } catch (...) {
      }
      ::_exit(1);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 60000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    Model back = load_model(p);
    float v = uniformValue(back);
    // Every save so far wrote a whole-number fill from 1 up to this round's.
    EXPECT_TRUE(v == std::floor(v) && v >= 1.0f && v <= fill)
        << "round " << round << ": the file holds a mix (" << v << ")";
    sawNew += v == fill;
  }
  // Most rounds are killed after at least one complete save.
  EXPECT_GT(sawNew, 0);
}

TEST_F(Faults, PredictOutputTooLargeForMemoryIsAKilnError) {
  if (kSanitized)
    GTEST_SKIP() << "ASan aborts on an unsatisfiable allocation instead of throwing "
                    "std::bad_alloc; the plain build runs this";
  auto in = Input({1});
  Model m(in, Dense(1000)(in));
  Array x({80000, 1}); // outputs: 80000 * 1000 * 4 = 320 MB, past the 256 MB cap
  Outcome o = runIsolated([&] { (void)m.predict(x); }, 30);
  EXPECT_EQ(o.kind, 'K') << o.describe();
  EXPECT_NE(o.message.find("out of memory allocating 320000000 bytes for shape (80000, 1000)"),
            std::string::npos)
      << o.describe();
}

TEST_F(Faults, ArrayTooLargeForMemoryNamesTheSize) {
  if (kSanitized)
    GTEST_SKIP() << "ASan aborts on an unsatisfiable allocation instead of throwing "
                    "std::bad_alloc; the plain build runs this";
  Outcome o = runIsolated([] { Array a({1 << 20, 1 << 10}); });
  EXPECT_EQ(o.kind, 'E') << o.describe();
  EXPECT_NE(o.message.find("out of memory allocating 4294967296 bytes for shape (1048576, 1024)"),
            std::string::npos)
      << o.describe();
}

TEST_F(Faults, ArrayShapeOverflowIsRefusedBeforeAllocating) {
  try {
    Array a({int64_t(1) << 40, int64_t(1) << 40});
    FAIL() << "allocated an overflowing shape";
  } catch (const std::length_error &e) {
    EXPECT_NE(std::string(e.what()).find("too many elements"), std::string::npos) << e.what();
  }
}

} // namespace
