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

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>

using namespace kiln;
using namespace kiln::callbacks;
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

//===----------------------------------------------------------------------===//
// fit killed at random moments and resumed with BackupAndRestore; ModelCheckpoint killed while
// writing.
//===----------------------------------------------------------------------===//

/// A small regression problem and a model for it, every copy starting from the same weights.
struct FitSetup {
  static constexpr int kEpochs = 8;
  Array x = Array({64, 6}), y = Array({64, 1});
  std::vector<Array> init;
  FitSetup() {
    for (int64_t i = 0; i < x.size(); ++i)
      x.data[i] = std::sin(0.37f * float(i) + 0.1f);
    for (int64_t i = 0; i < y.size(); ++i)
      y.data[i] = 0.5f * std::cos(0.91f * float(i));
    init = make(false).get_weights();
  }
  /// A compiled model at the initial weights; `warm` compiles its training steps now (a fit of
  /// no epochs), so that forked children inherit the code instead of compiling it again.
  Model make(bool warm) const {
    auto in = Input({6});
    Model m(in, Dense(1)(Dense(16, {.activation = "tanh"})(in)));
    m.compile({.optimizer = optimizers::Adam(0.01), .loss = "mse"});
    if (!init.empty())
      m.set_weights(init);
    if (warm)
      m.fit(x, y, {.batch_size = 16, .epochs = 0, .verbose = 0});
    return m;
  }
  FitOptions options(std::vector<std::shared_ptr<Callback>> callbacks) const {
    return {.batch_size = 16, .epochs = kEpochs, .verbose = 0, .shuffle = true, .seed = 7,
            .callbacks = std::move(callbacks)};
  }
};

/// Bitwise equality of two weight lists: the same code on the same data in the same order.
bool sameWeights(const std::vector<Array> &a, const std::vector<Array> &b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].shape != b[i].shape ||
        std::memcmp(a[i].ptr(), b[i].ptr(), a[i].data.size() * sizeof(float)) != 0)
      return false;
  return true;
}

/// The weights after each epoch of an uninterrupted fit: [0] the initial ones.
std::vector<std::vector<Array>> referenceEpochs(const FitSetup &s) {
  Model ref = s.make(false);
  std::vector<std::vector<Array>> out = {ref.get_weights()};
  auto record = std::make_shared<LambdaCallback>(LambdaCallbackOptions{
      .on_epoch_end = [&](int, Logs &) { out.push_back(ref.get_weights()); }});
  ref.fit(s.x, s.y, s.options({record}));
  return out;
}

/// Writes one byte to `fd` (the child's progress report to the parent).
void report(int fd, char c) {
  while (::write(fd, &c, 1) < 0 && errno == EINTR) {
  }
}

/// Reads what the child reported until it exits (EOF); the final weights follow an 'F'.
std::string drain(int fd) {
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;)
    if (n > 0)
      got.append(buf, size_t(n));
    else if (errno != EINTR)
      break;
  return got;
}

/// Waits until the child has written `marker` `count` times; false when it exited first.
bool waitFor(int fd, char marker, int count, std::string &got) {
  char c;
  for (ssize_t n; count > 0 && (n = ::read(fd, &c, 1)) != 0;) {
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    got += c;
    count -= c == marker;
  }
  return count == 0;
}

