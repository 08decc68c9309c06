//===- Npy.h - kilnc's stand-in for runtime's kiln/Npy.h until KilnRuntimeIO lands -===//
//
// The same declarations as runtime/include/kiln/Npy.h (branch golden); tools/kilnc builds this
// copy only when the KilnRuntimeIO target does not exist.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_NPY_H
#define KILN_NPY_H

#include "kiln/Array.h"

#include <string>

namespace kiln {

/// Reads a C-order .npy (f4, f8, i1..i8, u1..u8, little-endian) as float32; throws
/// std::runtime_error("kiln: <path>: <problem>").
Array loadNpy(const std::string &path);

/// Writes `array` as a little-endian float32 .npy, through `path + ".tmp"` renamed over `path`.
void saveNpy(const std::string &path, const Array &array);

} // namespace kiln

#endif // KILN_NPY_H
