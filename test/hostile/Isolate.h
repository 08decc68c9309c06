//===- Isolate.h - run one hostile input in a child process under a memory cap and a timer -===//
//
// A crash, a hang or a runaway allocation in the code under test must fail one case, not take
// the test binary down with it: each case runs in a fork()ed child whose address space may grow by
// at most 256 MB (RLIMIT_AS over what the child already maps: libMLIR and libLLVM are mapped
// before the case starts), killed after its time limit. Under the sanitizers (KILN_SANITIZED) ASan
// reserves terabytes of shadow, so the memory cap is not set there and the timer is longer; the
// plain build enforces both.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_TEST_HOSTILE_ISOLATE_H
#define KILN_TEST_HOSTILE_ISOLATE_H

#include "kiln/Error.h"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <typeinfo>
#include <unistd.h>

namespace kiln::test {

#ifdef KILN_SANITIZED
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

/// The per-case limits the catalogue promises.
constexpr uint64_t kMemoryCapBytes = uint64_t(256) << 20;
constexpr double kTimeLimitSeconds = kSanitized ? 10.0 : 1.0;

/// How a case ended, as the parent saw it.
struct Outcome {
  /// 'K' kiln::Error, 'E' another std::runtime_error, 'X' another exception, 'R' returned
  /// normally, 'C' crashed (signal or odd exit), 'T' ran past the time limit.
  char kind = 'C';
  std::string message;
  double seconds = 0;
  std::string describe() const {
    return std::string("outcome '") + kind + "' after " + std::to_string(seconds) + " s: " +
           message;
  }
};

/// Bytes the process maps now (VmSize), 0 when unknown.
inline uint64_t mappedBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmSize:", 0) == 0)
      return std::stoull(line.substr(7)) * 1024;
  return 0;
}

/// Runs `fn` in a child process and reports how it ended.
inline Outcome runIsolated(const std::function<void()> &fn,
                           double timeLimit = kTimeLimitSeconds) {
  int fds[2];
  if (::pipe(fds) != 0)
    throw std::runtime_error("pipe failed");
  std::fflush(nullptr);
  auto start = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid < 0)
    throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::close(fds[0]);
    rlimit core{0, 0};
    ::setrlimit(RLIMIT_CORE, &core);
    if (!kSanitized) {
      uint64_t cap = mappedBytes() + kMemoryCapBytes;
      rlimit as{cap, cap};
      ::setrlimit(RLIMIT_AS, &as);
    }
    std::string out;
    try {
      fn();
      out = "R";
    } catch (const kiln::Error &e) {
      out = std::string("K") + e.what();
    } catch (const std::runtime_error &e) {
      out = std::string("E") + e.what();
    } catch (const std::exception &e) {
      out = std::string("X") + typeid(e).name() + ": " + e.what();
    } catch (...) {
      out = "Xan exception of unknown type";
    }
    for (size_t done = 0; done < out.size();) {
      ssize_t n = ::write(fds[1], out.data() + done, out.size() - done);
      if (n <= 0)
        break;
      done += size_t(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  Outcome o;
  std::string got;
  bool timedOut = false;
  char buf[4096];
  while (true) {
    double left = timeLimit - std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                             start).count();
    if (left <= 0) {
      timedOut = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int r = ::poll(&p, 1, int(left * 1000) + 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r == 0)
      continue;
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0)
      break; // EOF: the child exited (or died)
    got.append(buf, size_t(n));
  }
  ::close(fds[0]);
  if (timedOut)
    ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  o.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (timedOut) {
    o.kind = 'T';
    o.message = "killed after " + std::to_string(timeLimit) + " s";
  } else if (WIFSIGNALED(status)) {
    o.kind = 'C';
    o.message = std::string("killed by signal ") + strsignal(WTERMSIG(status));
  } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got.empty()) {
    o.kind = 'C';
    o.message = "exited with status " + std::to_string(WEXITSTATUS(status)) + ": " + got;
  } else {
    o.kind = got[0];
    o.message = got.substr(1);
  }
  return o;
}

} // namespace kiln::test

#endif // KILN_TEST_HOSTILE_ISOLATE_H
