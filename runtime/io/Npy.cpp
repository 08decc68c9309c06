//===- Npy.cpp - NumPy .npy reader (many dtypes -> float32) and float32 writer -===//
#include "kiln/Npy.h"

#include "FileBytes.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>

namespace kiln {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

/// The dtype of a .npy data section, reduced to what conversion needs.
struct DType {
  char kind = 0;     // 'f', 'i', 'u', 'b'
  int size = 0;      // bytes per element
  bool big = false;  // big-endian
};

/// The header dictionary: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
struct Header {
  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
};

/// A parser for the small Python-literal subset np.save writes.
class HeaderParser {
public:
  HeaderParser(const std::string &path, std::string_view text) : path(path), s(text) {}

  Header parse() {
    Header h;
    bool haveDescr = false, haveFortran = false, haveShape = false;
    skipSpace();
    expect('{', "the header dictionary to start with '{'");
    while (true) {
      skipSpace();
      if (peek() == '}') {
        ++pos;
        break;
      }
      std::string key = parseString();
      skipSpace();
      expect(':', "':' after key '" + key + "'");
      skipSpace();
      auto once = [&](bool &seen) {
        if (seen)
          bad("key '" + key + "' appears twice");
        seen = true;
      };
      if (key == "descr") {
        once(haveDescr);
        if (peek() == '[')
          bad("unsupported dtype: structured (record) arrays are not supported");
        h.descr = parseString();
      } else if (key == "fortran_order") {
        once(haveFortran);
        h.fortran = parseBool();
      } else if (key == "shape") {
        once(haveShape);
        h.shape = parseTuple();
      } else {
        bad("unexpected key '" + key + "' (expected descr, fortran_order, shape)");
      }
      skipSpace();
      if (peek() == ',') {
        ++pos;
        continue;
      }
      skipSpace();
      expect('}', "',' or '}' after the value of '" + key + "'");
      break;
    }
    skipSpace();
    if (pos != s.size())
      bad("unexpected text after the header dictionary");
    if (!haveDescr || !haveFortran || !haveShape)
      bad(std::string("header lacks the key '") +
          (!haveDescr ? "descr" : !haveFortran ? "fortran_order" : "shape") + "'");
    return h;
  }

private:
  [[noreturn]] void bad(const std::string &what) {
    io::fail(path, "malformed .npy header: " + what);
  }
  char peek() const { return pos < s.size() ? s[pos] : '\0'; }
  void skipSpace() {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r'))
      ++pos;
  }
  void expect(char c, const std::string &what) {
    if (peek() != c)
      bad("expected " + what);
    ++pos;
  }
  std::string parseString() {
    char q = peek();
    if (q != '\'' && q != '"')
      bad("expected a quoted string at offset " + std::to_string(pos));
    size_t end = s.find(q, pos + 1);
    if (end == std::string_view::npos)
      bad("unterminated string");
    std::string out(s.substr(pos + 1, end - pos - 1));
    pos = end + 1;
    return out;
  }
  bool parseBool() {
    if (s.substr(pos, 4) == "True") {
      pos += 4;
      return true;
    }
    if (s.substr(pos, 5) == "False") {
      pos += 5;
      return false;
    }
    bad("fortran_order must be True or False");
  }
  std::vector<int64_t> parseTuple() {
    expect('(', "'(' to start the shape tuple");
    std::vector<int64_t> dims;
    while (true) {
      skipSpace();
      if (peek() == ')') {
        ++pos;
        return dims;
      }
      if (peek() == '-')
        bad("negative dimension in shape");
      if (peek() < '0' || peek() > '9')
        bad("shape must be a tuple of non-negative integers");
      int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, peek() - '0', &v))
          bad("dimension too large for int64");
        ++pos;
      }
      if (peek() == 'L') // Python 2 long literal
        ++pos;
      dims.push_back(v);
      if (dims.size() > 64)
        bad("more than 64 dimensions");
      skipSpace();
      if (peek() == ',') {
        ++pos;
        continue;
      }
      skipSpace();
      expect(')', "',' or ')' in the shape tuple");
      return dims;
    }
  }

  const std::string &path;
  std::string_view s;
  size_t pos = 0;
};

