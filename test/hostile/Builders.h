//===- Builders.h - byte-exact writers for hostile .npy, IDX, gzip, zip and HDF5 inputs -===//
#ifndef KILN_TEST_HOSTILE_BUILDERS_H
#define KILN_TEST_HOSTILE_BUILDERS_H

#include <hdf5.h>
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln::test {

/// A .npy file: magic, version `major`.0, the header text verbatim (no padding), then `data`.
inline std::string npyFile(const std::string &header, const std::string &data = "",
                           int major = 1) {
  std::string s = "\x93NUMPY";
  s.push_back(char(major));
  s.push_back('\0');
  uint32_t n = uint32_t(header.size());
  int lenBytes = major == 1 ? 2 : 4;
  for (int i = 0; i < lenBytes; ++i)
    s.push_back(char((n >> (8 * i)) & 0xff));
  return s + header + data;
}

/// A .npy header dictionary.
inline std::string npyHeader(const std::string &descr, const std::string &shape,
                             const std::string &fortran = "False") {
  return "{'descr': " + descr + ", 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
}

/// An IDX file: magic 00 00 type rank, big-endian dims, then `data`.
inline std::string idxFile(uint8_t type, const std::vector<uint32_t> &dims,
                           const std::string &data = "", int rank = -1) {
  std::string s{'\0', '\0', char(type), char(rank < 0 ? dims.size() : size_t(rank))};
  for (uint32_t d : dims)
    for (int i = 3; i >= 0; --i)
      s.push_back(char((d >> (8 * i)) & 0xff));
  return s + data;
}

/// `data` deflated into one gzip member (level 9), fed in pieces so a large input need not be
/// held twice.
inline std::string gzipBytes(const std::string &data, size_t repeat = 1) {
  z_stream zs{};
  if (deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2");
  std::string out;
  char buf[1 << 16];
  for (size_t r = 0; r < repeat; ++r) {
    zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.data()));
    zs.avail_in = uInt(data.size());
    int flush = r + 1 == repeat ? Z_FINISH : Z_NO_FLUSH;
    int rc;
    do {
      zs.next_out = reinterpret_cast<Bytef *>(buf);
      zs.avail_out = sizeof buf;
      rc = deflate(&zs, flush);
      out.append(buf, sizeof buf - zs.avail_out);
    } while (zs.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
  }
  deflateEnd(&zs);
  return out;
}

/// One member of a hand-made zip archive. `declaredSize` overrides the uncompressed size written
/// in the headers (a lying archive); `deflate` stores it compressed.
struct ZipMember {
  std::string name, data;
  bool deflate = false;
  int64_t declaredSize = -1;
  /// Overrides the compressed size in the headers.
  int64_t declaredCompressed = -1;
};

/// A zip archive in the exact layout the format describes (local headers, central directory,
/// end record), so each field can be made to lie.
inline std::string zipFile(const std::vector<ZipMember> &members) {
  auto u16 = [](std::string &s, uint32_t v) {
    s.push_back(char(v & 0xff));
    s.push_back(char((v >> 8) & 0xff));
  };
  auto u32 = [&](std::string &s, uint32_t v) {
    u16(s, v & 0xffff);
    u16(s, v >> 16);
  };
  std::string out, central;
  for (const ZipMember &m : members) {
    std::string body = m.data;
    if (m.deflate) {
      z_stream zs{};
      deflateInit2(&zs, 9, Z_DEFLATED, -MAX_WBITS, 9, Z_DEFAULT_STRATEGY);
      std::string c(deflateBound(&zs, uLong(m.data.size())), '\0');
      zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(m.data.data()));
      zs.avail_in = uInt(m.data.size());
      zs.next_out = reinterpret_cast<Bytef *>(c.data());
      zs.avail_out = uInt(c.size());
      deflate(&zs, Z_FINISH);
      c.resize(c.size() - zs.avail_out);
      deflateEnd(&zs);
      body = c;
    }
    uint32_t crc = uint32_t(crc32(0, reinterpret_cast<const Bytef *>(m.data.data()),
                                  uInt(m.data.size())));
    uint32_t size = m.declaredSize >= 0 ? uint32_t(m.declaredSize) : uint32_t(m.data.size());
    uint32_t offset = uint32_t(out.size());
    auto fields = [&](std::string &s) {
      u16(s, 20);                    // version needed
      u16(s, 0);                     // flags
      u16(s, m.deflate ? 8 : 0);     // method
      u16(s, 0);                     // time
      u16(s, 0x21);                  // date
      u32(s, crc);
      u32(s, m.declaredCompressed >= 0 ? uint32_t(m.declaredCompressed)
                                       : uint32_t(body.size())); // compressed size
      u32(s, size);                  // uncompressed size
      u16(s, uint32_t(m.name.size()));
      u16(s, 0); // extra length
    };
    u32(out, 0x04034b50);
    fields(out);
    out += m.name + body;
    u32(central, 0x02014b50);
    u16(central, 20); // version made by
    fields(central);
    u16(central, 0); // comment length
    u16(central, 0); // disk
    u16(central, 0); // internal attributes
    u32(central, 0); // external attributes
    u32(central, offset);
    central += m.name;
  }
  uint32_t cdOffset = uint32_t(out.size());
  out += central;
  u32(out, 0x06054b50);
  u16(out, 0);
  u16(out, 0);
  u16(out, uint32_t(members.size()));
  u16(out, uint32_t(members.size()));
  u32(out, uint32_t(central.size()));
  u32(out, cdOffset);
  u16(out, 0);
  return out;
}

