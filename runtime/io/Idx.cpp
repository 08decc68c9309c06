//===- Idx.cpp - IDX reader (MNIST's format), plain or gzip-compressed -===//
#include "kiln/Idx.h"

#include "FileBytes.h"

#include <cstdio>
#include <cstring>

namespace kiln {
namespace {

int elementSize(uint8_t type) {
  switch (type) {
  case 0x08: // unsigned byte
  case 0x09: // signed byte
    return 1;
  case 0x0B: // short
    return 2;
  case 0x0C: // int
  case 0x0D: // float
    return 4;
  case 0x0E: // double
    return 8;
  default:
    return 0;
  }
}

/// The big-endian value at `p` of `n` bytes, as unsigned.
uint64_t bigEndian(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i)
    v = (v << 8) | p[i];
  return v;
}

float element(uint8_t type, const uint8_t *p) {
  switch (type) {
  case 0x08:
    return static_cast<float>(p[0]);
  case 0x09:
    return static_cast<float>(static_cast<int8_t>(p[0]));
  case 0x0B:
    return static_cast<float>(static_cast<int16_t>(bigEndian(p, 2)));
  case 0x0C:
    return static_cast<float>(static_cast<int32_t>(bigEndian(p, 4)));
  case 0x0D: {
    uint32_t bits = static_cast<uint32_t>(bigEndian(p, 4));
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  default: {
    uint64_t bits = bigEndian(p, 8);
    double d;
    std::memcpy(&d, &bits, 8);
    return static_cast<float>(d);
  }
  }
}

std::string hexByte(uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", b);
  return buf;
}

/// Inflates a gzipped IDX file no further than its header's dimensions can use: the header
/// first, then at most its data size plus one byte (enough to tell trailing data), and never a
/// size the compressed bytes could not hold. A small gzip bomb behind a small header is stopped
/// after a few bytes instead of filling memory.
std::vector<uint8_t> gunzipIdx(const std::string &path, const std::vector<uint8_t> &gz) {
  std::vector<uint8_t> head = io::gunzip(path, gz, 4 + 4 * 255, /*truncate=*/true);
  uint64_t limit = head.size() + 1;
  bool sized = false;
  if (head.size() >= 4 && elementSize(head[2]) != 0 &&
      head.size() >= 4 + 4 * static_cast<size_t>(head[3])) {
    size_t headerLen = 4 + 4 * static_cast<size_t>(head[3]);
    uint64_t need = static_cast<uint64_t>(elementSize(head[2]));
    bool overflow = false;
    for (size_t i = 4; i < headerLen; i += 4)
      overflow |= __builtin_mul_overflow(need, bigEndian(head.data() + i, 4), &need);
    if (!overflow && need > io::maxInflated(gz.size()))
      io::fail(path, "truncated IDX data: its dimensions need " + std::to_string(need) +
                         " bytes of data, more than " + std::to_string(gz.size()) +
                         " bytes of gzip data can inflate to");
    if (!overflow) {
      limit = headerLen + need + 1;
      sized = true;
    }
  }
  std::vector<uint8_t> out = io::gunzip(path, gz, limit, /*truncate=*/true);
  if (sized && out.size() == limit)
    io::fail(path, "size mismatch: gzip data inflates to more than the " +
                       std::to_string(limit - 1) + " bytes its IDX header describes");
  return out;
}

} // namespace

Array loadIdx(const std::string &path) {
  std::vector<uint8_t> bytes = io::readFileBytes(path);
  if (io::isGzip(bytes))
    bytes = gunzipIdx(path, bytes);
  if (bytes.size() < 4)
    io::fail(path, "truncated IDX file: " + std::to_string(bytes.size()) +
                       " bytes, shorter than the 4-byte magic number");
  if (bytes[0] != 0 || bytes[1] != 0)
    io::fail(path, "not an IDX file: bad magic number (the first two bytes must be 0, got " +
                       hexByte(bytes[0]) + " " + hexByte(bytes[1]) + ")");
  uint8_t type = bytes[2];
  int esize = elementSize(type);
  if (esize == 0)
    io::fail(path, "unsupported IDX element type " + hexByte(type) +
                       " (expected 0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float or "
                       "0x0E double)");
  int rank = bytes[3];
  if (rank == 0)
    io::fail(path, "IDX file of rank 0 (no dimensions)");
  size_t headerLen = 4 + 4 * static_cast<size_t>(rank);
  if (bytes.size() < headerLen)
    io::fail(path, "truncated IDX file: ends inside its " + std::to_string(rank) +
                       " dimension sizes");
  std::vector<int64_t> shape(rank);
  for (int i = 0; i < rank; ++i)
    shape[i] = static_cast<int64_t>(bigEndian(bytes.data() + 4 + 4 * i, 4));
  std::optional<int64_t> count = io::checkedProduct(shape);
  int64_t need;
  if (!count || __builtin_mul_overflow(*count, static_cast<int64_t>(esize), &need))
    io::fail(path, "IDX dimensions " + io::tupleString(shape) +
                       " have too many elements (overflow)");
  uint64_t have = bytes.size() - headerLen;
  if (static_cast<uint64_t>(need) != have)
    io::fail(path, std::string(static_cast<uint64_t>(need) > have ? "truncated IDX data"
                                                                   : "size mismatch") +
                       ": dimensions " + io::tupleString(shape) + " need " +
                       std::to_string(need) + " bytes of data, the file has " +
                       std::to_string(have));
  Array out;
  out.shape = std::move(shape);
  out.data.resize(static_cast<size_t>(*count));
  const uint8_t *p = bytes.data() + headerLen;
  for (size_t i = 0; i < out.data.size(); ++i, p += esize)
    out.data[i] = element(type, p);
  return out;
}

Array loadIdxImages(const std::string &path, bool scale) {
  Array a = loadIdx(path);
  if (a.rank() != 3)
    io::fail(path, "expected IDX images of rank 3 (count, rows, cols), got shape " +
                       io::tupleString(a.shape));
  a.shape.push_back(1);
  if (scale)
    for (float &v : a.data)
      v /= 255.0f;
  return a;
}

} // namespace kiln