TEST_F(Faults, FitKilledAtRandomMomentsResumesWithBackupAndRestore) {
  // Each round forks a "fresh process" (the initial weights, a new optimizer) that fits with
  // BackupAndRestore(backup) and is SIGKILLed at a random moment: a random time into the fit,
  // or a random time after an epoch's end began writing the backup. The next round resumes
  // from what the kill left. After every kill the backup must be one whole epoch's state, no
  // older than the last epoch the child reported finished; every fit that runs to its end
  // must end with the weights of an uninterrupted fit, bit for bit: the resumed fit runs the
  // same compiled code on the same batches (the seeded shuffle skips the finished epochs'
  // draws) from the restored weights and optimizer state, so nothing may differ at all.
  FitSetup s;
  std::vector<std::vector<Array>> ref = referenceEpochs(s);
  ASSERT_EQ(ref.size(), size_t(FitSetup::kEpochs + 1));
  Model worker = s.make(true);
  std::string backup = tmp("backup");

  // One child's fit: 'w' when an epoch's end begins (before the backup is written), 'd' once
  // its backup is complete, and at the end 'F' and the final weights.
  auto child = [&](int fd) {
    auto begin = std::make_shared<LambdaCallback>(
        LambdaCallbackOptions{.on_epoch_end = [&](int, Logs &) { report(fd, 'w'); }});
    auto done = std::make_shared<LambdaCallback>(
        LambdaCallbackOptions{.on_epoch_end = [&](int, Logs &) { report(fd, 'd'); }});
    worker.fit(s.x, s.y,
               s.options({begin, std::make_shared<BackupAndRestore>(backup), done}));
    report(fd, 'F');
    for (const Array &a : worker.get_weights())
      for (size_t off = 0, bytes = a.data.size() * sizeof(float); off < bytes;) {
        ssize_t n = ::write(fd, reinterpret_cast<const char *>(a.ptr()) + off, bytes - off);
        if (n <= 0)
          ::_exit(3);
        off += size_t(n);
      }
  };
  auto run = [&](const std::function<void(int fd, pid_t pid, std::string &got)> &killer,
                 std::string &got) -> int {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      try {
        child(fds[1]);
      } catch (const std::exception &e) {
        std::fprintf(stderr, "child: %s\n", e.what());
        ::_exit(2);
      }
      ::_exit(0);
    }
    ::close(fds[1]);
    killer(fds[0], pid, got);
    got += drain(fds[0]);
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
  };

  // The weights a completed child sent after its 'F'.
  auto finalWeights = [&](const std::string &got) {
    std::vector<Array> w = ref.back();
    size_t at = got.find('F') + 1;
    for (Array &a : w) {
      size_t bytes = a.data.size() * sizeof(float);
      if (at + bytes > got.size())
        return std::vector<Array>{};
      std::memcpy(a.ptr(), got.data() + at, bytes);
      at += bytes;
    }
    return w;
  };

  // An uninterrupted child first: it gives the reference and the time a whole fit takes.
  std::string got;
  auto t0 = std::chrono::steady_clock::now();
  int status = run([](int, pid_t, std::string &) {}, got);
  double whole = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << got;
  ASSERT_TRUE(sameWeights(finalWeights(got), ref.back()));
  ASSERT_FALSE(std::filesystem::exists(backup)) << "a completed fit deletes its backup";

  std::mt19937 rng(20261130);
  int rounds = kSanitized ? 12 : 30, killsInBackup = 0, kills = 0, completed = 0;
  int backedUp = 0; // the epoch the backup holds (0: none)
  for (int round = 0; round < rounds; ++round) {
    bool duringBackup = round % 2 == 1;
    got.clear();
    status = run(
        [&](int fd, pid_t pid, std::string &seen) {
          if (duringBackup) {
            // At the end of the first, second or third epoch this child runs, a moment into
            // writing the backup (a backup takes a few milliseconds, fsyncs included).
            if (!waitFor(fd, 'w', 1 + int(rng() % 3), seen))
              return;
            std::this_thread::sleep_for(std::chrono::microseconds(rng() % 4000));
          } else {
            std::this_thread::sleep_for(
                std::chrono::microseconds(rng() % std::max<int64_t>(1, int64_t(whole * 6e5))));
          }
          ::kill(pid, SIGKILL);
        },
        got);
    int finished = int(std::count(got.begin(), got.end(), 'd')); // this child's epochs
    bool inBackup = got.size() && got.back() == 'w';
    if (WIFEXITED(status)) {
      ASSERT_EQ(WEXITSTATUS(status), 0) << "round " << round << ": " << got;
      ASSERT_TRUE(sameWeights(finalWeights(got), ref.back()))
          << "round " << round << ": a fit resumed from epoch " << backedUp
          << " ended with other weights than the uninterrupted fit";
      ASSERT_FALSE(std::filesystem::exists(backup));
      ++completed, backedUp = 0;
      continue;
    }
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << got;
    ++kills, killsInBackup += inBackup;
    // The backup: training_metadata.json names the state of one epoch, whole.
    std::filesystem::path meta = std::filesystem::path(backup) / "training_metadata.json";
    int epoch = 0;
    if (std::filesystem::exists(meta)) {
      std::ifstream is(meta);
      std::string text((std::istreambuf_iterator<char>(is)), {});
      ASSERT_EQ(text.find("{\"batch\":0,\"epoch\":"), 0u) << text;
      epoch = std::stoi(text.substr(19));
      ASSERT_GE(epoch, 1);
      ASSERT_LE(epoch, FitSetup::kEpochs);
      ASSERT_NE(text.find("\"weights\":\"epoch-" + std::to_string(epoch) + ".weights.h5\""),
                std::string::npos)
          << text;
      Model back = s.make(false);
      back.load_weights(backup + "/epoch-" + std::to_string(epoch) + ".weights.h5");
      ASSERT_TRUE(sameWeights(back.get_weights(), ref[size_t(epoch)]))
          << "round " << round << ": the backup of epoch " << epoch
          << " does not hold that epoch's weights";
    }
    // No finished epoch is lost, and the backup never goes back. (Killed while a fit that
    // finished every epoch deleted its backup, there is none: the fit had completed.)
    if (epoch == 0 && backedUp + finished == FitSetup::kEpochs) {
      backedUp = 0;
      continue;
    }
    ASSERT_LE(epoch, backedUp + finished + 1) << "round " << round;
    ASSERT_GE(epoch, backedUp + finished)
        << "round " << round << ": resumed at epoch " << backedUp << ", finished " << finished
        << " more, but the backup holds epoch " << epoch;
    backedUp = epoch;
  }
  // The last fit runs to its end from whatever the last kill left.
  got.clear();
  status = run([](int, pid_t, std::string &) {}, got);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << got;
  EXPECT_TRUE(sameWeights(finalWeights(got), ref.back()));
  ++completed;
  // Many rounds must really have been interrupted (a child resumed near the end may finish
  // first), some of them while writing the backup.
  EXPECT_GE(kills, rounds / 3);
  EXPECT_GE(killsInBackup, rounds / 6);
  std::printf("%d kills (%d while writing the backup), %d fits completed, %.0f ms per fit\n",
              kills, killsInBackup, completed, whole * 1e3);
}

