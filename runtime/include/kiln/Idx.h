//===- Idx.h - read IDX files (the MNIST format), plain or gzip-compressed -===//
#ifndef KILN_IDX_H
#define KILN_IDX_H

#include "kiln/Array.h"

#include <string>

namespace kiln {

/// Reads an IDX file into a float32 array of the file's shape. Element types: unsigned byte
/// (0x08), signed byte (0x09), short (0x0B), int (0x0C), float (0x0D), double (0x0E), all
/// big-endian. A gzip-compressed file (recognised by its magic bytes, whatever its name, so
/// `train-images-idx3-ubyte.gz` works) is decompressed in memory.
///
/// Throws std::runtime_error("kiln: <path>: <problem>") for a file that cannot be read, corrupt or
/// truncated gzip data, a bad magic number, an unknown element type, a rank of 0, a shape whose
/// element count overflows, or a data section whose size does not match the dimensions.
Array loadIdx(const std::string &path);

/// Reads an IDX image file of shape (N, rows, cols) and returns it as (N, rows, cols, 1), the NHWC
/// layout of a one-channel Keras input, divided by 255 when `scale` is true. Throws as loadIdx,
/// and when the file's rank is not 3.
Array loadIdxImages(const std::string &path, bool scale = true);

} // namespace kiln

#endif // KILN_IDX_H
