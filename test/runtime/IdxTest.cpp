//===- IdxTest.cpp - kiln::loadIdx / loadIdxImages: every type, gzip, hostile files -===//
#include "kiln/Idx.h"

#include "TestFiles.h"

#include <zlib.h>

#include <cstring>

using kiln::Array;
using kiln::loadIdx;
using kiln::loadIdxImages;
using kiln::test::expectError;

namespace {

/// An IDX file: 0, 0, type, rank, big-endian uint32 dims, then `data` (already big-endian).
std::string idx(uint8_t type, std::vector<uint32_t> dims, const std::string &data) {
  std::string s{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int i = 3; i >= 0; --i)
      s.push_back(static_cast<char>((d >> (8 * i)) & 0xff));
  return s + data;
}

template <typename T> std::string bigEndian(std::initializer_list<T> values) {
  std::string s;
  for (T v : values) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    std::reverse(b, b + sizeof(T));
    s.append(b, sizeof(T));
  }
  return s;
}

std::string gzip(const std::string &data) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef *>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

class Idx : public kiln::test::ScratchDir {};

TEST_F(Idx, ReadsEveryElementType) {
  struct Case {
    uint8_t type;
    std::string data;
    std::vector<float> expected;
  };
  std::vector<Case> cases = {
      {0x08, std::string("\x00\x7f\xff", 3), {0, 127, 255}},
      {0x09, std::string("\x00\x7f\xff", 3), {0, 127, -1}},
      {0x0B, bigEndian<int16_t>({-300, 0, 32767}), {-300, 0, 32767}},
      {0x0C, bigEndian<int32_t>({-70000, 1, 16777216}), {-70000, 1, 16777216}},
      {0x0D, bigEndian<float>({0.5f, -1.25f, 3e10f}), {0.5f, -1.25f, 3e10f}},
      {0x0E, bigEndian<double>({0.5, -1.25, 0.1}), {0.5f, -1.25f, 0.1f}},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(static_cast<int>(c.type));
    Array a = loadIdx(write("t.idx", idx(c.type, {3}, c.data)));
    EXPECT_EQ(a.shape, (std::vector<int64_t>{3}));
    EXPECT_EQ(a.data, c.expected);
  }
}

TEST_F(Idx, ImagesPlainAndGzipAgree) {
  std::string pixels;
  for (int i = 0; i < 2 * 3 * 4; ++i)
    pixels.push_back(static_cast<char>(i * 10));
  std::string bytes = idx(0x08, {2, 3, 4}, pixels);
  std::string plain = write("img-idx3-ubyte", bytes);
  std::string gz = write("img-idx3-ubyte.gz", gzip(bytes));
  // Detected by content, not by name.
  std::string gzNoSuffix = write("img-compressed", gzip(bytes));

  Array raw = loadIdx(plain);
  EXPECT_EQ(raw.shape, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(raw.data[23], 230.0f);
  EXPECT_EQ(loadIdx(gz).data, raw.data);
  EXPECT_EQ(loadIdx(gzNoSuffix).data, raw.data);

  for (const std::string &p : {plain, gz}) {
    Array x = loadIdxImages(p);
    EXPECT_EQ(x.shape, (std::vector<int64_t>{2, 3, 4, 1}));
    EXPECT_EQ(x.data[23], 230.0f / 255.0f);
    Array unscaled = loadIdxImages(p, /*scale=*/false);
    EXPECT_EQ(unscaled.data[23], 230.0f);
  }
}

TEST_F(Idx, ConcatenatedGzipMembers) {
  std::string bytes = idx(0x08, {4}, std::string("\x01\x02\x03\x04", 4));
  std::string p = write("multi.gz", gzip(bytes.substr(0, 6)) + gzip(bytes.substr(6)));
  EXPECT_EQ(loadIdx(p).data, (std::vector<float>{1, 2, 3, 4}));
}

TEST_F(Idx, MissingFile) {
  std::string p = (dir / "nope-idx1-ubyte").string();
  expectError([&] { loadIdx(p); }, p, {"cannot open"});
}

TEST_F(Idx, TooShort) {
  std::string p = write("short", std::string("\x00\x00", 2));
  expectError([&] { loadIdx(p); }, p, {"truncated IDX file", "2 bytes"});
}

TEST_F(Idx, BadMagic) {
  std::string p = write("magic", std::string("\x01\x00\x08\x01\x00\x00\x00\x01\x05", 9));
  expectError([&] { loadIdx(p); }, p, {"not an IDX file", "bad magic", "0x01 0x00"});
}

TEST_F(Idx, UnknownElementType) {
  std::string p = write("type", idx(0x0A, {1}, "x"));
  expectError([&] { loadIdx(p); }, p, {"unsupported IDX element type 0x0A"});
}

TEST_F(Idx, RankZero) {
  std::string p = write("rank0", idx(0x08, {}, "x"));
  expectError([&] { loadIdx(p); }, p, {"rank 0"});
}

TEST_F(Idx, TruncatedDimensions) {
  std::string p = write("dims", idx(0x08, {5, 5, 5}, "").substr(0, 10));
  expectError([&] { loadIdx(p); }, p, {"ends inside its 3 dimension sizes"});
}

TEST_F(Idx, LyingDimensionsAreNotAllocated) {
  // 8e10 bytes of doubles claimed by a 20-byte file: a size check, never an allocation.
  std::string p = write("lie", idx(0x0E, {100000u, 100000u}, "12345678"));
  expectError([&] { loadIdx(p); }, p, {"truncated IDX data", "(100000, 100000)", "need 80000000000 bytes"});
}

TEST_F(Idx, DimensionProductOverflow) {
  std::string p = write("ovf", idx(0x08, {0xffffffffu, 0xffffffffu, 0xffffffffu}, "x"));
  expectError([&] { loadIdx(p); }, p, {"too many elements (overflow)"});
}

TEST_F(Idx, TrailingBytes) {
  std::string p = write("trail", idx(0x08, {2}, "abc"));
  expectError([&] { loadIdx(p); }, p, {"size mismatch", "need 2 bytes of data, the file has 3"});
}

TEST_F(Idx, CorruptGzip) {
  std::string bytes = gzip(idx(0x08, {64}, std::string(64, 'a')));
  for (size_t i = 10; i < bytes.size() - 8; ++i)
    bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
  std::string p = write("corrupt.gz", bytes);
  expectError([&] { loadIdx(p); }, p, {"corrupt gzip data"});
}

TEST_F(Idx, TruncatedGzip) {
  std::string whole = gzip(idx(0x08, {256}, std::string(256, 'q')));
  for (size_t n : {size_t{2}, size_t{12}, whole.size() / 2, whole.size() - 1}) {
    std::string p = write("cut.gz", whole.substr(0, n));
    expectError([&] { loadIdx(p); }, p, {"gzip data"});
  }
  std::string p = write("cut2.gz", whole.substr(0, whole.size() - 4));
  expectError([&] { loadIdx(p); }, p, {"truncated gzip data"});
}

TEST_F(Idx, ImagesNeedRankThree) {
  std::string p = write("labels", idx(0x08, {3}, "abc"));
  expectError([&] { loadIdxImages(p); }, p, {"expected IDX images of rank 3", "(3,)"});
}

} // namespace
