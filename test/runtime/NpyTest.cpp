//===- NpyTest.cpp - kiln::loadNpy / saveNpy: round trips, every dtype, hostile files -===//
#include "kiln/Npy.h"

#include "TestFiles.h"

#include <cmath>
#include <cstring>

using kiln::Array;
using kiln::loadNpy;
using kiln::saveNpy;
using kiln::test::expectError;

namespace {

/// A .npy file as raw bytes: magic, version, little-endian header length, header text, data.
std::string npy(const std::string &header, const std::string &data, int major = 1) {
  std::string s = "\x93NUMPY";
  s.push_back(static_cast<char>(major));
  s.push_back('\0');
  size_t n = header.size();
  int lenBytes = major == 1 ? 2 : 4;
  for (int i = 0; i < lenBytes; ++i)
    s.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return s + header + data;
}

std::string dict(const std::string &descr, const std::string &shape,
                 const std::string &fortran = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape +
         ", }\n";
}

template <typename T> std::string raw(std::initializer_list<T> values, bool big = false) {
  std::string s;
  for (T v : values) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    if (big)
      std::reverse(b, b + sizeof(T));
    s.append(b, sizeof(T));
  }
  return s;
}

class Npy : public kiln::test::ScratchDir {};

TEST_F(Npy, RoundTripKeepsShapeAndValues) {
  Array a({2, 3, 4});
  for (size_t i = 0; i < a.data.size(); ++i)
    a.data[i] = static_cast<float>(i) * 0.25f - 3.0f;
  a.data[5] = std::nextafter(1.0f, 2.0f);
  std::string p = (dir / "a.npy").string();
  saveNpy(p, a);
  EXPECT_FALSE(std::filesystem::exists(p + ".tmp"));
  Array b = loadNpy(p);
  EXPECT_EQ(b.shape, a.shape);
  EXPECT_EQ(b.data, a.data);
}

TEST_F(Npy, SavedHeaderIsNumpyV1AlignedTo64) {
  std::string p = (dir / "h.npy").string();
  saveNpy(p, Array({3}, {1, 2, 3}));
  std::ifstream f(p, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(f)), {});
  ASSERT_GE(s.size(), 10u);
  EXPECT_EQ(s.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  size_t headerLen = static_cast<uint8_t>(s[8]) | (static_cast<uint8_t>(s[9]) << 8);
  EXPECT_EQ((10 + headerLen) % 64, 0u);
  std::string header = s.substr(10, headerLen);
  EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos) << header;
  EXPECT_NE(header.find("'shape': (3,)"), std::string::npos) << header;
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(s.size(), 10 + headerLen + 12);
}

TEST_F(Npy, RoundTripRankZeroAndEmpty) {
  std::string p0 = (dir / "s.npy").string();
  saveNpy(p0, Array({}, {7.5f}));
  Array s = loadNpy(p0);
  EXPECT_TRUE(s.shape.empty());
  ASSERT_EQ(s.data.size(), 1u);
  EXPECT_EQ(s.data[0], 7.5f);

  std::string pe = (dir / "e.npy").string();
  Array e;
  e.shape = {0, 5};
  saveNpy(pe, e);
  Array e2 = loadNpy(pe);
  EXPECT_EQ(e2.shape, (std::vector<int64_t>{0, 5}));
  EXPECT_TRUE(e2.data.empty());
}

TEST_F(Npy, SaveRejectsArrayThatDoesNotFillItsShape) {
  Array bad;
  bad.shape = {2, 2};
  bad.data = {1, 2, 3};
  std::string p = (dir / "bad.npy").string();
  expectError([&] { saveNpy(p, bad); }, p, {"3 values do not fill shape (2, 2)"});
  EXPECT_FALSE(std::filesystem::exists(p));
}

TEST_F(Npy, SaveIntoMissingDirectoryNamesTheFile) {
  std::string p = (dir / "no" / "such" / "x.npy").string();
  expectError([&] { saveNpy(p, Array({1}, {1})); }, p + ".tmp", {"cannot create"});
}

