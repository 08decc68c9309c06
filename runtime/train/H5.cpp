//===- H5.cpp - checked HDF5 reading and atomic HDF5 writing for Keras files -===//
#include "kiln/H5.h"

#include <hdf5.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

namespace kiln::detail::h5 {

namespace {

constexpr int64_t kMaxElements = int64_t(1) << 32;

/// Closes an HDF5 id on scope exit.
struct Id {
  hid_t id;
  herr_t (*close)(hid_t);
  Id(hid_t id, herr_t (*close)(hid_t)) : id(id), close(close) {}
  ~Id() {
    if (id >= 0)
      close(id);
  }
  Id(const Id &) = delete;
  Id &operator=(const Id &) = delete;
  operator hid_t() const { return id; }
  bool ok() const { return id >= 0; }
};

void silenceHdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

std::string objectPath(const std::string &p) { return p.empty() ? "." : p; }

std::string pathName(const std::string &p) { return "'" + (p.empty() ? "/" : p) + "'"; }

std::string typeDescription(hid_t type) {
  size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
  case H5T_INTEGER:
    return std::string(H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") +
           std::to_string(8 * size);
  case H5T_FLOAT:
    return "float" + std::to_string(8 * size);
  case H5T_STRING:
    return "string";
  case H5T_COMPOUND:
    return "compound";
  case H5T_ENUM:
    return "enum";
  default:
    return "an HDF5 type of class " + std::to_string(int(H5Tget_class(type)));
  }
}

/// Strings from a string-typed attribute: every element, NUL padding removed.
std::vector<std::string> readStrings(hid_t attr, hid_t type, size_t n) {
  std::vector<std::string> out;
  if (H5Tis_variable_str(type) > 0) {
    std::vector<char *> ptrs(n, nullptr);
    Id mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem, H5T_VARIABLE);
    H5Tset_cset(mem, H5Tget_cset(type));
    if (H5Aread(attr, mem, ptrs.data()) < 0)
      throw std::runtime_error("unreadable");
    for (char *p : ptrs) {
      out.emplace_back(p ? p : "");
      if (p)
        H5free_memory(p);
    }
    return out;
  }
  size_t size = H5Tget_size(type);
  if (size == 0 || n > (size_t(1) << 28) / size)
    throw std::runtime_error("too large");
  std::vector<char> buf(size * n);
  if (H5Aread(attr, type, buf.data()) < 0)
    throw std::runtime_error("unreadable");
  for (size_t i = 0; i < n; ++i) {
    std::string s(buf.data() + i * size, size);
    s.erase(std::find(s.begin(), s.end(), '\0'), s.end());
    out.push_back(s);
  }
  return out;
}

} // namespace

//===----------------------------------------------------------------------===//
// Reader.
//===----------------------------------------------------------------------===//

Reader::Reader(const std::string &path) : display_(path) {
  silenceHdf5();
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    throw Error("", path + ": cannot open: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    throw Error("", path + ": not a regular file");
  if (H5Fis_hdf5(path.c_str()) <= 0)
    throw Error("", path + ": not an HDF5 file (no HDF5 signature)");
  // The sec2 driver reads only this file; external links are refused separately.
  file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file_ < 0)
    throw Error("", path + ": cannot open as HDF5 (truncated or corrupt file)");
}

Reader::Reader(const std::vector<char> &image, const std::string &display) : display_(display) {
  silenceHdf5();
  if (image.size() < 8 || std::memcmp(image.data(), "\x89HDF\r\n\x1a\n", 8) != 0)
    throw Error("", display + ": not an HDF5 file (no HDF5 signature)");
  Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fapl_core(fapl, 1 << 20, 0);
  H5Pset_file_image(fapl, const_cast<char *>(image.data()), image.size());
  file_ = H5Fopen(display.c_str(), H5F_ACC_RDONLY, fapl);
  if (file_ < 0)
    throw Error("", display + ": cannot open as HDF5 (truncated or corrupt file)");
}

Reader::~Reader() {
  if (file_ >= 0)
    H5Fclose(file_);
}