TEST_F(Faults, ModelCheckpointKilledWhileWritingLeavesTheLastCheckpointWhole) {
  // A child fits with ModelCheckpoint saving the whole model at every epoch's end and is
  // SIGKILLed a random moment after an epoch's end began: the file on disk must always load,
  // and hold the weights of the last epoch that finished saving, or the one being saved.
  FitSetup s;
  std::vector<std::vector<Array>> ref = referenceEpochs(s);
  Model worker = s.make(true);
  std::string path = tmp("ckpt.h5");
  std::mt19937 rng(4242);
  int rounds = kSanitized ? 8 : 20, sawPrevious = 0, sawNew = 0;
  for (int round = 0; round < rounds; ++round) {
    std::filesystem::remove(path);
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    std::fflush(nullptr);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      auto begin = std::make_shared<LambdaCallback>(
          LambdaCallbackOptions{.on_epoch_end = [&](int, Logs &) { report(fds[1], 'w'); }});
      auto done = std::make_shared<LambdaCallback>(
          LambdaCallbackOptions{.on_epoch_end = [&](int, Logs &) { report(fds[1], 'd'); }});
      try {
        worker.fit(s.x, s.y,
                   s.options({begin, std::make_shared<ModelCheckpoint>(path), done}));
      } catch (...) {
        ::_exit(2);
      }
      ::_exit(0);
    }
    ::close(fds[1]);
    std::string got;
    int target = 2 + int(rng() % (FitSetup::kEpochs - 2)); // the epoch end to interrupt
    bool reached = waitFor(fds[0], 'w', target, got);
    ASSERT_TRUE(reached) << "the child ended before epoch " << target;
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 5000));
    ::kill(pid, SIGKILL);
    got += drain(fds[0]);
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    int saved = int(std::count(got.begin(), got.end(), 'd'));
    Model back = load_model(path); // throws, failing the test, when the file is not whole
    std::vector<Array> w = back.get_weights();
    bool previous = sameWeights(w, ref[size_t(saved)]);
    bool next = saved < FitSetup::kEpochs && sameWeights(w, ref[size_t(saved + 1)]);
    EXPECT_TRUE(previous || next)
        << "round " << round << ": after " << saved
        << " complete checkpoints the file holds neither that epoch's weights nor the next's";
    sawPrevious += previous, sawNew += next;
  }
  // The kills land both before and after the rename that replaces the file.
  EXPECT_GT(sawPrevious, 0);
  std::printf("%d kills: %d left the previous checkpoint, %d the one being written\n", rounds,
              sawPrevious, sawNew);
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

