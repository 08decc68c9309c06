//===- FileBytes.h - whole-file reads, gzip inflation and the IO error helper (internal) -===//
#ifndef KILN_RUNTIME_IO_FILEBYTES_H
#define KILN_RUNTIME_IO_FILEBYTES_H

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln::io {

/// The one wording for every IO error: "kiln: <path>: <problem>".
[[noreturn]] void fail(const std::string &path, const std::string &problem);

/// The whole file, sized from the file system (never from the file's contents).
std::vector<uint8_t> readFileBytes(const std::string &path);

/// True when `bytes` start with the gzip magic 1f 8b.
bool isGzip(const std::vector<uint8_t> &bytes);

/// Inflates a gzip stream (several concatenated members allowed). The output grows with what
/// actually decompresses, up to `limit` bytes; corrupt or truncated input throws. Past `limit`,
/// throws, or with `truncate` returns the first `limit` bytes (to read a header first).
std::vector<uint8_t> gunzip(const std::string &path, const std::vector<uint8_t> &compressed,
                            uint64_t limit = uint64_t{1} << 34, bool truncate = false);

/// The most a deflate stream of `compressedBytes` can inflate to (deflate's ratio is at most
/// 1032:1), with slack for gzip framing: a bound on trusting sizes a compressed file declares.
inline uint64_t maxInflated(uint64_t compressedBytes) { return compressedBytes * 1032 + 4096; }

/// The product of `dims`, or nullopt when it overflows int64.
std::optional<int64_t> checkedProduct(const std::vector<int64_t> &dims);

/// `shape` written as Python writes a tuple: "(3, 4)", "(3,)", "()".
std::string tupleString(const std::vector<int64_t> &shape);

} // namespace kiln::io

#endif // KILN_RUNTIME_IO_FILEBYTES_H