bool Reader::exists(const std::string &path, const std::string &layer) const {
  if (path.empty())
    return true;
  size_t pos = 0;
  while (true) {
    size_t next = path.find('/', pos);
    std::string prefix = path.substr(0, next);
    if (H5Lexists(file_, prefix.c_str(), H5P_DEFAULT) <= 0)
      return false;
    H5L_info_t info;
    if (H5Lget_info(file_, prefix.c_str(), &info, H5P_DEFAULT) < 0)
      throw error(layer, "cannot read the link " + pathName(prefix));
    if (info.type != H5L_TYPE_HARD)
      throw error(layer, pathName(prefix) + " is " +
                             (info.type == H5L_TYPE_SOFT ? "a soft" : "an external") +
                             " link; kiln refuses links in model files (a model file must "
                             "not make kiln read other objects or files)");
    if (next == std::string::npos)
      return true;
    pos = next + 1;
  }
}

bool Reader::hasAttr(const std::string &object, const std::string &name) const {
  return H5Aexists_by_name(file_, objectPath(object).c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

std::string Reader::stringAttr(const std::string &object, const std::string &name,
                               const std::string &layer) const {
  std::string where = "attribute '" + name + "' of " + pathName(object);
  if (!hasAttr(object, name))
    throw error(layer, "missing " + where);
  Id attr(H5Aopen_by_name(file_, objectPath(object).c_str(), name.c_str(), H5P_DEFAULT,
                          H5P_DEFAULT),
          H5Aclose);
  if (!attr.ok())
    throw error(layer, "cannot open " + where);
  Id type(H5Aget_type(attr), H5Tclose);
  Id space(H5Aget_space(attr), H5Sclose);
  if (H5Tget_class(type) != H5T_STRING)
    throw error(layer, where + " is " + typeDescription(type) + ", expected a string");
  hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n != 1)
    throw error(layer, where + " holds " + std::to_string(n) + " strings, expected one");
  try {
    return readStrings(attr, type, 1)[0];
  } catch (const std::runtime_error &) {
    throw error(layer, "cannot read " + where + " (truncated or corrupt file)");
  }
}

std::optional<std::vector<std::string>>
Reader::stringListAttr(const std::string &object, const std::string &name,
                       const std::string &layer) const {
  std::vector<std::string> names;
  if (hasAttr(object, name)) {
    names.push_back(name);
  } else {
    for (int i = 0; hasAttr(object, name + std::to_string(i)); ++i)
      names.push_back(name + std::to_string(i));
    if (names.empty())
      return std::nullopt;
  }
  std::vector<std::string> out;
  for (const std::string &n : names) {
    std::string where = "attribute '" + n + "' of " + pathName(object);
    Id attr(H5Aopen_by_name(file_, objectPath(object).c_str(), n.c_str(), H5P_DEFAULT,
                            H5P_DEFAULT),
            H5Aclose);
    if (!attr.ok())
      throw error(layer, "cannot open " + where);
    Id type(H5Aget_type(attr), H5Tclose);
    Id space(H5Aget_space(attr), H5Sclose);
    hssize_t count = H5Sget_simple_extent_npoints(space);
    if (count < 0)
      throw error(layer, "cannot read the size of " + where);
    if (H5Tget_class(type) != H5T_STRING) {
      if (count == 0) // h5py writes [] as an empty float64 array
        continue;
      throw error(layer, where + " is " + typeDescription(type) + ", expected strings");
    }
    try {
      for (std::string &s : readStrings(attr, type, size_t(count)))
        out.push_back(std::move(s));
    } catch (const std::runtime_error &) {
      throw error(layer, "cannot read " + where + " (truncated or corrupt file)");
    }
  }
  return out;
}

std::vector<std::string> Reader::members(const std::string &path, const std::string &layer) const {
  if (!exists(path, layer))
    throw error(layer, "missing group " + pathName(path));
  Id group(H5Gopen2(file_, objectPath(path).c_str(), H5P_DEFAULT), H5Gclose);
  if (!group.ok())
    throw error(layer, pathName(path) + " is not a group");
  H5G_info_t info;
  if (H5Gget_info(group, &info) < 0)
    throw error(layer, "cannot read group " + pathName(path));
  std::vector<std::string> out;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t len = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0,
                                     H5P_DEFAULT);
    if (len < 0)
      throw error(layer, "cannot read the members of group " + pathName(path));
    std::string name(size_t(len) + 1, '\0');
    H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                       H5P_DEFAULT);
    name.resize(size_t(len));
    out.push_back(name);
  }
  return out;
}