/// The size in "out of memory allocating N bytes", or 0.
uint64_t failedBytes(const std::string &message) {
  const std::string key = "out of memory allocating ";
  size_t at = message.find(key);
  return at == std::string::npos ? 0 : std::stoull(message.substr(at + key.size()));
}

TEST_F(Faults, PredictIntermediatesTooLargeForMemoryIsAKilnError) {
  // The compiled code's own buffers (the hidden layer's values) do not fit under the cap;
  // the output (one value a row) does.
  if (kSanitized)
    GTEST_SKIP() << "no memory cap under the sanitizers (ASan's shadow memory); the plain build "
                    "runs this";
  auto in = Input({1}, {.name = "x"});
  Model m(in, Dense(1)(Dense(2000)(in)), {.name = "wide"});
  (void)m.predict(Array({4, 1})); // compiled here: the child only runs it
  Array x({50000, 1});            // hidden values: 50000 * 2000 * 4 = 400 MB, past 256 MB
  Outcome o = runIsolated([&] { (void)m.predict(x, {.batch_size = 50000, .threads = 1}); }, 30);
  EXPECT_EQ(o.kind, 'K') << o.describe();
  EXPECT_NE(o.message.find("layer 'wide': out of memory allocating "), std::string::npos)
      << o.describe();
  EXPECT_NE(o.message.find(" bytes for predict's intermediate values, batch 50000"),
            std::string::npos)
      << o.describe();
  uint64_t bytes = failedBytes(o.message);
  EXPECT_TRUE(bytes >= 400000000 && bytes < 400001024) << o.describe();

  // Split across threads, each slice allocates its own (here each too large by itself); a
  // failure in a worker thread is reported the same way instead of ending the process.
  Array x2({140000, 1});
  o = runIsolated([&] { (void)m.predict(x2, {.batch_size = 140000, .threads = 2}); }, 30);
  EXPECT_EQ(o.kind, 'K') << o.describe();
  EXPECT_NE(o.message.find("bytes for predict's intermediate values, batch 70000"),
            std::string::npos)
      << o.describe();

  // Afterwards the same model runs a batch that fits.
  o = runIsolated([&] {
    Array y = m.predict(Array({1000, 1}), {.batch_size = 1000, .threads = 1});
    if (y.shape != std::vector<int64_t>{1000, 1})
      throw std::runtime_error("wrong shape");
  }, 30);
  EXPECT_EQ(o.kind, 'R') << o.describe();
}

TEST_F(Faults, FitStepTooLargeForMemoryIsAKilnErrorAndKeepsTheWeights) {
  if (kSanitized)
    GTEST_SKIP() << "no memory cap under the sanitizers (ASan's shadow memory); the plain build "
                    "runs this";
  auto in = Input({1});
  Model m(in, Dense(1)(Dense(2000)(in)), {.name = "wide"});
  m.compile({.optimizer = optimizers::SGD(0.01), .loss = "mse"});
  Array xs({8, 1}), ys({8, 1});
  m.fit(xs, ys, {.batch_size = 8, .epochs = 1, .verbose = 0}); // compiled here
  std::vector<Array> before = m.get_weights();
  Array x({50000, 1}), y({50000, 1});
  Outcome o = runIsolated([&] {
    ::setenv("KILN_NUM_THREADS", "1", 1); // one slice of 50000 rows, on any machine
    try {
      m.fit(x, y, {.batch_size = 50000, .epochs = 1, .verbose = 0});
    } catch (const Error &) {
      // The failed batch changed nothing.
      std::vector<Array> after = m.get_weights();
      for (size_t i = 0; i < after.size(); ++i)
        if (after[i].data != before[i].data)
          throw std::runtime_error("the weights changed");
      throw;
    }
  }, 30);
  EXPECT_EQ(o.kind, 'K') << o.describe();
  EXPECT_NE(o.message.find("layer 'wide': out of memory allocating "), std::string::npos)
      << o.describe();
  EXPECT_NE(o.message.find("bytes for grad_step's intermediate values, batch 50000"),
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
