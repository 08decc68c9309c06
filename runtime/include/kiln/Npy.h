//===- Npy.h - read and write NumPy .npy files as kiln::Array -===//
#ifndef KILN_NPY_H
#define KILN_NPY_H

#include "kiln/Array.h"

#include <string>

namespace kiln {

/// Reads a .npy file (format versions 1.0, 2.0 and 3.0) into a float32 array.
///
/// Accepted dtypes: `f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1`, little- or big-endian; every value is
/// converted to float32 (integers wider than 24 bits may round). Only C order is accepted. A rank-0
/// array gives `shape == {}` and one value.
///
/// Throws std::runtime_error("kiln: <path>: <problem>") for a file that cannot be read, a bad
/// magic string or version, a malformed header, an unsupported dtype, Fortran order, a shape whose
/// element count overflows, or a data section whose size does not match the header (truncated or
/// with trailing bytes). Nothing is allocated from header values before they are checked against
/// the file's real size.
Array loadNpy(const std::string &path);

/// Writes `array` as a little-endian float32 (`<f4`) .npy file, format version 1.0, C order.
/// The file is written to `path + ".tmp"` and renamed over `path`, so readers never see a partial
/// file. Throws std::runtime_error naming the file on any IO failure, or when `array.data` does not
/// fill `array.shape`.
void saveNpy(const std::string &path, const Array &array);

} // namespace kiln

#endif // KILN_NPY_H