DType parseDescr(const std::string &path, const std::string &descr) {
  auto unsupported = [&](const std::string &why) -> DType {
    io::fail(path, "unsupported dtype '" + descr + "'" + (why.empty() ? "" : " (" + why + ")") +
                       "; supported: f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1");
  };
  if (descr.size() < 3)
    return unsupported("");
  char order = descr[0];
  DType t;
  t.kind = descr[1];
  std::string sizeText = descr.substr(2);
  if (sizeText != "1" && sizeText != "2" && sizeText != "4" && sizeText != "8")
    return unsupported("");
  t.size = sizeText[0] - '0';
  if (order != '<' && order != '>' && order != '|' && order != '=')
    return unsupported("unknown byte order");
  if (order == '|' && t.size != 1)
    return unsupported("byte order '|' on a multi-byte type");
  t.big = order == '>' && t.size > 1;
  bool ok = (t.kind == 'f' && (t.size == 2 || t.size == 4 || t.size == 8)) ||
            ((t.kind == 'i' || t.kind == 'u')) || (t.kind == 'b' && t.size == 1);
  if (!ok)
    return unsupported("");
  return t;
}

float halfToFloat(uint16_t h) {
  uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  float v;
  if (exp == 0)
    v = std::ldexp(static_cast<float>(mant), -24);
  else if (exp == 31)
    v = mant ? std::nanf("") : INFINITY;
  else
    v = std::ldexp(static_cast<float>(mant | 0x400), static_cast<int>(exp) - 25);
  return sign ? -v : v;
}

/// Element `i` of `data` as float32.
template <typename T> T loadRaw(const uint8_t *p, bool big) {
  uint8_t b[sizeof(T)];
  std::memcpy(b, p, sizeof(T));
  if (big != (std::endian::native == std::endian::big))
    for (size_t i = 0; i < sizeof(T) / 2; ++i)
      std::swap(b[i], b[sizeof(T) - 1 - i]);
  T v;
  std::memcpy(&v, b, sizeof(T));
  return v;
}

void convert(const DType &t, const uint8_t *src, float *dst, size_t n) {
  for (size_t i = 0; i < n; ++i, src += t.size) {
    float v = 0;
    switch (t.kind) {
    case 'f':
      v = t.size == 2   ? halfToFloat(loadRaw<uint16_t>(src, t.big))
          : t.size == 4 ? loadRaw<float>(src, t.big)
                        : static_cast<float>(loadRaw<double>(src, t.big));
      break;
    case 'i':
      v = t.size == 1   ? static_cast<float>(static_cast<int8_t>(*src))
          : t.size == 2 ? static_cast<float>(loadRaw<int16_t>(src, t.big))
          : t.size == 4 ? static_cast<float>(loadRaw<int32_t>(src, t.big))
                        : static_cast<float>(loadRaw<int64_t>(src, t.big));
      break;
    case 'u':
      v = t.size == 1   ? static_cast<float>(*src)
          : t.size == 2 ? static_cast<float>(loadRaw<uint16_t>(src, t.big))
          : t.size == 4 ? static_cast<float>(loadRaw<uint32_t>(src, t.big))
                        : static_cast<float>(loadRaw<uint64_t>(src, t.big));
      break;
    case 'b':
      v = *src ? 1.0f : 0.0f;
      break;
    }
    dst[i] = v;
  }
}

} // namespace