struct DtypeCase {
  const char *descr;
  std::string data;
  std::vector<float> expected;
};

TEST_F(Npy, ReadsEveryDtype) {
  std::vector<DtypeCase> cases = {
      {"<f4", raw<float>({1.5f, -2.25f, 1e30f}), {1.5f, -2.25f, 1e30f}},
      {"<f8", raw<double>({1.5, -2.25, 0.1}), {1.5f, -2.25f, 0.1f}},
      {">f8", raw<double>({1.5, -2.25, 0.1}, true), {1.5f, -2.25f, 0.1f}},
      {"<f2", raw<uint16_t>({0x3C00, 0xC100, 0x0001}), {1.0f, -2.5f, 5.9604645e-8f}},
      {"<i4", raw<int32_t>({-7, 0, 2147483647}), {-7.0f, 0.0f, 2147483648.0f}},
      {">i4", raw<int32_t>({-7, 0, 100000}, true), {-7.0f, 0.0f, 100000.0f}},
      {"<i8", raw<int64_t>({-9, 1LL << 40, 3}), {-9.0f, 1099511627776.0f, 3.0f}},
      {"|u1", std::string("\x00\x80\xff", 3), {0.0f, 128.0f, 255.0f}},
      {"|i1", std::string("\x00\x80\xff", 3), {0.0f, -128.0f, -1.0f}},
      {"<u2", raw<uint16_t>({0, 65535, 300}), {0.0f, 65535.0f, 300.0f}},
      {"<i2", raw<int16_t>({-32768, 5, -1}), {-32768.0f, 5.0f, -1.0f}},
      {"<u4", raw<uint32_t>({4000000000u, 1, 2}), {4000000000.0f, 1.0f, 2.0f}},
      {"<u8", raw<uint64_t>({7, 8, 9}), {7.0f, 8.0f, 9.0f}},
      {"|b1", std::string("\x01\x00\x01", 3), {1.0f, 0.0f, 1.0f}},
  };
  for (const DtypeCase &c : cases) {
    SCOPED_TRACE(c.descr);
    std::string p = write(std::string("d") + std::to_string(&c - cases.data()) + ".npy",
                          npy(dict(c.descr, "(3,)"), c.data));
    Array a = loadNpy(p);
    EXPECT_EQ(a.shape, (std::vector<int64_t>{3}));
    EXPECT_EQ(a.data, c.expected);
  }
}