/// Writes an HDF5 file piece by piece through the C API, including pieces Keras never writes.
class H5File {
public:
  explicit H5File(const std::string &path) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    f_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f_ < 0)
      throw std::runtime_error("H5Fcreate " + path);
  }
  ~H5File() { H5Fclose(f_); }
  H5File(const H5File &) = delete;
  H5File &operator=(const H5File &) = delete;

  void group(const std::string &path) {
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = H5Gcreate2(f_, path.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    if (g < 0)
      throw std::runtime_error("H5Gcreate2 " + path);
    H5Gclose(g);
  }
  /// A scalar fixed-length string attribute (h5py's bytes).
  void stringAttr(const std::string &object, const std::string &name, const std::string &value) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, value.empty() ? 1 : value.size());
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate_by_name(f_, object.c_str(), name.c_str(), t, s, H5P_DEFAULT, H5P_DEFAULT,
                                H5P_DEFAULT);
    std::string v = value.empty() ? std::string(1, '\0') : value;
    H5Awrite(a, t, v.data());
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
  }
  /// A 1-D fixed-length string array attribute (Keras' name lists).
  void stringListAttr(const std::string &object, const std::string &name,
                      const std::vector<std::string> &values) {
    size_t width = 1;
    for (const std::string &v : values)
      width = std::max(width, v.size());
    std::string buf(width * values.size(), '\0');
    for (size_t i = 0; i < values.size(); ++i)
      std::memcpy(buf.data() + i * width, values[i].data(), values[i].size());
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, width);
    hsize_t n = values.size();
    hid_t s = H5Screate_simple(1, &n, nullptr);
    hid_t a = H5Acreate_by_name(f_, object.c_str(), name.c_str(), t, s, H5P_DEFAULT, H5P_DEFAULT,
                                H5P_DEFAULT);
    H5Awrite(a, t, buf.data());
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
  }
  /// A dataset of `fileType` holding `data` (given in `memType`); chunked (and then written only
  /// when `data` is non-null) when `chunk` is non-empty.
  void dataset(const std::string &path, hid_t fileType, hid_t memType,
               const std::vector<hsize_t> &dims, const void *data,
               const std::vector<hsize_t> &chunk = {}) {
    hid_t s = dims.empty() ? H5Screate(H5S_SCALAR)
                           : H5Screate_simple(int(dims.size()), dims.data(), nullptr);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (!chunk.empty())
      H5Pset_chunk(dcpl, int(chunk.size()), chunk.data());
    hid_t d = H5Dcreate2(f_, path.c_str(), fileType, s, lcpl, dcpl, H5P_DEFAULT);
    if (d < 0)
      throw std::runtime_error("H5Dcreate2 " + path);
    if (data)
      H5Dwrite(d, memType, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(s);
  }
  void floats(const std::string &path, const std::vector<hsize_t> &dims,
              const std::vector<float> &values) {
    dataset(path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, dims, values.data());
  }

private:
  hid_t f_ = -1;
};

} // namespace kiln::test

#endif // KILN_TEST_HOSTILE_BUILDERS_H