Array loadNpy(const std::string &path) {
  std::vector<uint8_t> bytes = io::readFileBytes(path);
  bool magicPrefix =
      std::equal(bytes.begin(), bytes.begin() + std::min(bytes.size(), kMagicLen), kMagic,
                 [](uint8_t b, char c) { return b == static_cast<uint8_t>(c); });
  if (!magicPrefix)
    io::fail(path, "not a .npy file: bad magic string (expected \\x93NUMPY)");
  if (bytes.size() < kMagicLen + 2)
    io::fail(path, "truncated .npy file: " + std::to_string(bytes.size()) +
                       " bytes, shorter than the magic string and version");
  uint8_t major = bytes[6], minor = bytes[7];
  size_t lenBytes;
  if (major == 1)
    lenBytes = 2;
  else if (major == 2 || major == 3)
    lenBytes = 4;
  else
    io::fail(path, "unsupported .npy format version " + std::to_string(major) + "." +
                       std::to_string(minor) + " (expected 1.0, 2.0 or 3.0)");
  size_t prefix = kMagicLen + 2 + lenBytes;
  if (bytes.size() < prefix)
    io::fail(path, "truncated .npy file: ends inside the header length field");
  uint64_t headerLen = 0;
  for (size_t i = 0; i < lenBytes; ++i)
    headerLen |= static_cast<uint64_t>(bytes[kMagicLen + 2 + i]) << (8 * i);
  if (headerLen > bytes.size() - prefix)
    io::fail(path, "truncated .npy file: header length " + std::to_string(headerLen) +
                       " runs past the end of the file (" + std::to_string(bytes.size()) +
                       " bytes)");
  std::string_view text(reinterpret_cast<const char *>(bytes.data() + prefix), headerLen);
  Header h = HeaderParser(path, text).parse();
  DType t = parseDescr(path, h.descr);
  if (h.fortran)
    io::fail(path, "Fortran-order (column-major) arrays are not supported; save with C order "
                   "(np.ascontiguousarray)");
  std::optional<int64_t> count = io::checkedProduct(h.shape);
  int64_t need;
  if (!count || __builtin_mul_overflow(*count, static_cast<int64_t>(t.size), &need))
    io::fail(path, "shape " + io::tupleString(h.shape) + " has too many elements (overflow)");
  uint64_t have = bytes.size() - prefix - headerLen;
  if (static_cast<uint64_t>(need) > have)
    io::fail(path, "truncated .npy data: shape " + io::tupleString(h.shape) + " of '" + h.descr +
                       "' needs " + std::to_string(need) + " bytes, the file has " +
                       std::to_string(have));
  if (static_cast<uint64_t>(need) < have)
    io::fail(path, "size mismatch: shape " + io::tupleString(h.shape) + " of '" + h.descr +
                       "' needs " + std::to_string(need) + " bytes, the file has " +
                       std::to_string(have) + " (" + std::to_string(have - need) +
                       " trailing bytes)");
  Array out;
  out.shape = h.shape;
  out.data.resize(static_cast<size_t>(*count));
  convert(t, bytes.data() + prefix + headerLen, out.data.data(), out.data.size());
  return out;
}

void saveNpy(const std::string &path, const Array &array) {
  std::optional<int64_t> count = io::checkedProduct(array.shape);
  if (!count || *count != static_cast<int64_t>(array.data.size()))
    io::fail(path, "cannot save: " + std::to_string(array.data.size()) +
                       " values do not fill shape " + io::tupleString(array.shape));
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " +
                       io::tupleString(array.shape) + ", }";
  // Pad with spaces and end with '\n' so the data starts on a 64-byte boundary, as NumPy does.
  size_t total = kMagicLen + 4 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  if (header.size() > 0xffff)
    io::fail(path, "cannot save: header too long for .npy version 1.0");

  std::string tmp = path + ".tmp";
  {
    std::unique_ptr<FILE, int (*)(FILE *)> f(std::fopen(tmp.c_str(), "wb"), &std::fclose);
    if (!f)
      io::fail(tmp, std::string("cannot create: ") + std::strerror(errno));
    std::string pre(kMagic, kMagicLen);
    pre.push_back('\x01');
    pre.push_back('\x00');
    pre.push_back(static_cast<char>(header.size() & 0xff));
    pre.push_back(static_cast<char>(header.size() >> 8));
    pre += header;
    bool ok = std::fwrite(pre.data(), 1, pre.size(), f.get()) == pre.size();
    static_assert(std::endian::native == std::endian::little, "saveNpy writes native floats");
    if (ok && !array.data.empty())
      ok = std::fwrite(array.data.data(), sizeof(float), array.data.size(), f.get()) ==
           array.data.size();
    int closeRc = std::fclose(f.release());
    if (!ok || closeRc != 0) {
      int err = errno;
      std::remove(tmp.c_str());
      io::fail(tmp, std::string("write failed: ") + std::strerror(err));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    io::fail(path, "cannot rename " + tmp + " into place: " + ec.message());
  }
}

} // namespace kiln