Array Reader::dataset(const std::string &path, const std::string &layer) const {
  std::string where = "dataset " + pathName(path);
  if (!exists(path, layer))
    throw error(layer, "missing " + where);
  H5O_info_t oinfo;
  if (H5Oget_info_by_name(file_, path.c_str(), &oinfo, H5P_DEFAULT) < 0 ||
      oinfo.type != H5O_TYPE_DATASET)
    throw error(layer, pathName(path) + " is not a dataset");
  Id ds(H5Dopen2(file_, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.ok())
    throw error(layer, "cannot open " + where);
  Id dcpl(H5Dget_create_plist(ds), H5Pclose);
  H5D_layout_t layout = H5Pget_layout(dcpl);
  if (layout == H5D_VIRTUAL)
    throw error(layer, where + " is a virtual dataset; kiln refuses data stored in other files");
  if (H5Pget_external_count(dcpl) > 0)
    throw error(layer, where + " keeps its data in external files; kiln refuses them");
  Id type(H5Dget_type(ds), H5Tclose);
  if (H5Tget_class(type) != H5T_FLOAT || (H5Tget_size(type) != 4 && H5Tget_size(type) != 8))
    throw error(layer, where + " has dtype " + typeDescription(type) +
                           "; weights must be float32 (or float64)");
  Id space(H5Dget_space(ds), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0 || rank > 16)
    throw error(layer, where + " has an unreadable or unsupported rank");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  std::vector<int64_t> shape;
  int64_t count = 1;
  for (hsize_t d : dims) {
    if (d > hsize_t(kMaxElements) || (d && count > kMaxElements / int64_t(d)))
      throw error(layer, where + " declares a shape whose element count overflows kiln's "
                                 "limit (2^32 elements)");
    count *= int64_t(d);
    shape.push_back(int64_t(d));
  }
  // Check the declared size against what the file holds before allocating anything.
  hsize_t needed = hsize_t(count) * H5Tget_size(type);
  if (layout == H5D_CONTIGUOUS && count > 0) {
    hsize_t stored = H5Dget_storage_size(ds);
    haddr_t offset = H5Dget_offset(ds);
    hsize_t fileSize = 0;
    H5Fget_filesize(file_, &fileSize);
    if (stored < needed || offset == HADDR_UNDEF || offset + needed > fileSize)
      throw error(layer, where + " declares shape " + Array::shapeString(shape) + " (" +
                             std::to_string(needed) + " bytes) but the file holds " +
                             (offset == HADDR_UNDEF || offset > fileSize
                                  ? std::string("none of it")
                                  : std::to_string(fileSize - offset) + " bytes from its start") +
                             " (truncated or corrupt file)");
  }
  if (layout == H5D_COMPACT && count > 0 && H5Dget_storage_size(ds) < needed)
    // libhdf5 (1.10) reads a compact dataset by copying `needed` bytes out of the layout
    // message's buffer without checking its size: a buffer shorter than the shape (or none)
    // crashes H5Dread (found by kiln-fuzz-h5).
    throw error(layer, where + " declares shape " + Array::shapeString(shape) + " (" +
                           std::to_string(needed) + " bytes) but its compact storage holds " +
                           std::to_string(H5Dget_storage_size(ds)) + " bytes (corrupt file)");
  if (layout != H5D_CONTIGUOUS && count > 0) {
    // Chunked (or compact) data: the chunks the file holds, even compressed, bound what it can
    // really contain (deflate inflates at most 1032:1); unwritten chunks would read as fill
    // value, sized by the shape alone.
    hsize_t stored = H5Dget_storage_size(ds);
    if (needed > stored * 1032 + 4096)
      throw error(layer, where + " declares shape " + Array::shapeString(shape) + " (" +
                             std::to_string(needed) + " bytes) but the file holds " +
                             std::to_string(stored) +
                             " bytes of its chunks (truncated or corrupt file)");
  }
  Array out;
  try {
    out = Array(shape);
  } catch (const std::runtime_error &e) {
    throw error(layer, "cannot load " + where + ": " + e.what());
  }
  if (count > 0 && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.ptr()) < 0)
    throw error(layer, "cannot read " + where + " (truncated or corrupt file)");
  for (int64_t i = 0; i < count; ++i)
    if (!std::isfinite(out.data[size_t(i)]))
      throw error(layer, where + " holds " +
                             (std::isnan(out.data[size_t(i)]) ? std::string("NaN")
                              : out.data[size_t(i)] > 0      ? std::string("inf")
                                                             : std::string("-inf")) +
                             " at flat index " + std::to_string(i) +
                             "; kiln refuses non-finite weights");
  return out;
}