TEST_F(Npy, ReadsRankZeroMultiDimAndVersions2And3) {
  Array s = loadNpy(write("s.npy", npy(dict("<f8", "()"), raw<double>({4.0}))));
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(s.data, std::vector<float>{4.0f});

  std::string d = raw<int32_t>({1, 2, 3, 4, 5, 6});
  Array m = loadNpy(write("m.npy", npy(dict("<i4", "(2, 3)"), d)));
  EXPECT_EQ(m.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(m.data, (std::vector<float>{1, 2, 3, 4, 5, 6}));

  for (int major : {2, 3}) {
    Array v = loadNpy(write("v" + std::to_string(major) + ".npy",
                            npy(dict("<i4", "(6,)"), d, major)));
    EXPECT_EQ(v.shape, (std::vector<int64_t>{6}));
  }
  // Double quotes, no trailing comma, other key order, Python 2 long suffix.
  Array q = loadNpy(write(
      "q.npy", npy("{\"shape\": (2L, 1), \"fortran_order\": False, \"descr\": \"<i4\"}", raw<int32_t>({8, 9}))));
  EXPECT_EQ(q.shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(q.data, (std::vector<float>{8, 9}));
}

// Hostile files: each must throw std::runtime_error naming the file and the problem.

TEST_F(Npy, MissingFile) {
  std::string p = (dir / "absent.npy").string();
  expectError([&] { loadNpy(p); }, p, {"cannot open", "No such file"});
}

TEST_F(Npy, DirectoryInsteadOfFile) {
  std::string p = dir.string();
  expectError([&] { loadNpy(p); }, p, {"is a directory"});
}

TEST_F(Npy, EmptyFile) {
  std::string p = write("empty.npy", "");
  expectError([&] { loadNpy(p); }, p, {"truncated .npy file", "0 bytes"});
}

TEST_F(Npy, BadMagic) {
  std::string p = write("magic.npy", "PK\x03\x04 this is a zip file, not npy");
  expectError([&] { loadNpy(p); }, p, {"not a .npy file", "bad magic"});
}

TEST_F(Npy, UnsupportedVersion) {
  std::string p = write("v9.npy", npy(dict("<f4", "(1,)"), raw<float>({1}), 9));
  expectError([&] { loadNpy(p); }, p, {"unsupported .npy format version 9.0"});
}

TEST_F(Npy, TruncatedInsideHeaderLength) {
  std::string p = write("len.npy", std::string("\x93NUMPY\x02\x00\x10\x00", 10));
  expectError([&] { loadNpy(p); }, p, {"ends inside the header length"});
}

TEST_F(Npy, HeaderLengthPastEndOfFile) {
  std::string bytes = npy(dict("<f4", "(1,)"), raw<float>({1}));
  bytes[8] = '\xff';
  bytes[9] = '\xff';
  std::string p = write("hlen.npy", bytes);
  expectError([&] { loadNpy(p); }, p, {"header length 65535 runs past the end"});
}

TEST_F(Npy, HugeVersion2HeaderLength) {
  std::string bytes = npy(dict("<f4", "(1,)"), raw<float>({1}), 2);
  bytes[8] = bytes[9] = bytes[10] = bytes[11] = '\xff';
  std::string p = write("hlen2.npy", bytes);
  expectError([&] { loadNpy(p); }, p, {"header length 4294967295 runs past the end"});
}

TEST_F(Npy, HeaderNotADictionary) {
  std::string p = write("nd.npy", npy("hello world\n", ""));
  expectError([&] { loadNpy(p); }, p, {"malformed .npy header", "'{'"});
}

TEST_F(Npy, HeaderUnterminated) {
  std::string p = write("unterm.npy", npy("{'descr': '<f4", ""));
  expectError([&] { loadNpy(p); }, p, {"malformed .npy header", "unterminated string"});
}

TEST_F(Npy, HeaderMissingShape) {
  std::string p = write("noshape.npy", npy("{'descr': '<f4', 'fortran_order': False}\n",
                                           raw<float>({1})));
  expectError([&] { loadNpy(p); }, p, {"lacks the key 'shape'"});
}

TEST_F(Npy, HeaderDuplicateAndUnknownKeys) {
  std::string p = write("dup.npy", npy("{'descr': '<f4', 'descr': '<f8', 'fortran_order': "
                                       "False, 'shape': (1,)}",
                                       raw<float>({1})));
  expectError([&] { loadNpy(p); }, p, {"key 'descr' appears twice"});
  std::string q = write("unk.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': "
                                       "(1,), 'evil': 1}",
                                       raw<float>({1})));
  expectError([&] { loadNpy(q); }, q, {"unexpected key 'evil'"});
}

TEST_F(Npy, FortranOrder) {
  std::string p = write("f.npy", npy(dict("<f4", "(2, 2)", "True"), raw<float>({1, 2, 3, 4})));
  expectError([&] { loadNpy(p); }, p, {"Fortran-order", "not supported"});
}

TEST_F(Npy, UnsupportedDtypes) {
  for (const char *descr : {"<c8", "|O", "<U5", "<f16", "|V4", "<m8", "<f3", "|f4"}) {
    SCOPED_TRACE(descr);
    std::string p = write("dt.npy", npy(dict(descr, "(1,)"), std::string(16, '\0')));
    expectError([&] { loadNpy(p); }, p, {"unsupported dtype '" + std::string(descr) + "'"});
  }
  std::string p = write("rec.npy", npy("{'descr': [('a', '<f4')], 'fortran_order': False, "
                                       "'shape': (1,)}",
                                       raw<float>({1})));
  expectError([&] { loadNpy(p); }, p, {"unsupported dtype", "structured"});
}

TEST_F(Npy, TruncatedData) {
  std::string p = write("trunc.npy", npy(dict("<f4", "(2, 5)"), raw<float>({1, 2, 3})));
  expectError([&] { loadNpy(p); }, p,
              {"truncated .npy data", "(2, 5)", "needs 40 bytes, the file has 12"});
}

TEST_F(Npy, TrailingBytes) {
  std::string p = write("trail.npy", npy(dict("<f4", "(2,)"), raw<float>({1, 2, 3})));
  expectError([&] { loadNpy(p); }, p, {"size mismatch", "4 trailing bytes"});
}

TEST_F(Npy, LyingHugeShapeIsNotAllocated) {
  // 1e9 x 4 bytes fits int64 but not the file: caught by the size check before any allocation.
  std::string p = write("huge.npy", npy(dict("<f4", "(1000000000,)"), raw<float>({1})));
  expectError([&] { loadNpy(p); }, p, {"truncated .npy data", "needs 4000000000 bytes"});
}

TEST_F(Npy, ShapeProductOverflow) {
  std::string p = write("ovf.npy", npy(dict("<f8", "(4294967296, 4294967296)"), raw<double>({1})));
  expectError([&] { loadNpy(p); }, p, {"too many elements (overflow)"});
  std::string q = write("ovf2.npy",
                        npy(dict("<f8", "(2305843009213693952,)"), raw<double>({1})));
  expectError([&] { loadNpy(q); }, q, {"too many elements (overflow)"});
}

TEST_F(Npy, DimensionTooLargeOrNegative) {
  std::string p = write("big.npy", npy(dict("<f4", "(99999999999999999999,)"), ""));
  expectError([&] { loadNpy(p); }, p, {"dimension too large"});
  std::string q = write("neg.npy", npy(dict("<f4", "(-1,)"), ""));
  expectError([&] { loadNpy(q); }, q, {"negative dimension"});
}

TEST_F(Npy, GarbageAfterDictionary) {
  std::string p = write("after.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': "
                                         "(1,)} junk",
                                         raw<float>({1})));
  expectError([&] { loadNpy(p); }, p, {"unexpected text after the header"});
}

