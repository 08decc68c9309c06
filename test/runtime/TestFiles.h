//===- TestFiles.h - scratch files for the runtime IO tests -===//
#ifndef KILN_TEST_RUNTIME_TESTFILES_H
#define KILN_TEST_RUNTIME_TESTFILES_H

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace kiln::test {

/// A fresh directory under the system temp dir, removed with the fixture.
class ScratchDir : public ::testing::Test {
protected:
  void SetUp() override {
    const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir = std::filesystem::temp_directory_path() /
          ("kiln-rt-" + std::to_string(::getpid()) + "-" + info->test_suite_name() + "-" +
           info->name());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  /// Writes `bytes` verbatim to dir/name and returns the path.
  std::string write(const std::string &name, const std::string &bytes) {
    std::string p = (dir / name).string();
    std::ofstream f(p, std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f)
      throw std::runtime_error("test: cannot write " + p);
    return p;
  }

  std::filesystem::path dir;
};

/// Runs `fn`, which must throw std::runtime_error whose message contains `path` and every one
/// of `needles`.
template <typename Fn>
void expectError(Fn fn, const std::string &path, std::initializer_list<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "expected an error mentioning " << *needles.begin() << " for " << path;
  } catch (const std::runtime_error &e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << "message lacks the path: " << msg;
    for (const std::string &n : needles)
      EXPECT_NE(msg.find(n), std::string::npos) << "message lacks '" << n << "': " << msg;
  }
}

} // namespace kiln::test

#endif // KILN_TEST_RUNTIME_TESTFILES_H
