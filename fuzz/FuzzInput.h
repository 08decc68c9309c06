//===- FuzzInput.h - a fuzz input as a file path, kept in memory (memfd) -===//
//
// kiln's readers take paths; a memfd gives the bytes a path (/proc/self/fd/N) without touching
// the disk, so the fuzz targets go through the same entry points a user's file does.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_FUZZ_FUZZINPUT_H
#define KILN_FUZZ_FUZZINPUT_H

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace kiln::fuzz {

/// The fuzz input's bytes as a regular in-memory file, removed on scope exit.
class MemFile {
public:
  MemFile(const uint8_t *data, size_t size) {
    fd_ = memfd_create("kiln-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::write(fd_, data + done, size - done);
      if (n <= 0) {
        std::perror("write");
        std::abort();
      }
      done += size_t(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile &) = delete;
  MemFile &operator=(const MemFile &) = delete;
  const std::string &path() const { return path_; }

private:
  int fd_ = -1;
  std::string path_;
};

} // namespace kiln::fuzz

#endif // KILN_FUZZ_FUZZINPUT_H
