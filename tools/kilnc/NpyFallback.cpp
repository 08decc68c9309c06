//===- NpyFallback.cpp - a minimal .npy reader/writer for kilnc until KilnRuntimeIO lands -===//
#include "kiln/Npy.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <regex>
#include <stdexcept>

namespace kiln {

namespace {
[[noreturn]] void fail(const std::string &path, const std::string &what) {
  throw std::runtime_error("kiln: " + path + ": " + what);
}

template <typename T> void convert(const char *src, int64_t n, float *dst) {
  for (int64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    dst[i] = static_cast<float>(v);
  }
}
} // namespace

Array loadNpy(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(path, "cannot open");
  in.seekg(0, std::ios::end);
  int64_t fileSize = in.tellg();
  in.seekg(0);
  char magic[10];
  if (!in.read(magic, 10) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    fail(path, "not a .npy file (bad magic string)");
  int major = static_cast<unsigned char>(magic[6]);
  uint32_t headerLen = static_cast<unsigned char>(magic[8]) |
                       (static_cast<unsigned char>(magic[9]) << 8);
  int64_t prefix = 10;
  if (major >= 2) {
    char more[2];
    if (!in.read(more, 2))
      fail(path, "truncated header");
    headerLen |= (uint32_t(static_cast<unsigned char>(more[0])) << 16) |
                 (uint32_t(static_cast<unsigned char>(more[1])) << 24);
    prefix = 12;
  }
  if (int64_t(headerLen) > fileSize - prefix || headerLen > (1u << 20))
    fail(path, "header length " + std::to_string(headerLen) + " exceeds the file");
  std::string header(headerLen, '\0');
  in.read(header.data(), headerLen);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex(R"('descr':\s*'([<>|=])([fiub])(\d+)')")))
    fail(path, "malformed header (no descr)");
  char endian = m[1].str()[0], kind = m[2].str()[0];
  int size = std::stoi(m[3].str());
  if (endian == '>' && size > 1)
    fail(path, "big-endian data is not supported by this reader");
  if (std::regex_search(header, std::regex(R"('fortran_order':\s*True)")))
    fail(path, "Fortran-order arrays are not supported; save with np.ascontiguousarray");
  if (!std::regex_search(header, m, std::regex(R"('shape':\s*\(([^)]*)\))")))
    fail(path, "malformed header (no shape)");
  std::vector<int64_t> shape;
  std::string dims = m[1].str();
  int64_t count = 1;
  static const std::regex number(R"(\d+)");
  for (std::sregex_iterator it(dims.begin(), dims.end(), number), end; it != end; ++it) {
    int64_t d = std::stoll(it->str());
    if (d != 0 && count > (int64_t(1) << 40) / d)
      fail(path, "shape overflows");
    count *= d;
    shape.push_back(d);
  }
  int64_t dataBytes = fileSize - prefix - headerLen;
  if (dataBytes != count * size)
    fail(path, "the header declares " + std::to_string(count * size) + " bytes of data, the " +
                   "file holds " + std::to_string(dataBytes));
  std::vector<char> raw(static_cast<size_t>(dataBytes));
  in.read(raw.data(), dataBytes);
  Array out(shape);
  float *dst = out.ptr();
  const char *src = raw.data();
  if (kind == 'f' && size == 4)
    convert<float>(src, count, dst);
  else if (kind == 'f' && size == 8)
    convert<double>(src, count, dst);
  else if (kind == 'i' && size == 1)
    convert<int8_t>(src, count, dst);
  else if (kind == 'i' && size == 2)
    convert<int16_t>(src, count, dst);
  else if (kind == 'i' && size == 4)
    convert<int32_t>(src, count, dst);
  else if (kind == 'i' && size == 8)
    convert<int64_t>(src, count, dst);
  else if ((kind == 'u' || kind == 'b') && size == 1)
    convert<uint8_t>(src, count, dst);
  else if (kind == 'u' && size == 2)
    convert<uint16_t>(src, count, dst);
  else if (kind == 'u' && size == 4)
    convert<uint32_t>(src, count, dst);
  else if (kind == 'u' && size == 8)
    convert<uint64_t>(src, count, dst);
  else
    fail(path, "unsupported dtype '" + std::string(1, kind) + std::to_string(size) + "'");
  return out;
}

void saveNpy(const std::string &path, const Array &array) {
  if (array.size() != Array::numElements(array.shape))
    fail(path, "the data do not fill shape " + Array::shapeString(array.shape));
  std::string dims;
  for (size_t i = 0; i < array.shape.size(); ++i)
    dims += std::to_string(array.shape[i]) + (array.shape.size() == 1 || i + 1 < array.shape.size() ? "," : "");
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out)
      fail(path, "cannot create '" + tmp + "'");
    uint16_t len = static_cast<uint16_t>(header.size());
    out.write("\x93NUMPY\x01\x00", 8);
    out.put(char(len & 0xff)).put(char(len >> 8));
    out << header;
    out.write(reinterpret_cast<const char *>(array.ptr()), array.size() * sizeof(float));
    if (!out.flush())
      fail(path, "cannot write '" + tmp + "'");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    fail(path, "cannot rename '" + tmp + "' over it");
}

} // namespace kiln