TEST_F(Npy, EveryTruncationOfAValidFileFailsCleanly) {
  std::string good = npy(dict("<f4", "(2, 3)"), raw<float>({1, 2, 3, 4, 5, 6}));
  for (size_t n = 0; n < good.size(); ++n) {
    std::string p = write("cut.npy", good.substr(0, n));
    EXPECT_THROW(loadNpy(p), std::runtime_error) << "prefix of " << n << " bytes";
  }
  EXPECT_NO_THROW(loadNpy(write("whole.npy", good)));
}

} // namespace

namespace {

// The golden files of test/golden/ are written by NumPy; they must load as the C++ tests expect.
TEST(NpyGolden, ReadsNumpyWrittenGoldenFiles) {
  std::filesystem::path golden = std::filesystem::path(KILN_SOURCE_DIR) / "test" / "golden";
  if (!std::filesystem::exists(golden / "mlp" / "x.npy"))
    GTEST_SKIP() << "no golden data under " << golden;
  Array x = loadNpy((golden / "mlp" / "x.npy").string());
  EXPECT_EQ(x.shape, (std::vector<int64_t>{64, 4}));
  Array k = loadNpy((golden / "mlp" / "weights" / "dense" / "0.npy").string());
  EXPECT_EQ(k.shape, (std::vector<int64_t>{4, 16}));
  Array y = loadNpy((golden / "seed_cnn32" / "y.npy").string());
  EXPECT_EQ(y.shape, (std::vector<int64_t>{10000, 10}));
  for (int64_t i = 0; i < 10; ++i) {
    float sum = 0;
    for (int64_t j = 0; j < 10; ++j)
      sum += y.data[i * 10 + j];
    EXPECT_NEAR(sum, 1.0f, 1e-5f) << "softmax row " << i;
  }
}

} // namespace
