//===- FileBytes.cpp - whole-file reads, gzip inflation and the IO error helper -===//
#include "FileBytes.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

namespace kiln::io {

void fail(const std::string &path, const std::string &problem) {
  throw std::runtime_error("kiln: " + path + ": " + problem);
}

std::vector<uint8_t> readFileBytes(const std::string &path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail(path, "is a directory, not a file");
  std::unique_ptr<FILE, int (*)(FILE *)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f)
    fail(path, std::string("cannot open: ") + std::strerror(errno));
  if (std::fseek(f.get(), 0, SEEK_END) != 0)
    fail(path, std::string("cannot seek: ") + std::strerror(errno));
  long size = std::ftell(f.get());
  if (size < 0)
    fail(path, std::string("cannot tell its size: ") + std::strerror(errno));
  std::rewind(f.get());
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size > 0 && std::fread(bytes.data(), 1, bytes.size(), f.get()) != bytes.size())
    fail(path, "read error: got fewer than the " + std::to_string(size) + " bytes it has");
  return bytes;
}

bool isGzip(const std::vector<uint8_t> &bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

std::vector<uint8_t> gunzip(const std::string &path, const std::vector<uint8_t> &compressed,
                            uint64_t limit, bool truncate) {
  z_stream zs{};
  // 16 + MAX_WBITS: expect a gzip wrapper (not raw zlib).
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
    fail(path, "cannot initialise zlib");
  std::unique_ptr<z_stream, int (*)(z_stream *)> guard(&zs, &inflateEnd);

  std::vector<uint8_t> out;
  size_t inPos = 0;
  const size_t chunk = size_t{1} << 20;
  bool ended = false;
  while (true) {
    // zlib counts in uInt; feed at most 1 GiB at a time.
    size_t inLeft = compressed.size() - inPos;
    zs.next_in = const_cast<Bytef *>(compressed.data() + inPos);
    zs.avail_in = static_cast<uInt>(std::min<size_t>(inLeft, size_t{1} << 30));
    size_t before = out.size();
    if (before >= limit && truncate) {
      out.resize(limit);
      return out;
    }
    if (before >= limit)
      fail(path, "gzip data inflates to more than " + std::to_string(limit) + " bytes");
    out.resize(before + std::min<uint64_t>(chunk, limit - before));
    zs.next_out = out.data() + before;
    zs.avail_out = static_cast<uInt>(out.size() - before);
    uInt availIn = zs.avail_in;
    int rc = inflate(&zs, Z_NO_FLUSH);
    inPos += availIn - zs.avail_in;
    out.resize(out.size() - zs.avail_out);
    if (rc == Z_STREAM_END) {
      ended = true;
      // Skip zero padding some tools append; anything else starts another gzip member.
      while (inPos < compressed.size() && compressed[inPos] == 0)
        ++inPos;
      if (inPos == compressed.size())
        break;
      if (inflateReset(&zs) != Z_OK)
        fail(path, "cannot reset zlib");
      ended = false;
      continue;
    }
    if (rc == Z_OK)
      continue;
    if (rc == Z_BUF_ERROR && inPos == compressed.size())
      break; // no progress possible: input exhausted mid-stream
    fail(path, std::string("corrupt gzip data (") + (zs.msg ? zs.msg : "zlib error " +
                                                                       std::to_string(rc)) + ")");
  }
  if (!ended)
    fail(path, "truncated gzip data: the compressed stream ends before its end marker");
  return out;
}

std::optional<int64_t> checkedProduct(const std::vector<int64_t> &dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      return std::nullopt;
  return n;
}

std::string tupleString(const std::vector<int64_t> &shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

} // namespace kiln::io
