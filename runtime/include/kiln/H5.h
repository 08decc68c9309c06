//===- H5.h - the few HDF5 operations Keras files need, checked, over libhdf5's C API -===//
//
// Every failure is a kiln::Error naming the file and the object (layer, dataset, attribute);
// HDF5's own error printing is off. Links other than hard links (soft, external) and datasets
// whose data live elsewhere (virtual, external storage) are refused: a model file must not make
// kiln read other files.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_FRONTEND_H5_H
#define KILN_FRONTEND_H5_H

#include "kiln/Array.h"
#include "kiln/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln::detail::h5 {

/// A read-only HDF5 file (on disk, or an in-memory image such as a .keras member).
class Reader {
public:
  /// `display` names the file in errors.
  explicit Reader(const std::string &path);
  Reader(const std::vector<char> &image, const std::string &display);
  ~Reader();
  Reader(const Reader &) = delete;
  Reader &operator=(const Reader &) = delete;

  const std::string &display() const { return display_; }
  /// Whether the object at `path` ("" is the root) exists; refuses non-hard links on the way.
  bool exists(const std::string &path, const std::string &layer = "") const;
  bool hasAttr(const std::string &object, const std::string &name) const;
  /// A string attribute (fixed or variable length, scalar or a one-element array).
  std::string stringAttr(const std::string &object, const std::string &name,
                         const std::string &layer = "") const;
  /// A list-of-strings attribute, joined from Keras' chunks (`name0`, `name1`, ...) when split;
  /// nullopt when absent. An empty numeric array reads as an empty list.
  std::optional<std::vector<std::string>> stringListAttr(const std::string &object,
                                                         const std::string &name,
                                                         const std::string &layer = "") const;
  /// The names of the members of group `path`, in HDF5's (alphabetical) order.
  std::vector<std::string> members(const std::string &path, const std::string &layer = "") const;
  /// A float dataset as float32, after checking its dtype, shape and storage.
  Array dataset(const std::string &path, const std::string &layer = "") const;
  /// A scalar (or one-element) integer or float dataset, as a double: optimizer iterations.
  double scalar(const std::string &path, const std::string &layer = "") const;

  Error error(const std::string &layer, const std::string &message) const {
    return Error(layer, display_ + ": " + message);
  }

private:
  int64_t file_ = -1;
  std::string display_;
};

/// A new HDF5 file written to a temporary name in the target's directory and renamed over the
/// target by commit(); destroyed without commit, it removes the temporary file.
class Writer {
public:
  explicit Writer(const std::string &path);
  /// An HDF5 image built in memory (a .keras archive's model.weights.h5), never on disk;
  /// `display` names it in errors, image() returns its bytes.
  struct InMemory {};
  Writer(InMemory, const std::string &display);
  ~Writer();
  Writer(const Writer &) = delete;
  Writer &operator=(const Writer &) = delete;

  void group(const std::string &path);
  /// A scalar fixed-length string attribute (what h5py writes for Python bytes).
  void stringAttr(const std::string &object, const std::string &name, const std::string &value);
  /// A 1-D fixed-length string array attribute (numpy 'S' arrays, as Keras writes name lists);
  /// an empty list is written as an empty float64 array, as h5py writes `[]`.
  void stringListAttr(const std::string &object, const std::string &name,
                      const std::vector<std::string> &values);
  /// A float32 dataset; intermediate groups in `path` are created.
  void dataset(const std::string &path, const Array &value);
  /// Scalar int64 and float64 datasets (an optimizer's iteration count and cached products).
  void scalar(const std::string &path, int64_t value);
  void scalar(const std::string &path, double value);
  /// Scalar float32 dataset (Keras 3's learning_rate variable).
  void scalarF32(const std::string &path, float value);
  /// Closes, flushes to disk and renames the temporary file over the target.
  void commit();
  /// The bytes of an in-memory file (InMemory only); the writer is finished afterwards.
  std::vector<char> image();

private:
  int64_t file_ = -1;
  std::string path_, tmp_;
  bool committed_ = false;
};

} // namespace kiln::detail::h5

#endif // KILN_FRONTEND_H5_H