double Reader::scalar(const std::string &path, const std::string &layer) const {
  std::string where = "dataset " + pathName(path);
  if (!exists(path, layer))
    throw error(layer, "missing " + where);
  H5O_info_t oinfo;
  if (H5Oget_info_by_name(file_, path.c_str(), &oinfo, H5P_DEFAULT) < 0 ||
      oinfo.type != H5O_TYPE_DATASET)
    throw error(layer, pathName(path) + " is not a dataset");
  Id ds(H5Dopen2(file_, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.ok())
    throw error(layer, "cannot open " + where);
  Id dcpl(H5Dget_create_plist(ds), H5Pclose);
  if (H5Pget_layout(dcpl) == H5D_VIRTUAL || H5Pget_external_count(dcpl) > 0)
    throw error(layer, where + " keeps its data in other files; kiln refuses them");
  Id type(H5Dget_type(ds), H5Tclose);
  H5T_class_t cls = H5Tget_class(type);
  if ((cls != H5T_FLOAT && cls != H5T_INTEGER) || H5Tget_size(type) > 8)
    throw error(layer, where + " has dtype " + typeDescription(type) + "; expected a number");
  Id space(H5Dget_space(ds), H5Sclose);
  if (H5Sget_simple_extent_npoints(space) != 1)
    throw error(layer, where + " is not a scalar");
  double v = 0;
  if (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) < 0)
    throw error(layer, "cannot read " + where + " (truncated or corrupt file)");
  return v;
}

//===----------------------------------------------------------------------===//
// Writer.
//===----------------------------------------------------------------------===//

Writer::Writer(const std::string &path) : path_(path) {
  silenceHdf5();
  tmp_ = path + ".tmp." + std::to_string(::getpid());
  // HDF5 1.8's object headers (version 2) move an attribute past 64 KB (the model_config of a
  // ResNet50) to dense storage; the default, the earliest format, refuses it. h5py and every
  // HDF5 since 1.8 (2008) read such files.
  Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!fapl.ok() || H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0)
    throw Error("", path + ": cannot set up HDF5 file access");
  file_ = H5Fcreate(tmp_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (file_ < 0) {
    int err = errno;
    std::remove(tmp_.c_str()); // H5Fcreate may fail after creating it (a full disk)
    errno = err;
    throw Error("", path + ": cannot create '" + tmp_ + "': " + std::strerror(errno));
  }
}

Writer::Writer(InMemory, const std::string &display) : path_(display) {
  silenceHdf5();
  static std::atomic<uint64_t> counter{0};
  Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  // The core driver without a backing store keeps the whole file in memory; the name only
  // has to be unique among the open files.
  if (!fapl.ok() || H5Pset_fapl_core(fapl, 1 << 16, 0) < 0)
    throw Error("", display + ": cannot set up an in-memory HDF5 file");
  std::string name = "kiln-memory-" + std::to_string(::getpid()) + "-" +
                     std::to_string(counter++) + ".h5";
  file_ = H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (file_ < 0)
    throw Error("", display + ": cannot create an in-memory HDF5 file");
}

Writer::~Writer() {
  if (file_ >= 0)
    H5Fclose(file_);
  if (!committed_ && !tmp_.empty())
    std::remove(tmp_.c_str());
}

std::vector<char> Writer::image() {
  if (!tmp_.empty() || file_ < 0)
    throw Error("", path_ + ": internal: image() of a file that is not in memory");
  if (H5Fflush(file_, H5F_SCOPE_GLOBAL) < 0)
    throw Error("", path_ + ": cannot flush the in-memory HDF5 file");
  ssize_t size = H5Fget_file_image(file_, nullptr, 0);
  if (size <= 0)
    throw Error("", path_ + ": cannot read back the in-memory HDF5 file");
  std::vector<char> bytes(static_cast<size_t>(size));
  if (H5Fget_file_image(file_, bytes.data(), bytes.size()) != size)
    throw Error("", path_ + ": cannot read back the in-memory HDF5 file");
  H5Fclose(file_);
  file_ = -1;
  committed_ = true;
  return bytes;
}

void Writer::group(const std::string &path) {
  Id lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl, 1);
  Id g(H5Gcreate2(file_, path.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  if (!g.ok())
    throw Error("", path_ + ": cannot create group " + pathName(path));
}

void Writer::stringAttr(const std::string &object, const std::string &name,
                        const std::string &value) {
  Id type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type, std::max<size_t>(1, value.size()));
  H5Tset_strpad(type, H5T_STR_NULLPAD);
  Id space(H5Screate(H5S_SCALAR), H5Sclose);
  Id attr(H5Acreate_by_name(file_, objectPath(object).c_str(), name.c_str(), type, space,
                            H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
          H5Aclose);
  std::string buf = value.empty() ? std::string(1, '\0') : value;
  if (!attr.ok() || H5Awrite(attr, type, buf.data()) < 0)
    throw Error("", path_ + ": cannot write attribute '" + name + "' of " + pathName(object));
}

void Writer::stringListAttr(const std::string &object, const std::string &name,
                            const std::vector<std::string> &values) {
  hsize_t n = values.size();
  Id space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  if (values.empty()) {
    Id attr(H5Acreate_by_name(file_, objectPath(object).c_str(), name.c_str(),
                              H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            H5Aclose);
    if (!attr.ok())
      throw Error("", path_ + ": cannot write attribute '" + name + "' of " + pathName(object));
    return;
  }
  size_t size = 1;
  for (const std::string &v : values)
    size = std::max(size, v.size());
  std::vector<char> buf(size * values.size(), '\0');
  for (size_t i = 0; i < values.size(); ++i)
    std::memcpy(buf.data() + i * size, values[i].data(), values[i].size());
  Id type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type, size);
  H5Tset_strpad(type, H5T_STR_NULLPAD);
  Id attr(H5Acreate_by_name(file_, objectPath(object).c_str(), name.c_str(), type, space,
                            H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
          H5Aclose);
  if (!attr.ok() || H5Awrite(attr, type, buf.data()) < 0)
    throw Error("", path_ + ": cannot write attribute '" + name + "' of " + pathName(object));
}

void Writer::dataset(const std::string &path, const Array &value) {
  std::vector<hsize_t> dims(value.shape.begin(), value.shape.end());
  Id space(value.shape.empty() ? H5Screate(H5S_SCALAR)
                               : H5Screate_simple(int(dims.size()), dims.data(), nullptr),
           H5Sclose);
  Id lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl, 1);
  Id ds(H5Dcreate2(file_, path.c_str(), H5T_IEEE_F32LE, space, lcpl, H5P_DEFAULT, H5P_DEFAULT),
        H5Dclose);
  if (!ds.ok() ||
      (value.size() > 0 &&
       H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, value.ptr()) < 0))
    throw Error("", path_ + ": cannot write dataset " + pathName(path));
}

namespace {
void writeScalar(hid_t file, const std::string &target, const std::string &path, hid_t fileType,
                 hid_t memType, const void *value) {
  Id space(H5Screate(H5S_SCALAR), H5Sclose);
  Id lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl, 1);
  Id ds(H5Dcreate2(file, path.c_str(), fileType, space, lcpl, H5P_DEFAULT, H5P_DEFAULT),
        H5Dclose);
  if (!ds.ok() || H5Dwrite(ds, memType, H5S_ALL, H5S_ALL, H5P_DEFAULT, value) < 0)
    throw Error("", target + ": cannot write dataset " + pathName(path));
}
} // namespace

void Writer::scalar(const std::string &path, int64_t value) {
  writeScalar(file_, path_, path, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

void Writer::scalar(const std::string &path, double value) {
  writeScalar(file_, path_, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

void Writer::scalarF32(const std::string &path, float value) {
  writeScalar(file_, path_, path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &value);
}

void Writer::commit() {
  if (tmp_.empty())
    throw Error("", path_ + ": internal: commit() of an in-memory HDF5 file");
  bool ok = H5Fflush(file_, H5F_SCOPE_GLOBAL) >= 0;
  ok = H5Fclose(file_) >= 0 && ok;
  file_ = -1;
  if (!ok)
    throw Error("", path_ + ": cannot write '" + tmp_ + "'");
  // fsync the data, rename over the target, fsync the directory: a crash leaves the old file
  // or the new one, never a mix.
  int fd = ::open(tmp_.c_str(), O_RDONLY);
  if (fd < 0 || ::fsync(fd) != 0) {
    if (fd >= 0)
      ::close(fd);
    throw Error("", path_ + ": cannot sync '" + tmp_ + "': " + std::strerror(errno));
  }
  ::close(fd);
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    throw Error("", path_ + ": cannot rename '" + tmp_ + "' over it: " + std::strerror(errno));
  committed_ = true;
  std::string dir = std::filesystem::path(path_).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

} // namespace kiln::detail::h5
