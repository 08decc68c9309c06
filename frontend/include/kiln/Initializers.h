//===- Initializers.h - Keras' weight initializers -------------------------===//
#ifndef KILN_INITIALIZERS_H
#define KILN_INITIALIZERS_H

#include "kiln/Array.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

/// A Keras initializer: a name (`glorot_uniform`, `he_normal`, `zeros`, ...), its parameters and
/// an optional seed. Seeded initializers give the same values on every call, as Keras' do;
/// unseeded ones draw from kiln's global generator (see utils::set_random_seed). The values
/// follow Keras' distributions (truncated normals for the *_normal variance-scaling ones), not
/// Keras' exact random streams.
struct Initializer {
  std::string name = "glorot_uniform";
  /// random_normal: mean, stddev; random_uniform: minval, maxval; constant: value and
  /// orthogonal: gain (in a).
  double a = 0.0, b = 0.0;
  std::optional<uint64_t> seed;

  Initializer() = default;
  Initializer(const char *name) : Initializer(std::string(name)) {}
  /// A Keras initializer name with Keras' default parameters; throws kiln::Error when unknown.
  Initializer(std::string name);
  Initializer(std::string name, double a, double b, std::optional<uint64_t> seed)
      : name(std::move(name)), a(a), b(b), seed(seed) {}

  /// Values for a weight of `shape` (fans computed as Keras does: the last two dimensions are
  /// (in, out); the others form the receptive field).
  Array operator()(const std::vector<int64_t> &shape) const;
};

namespace initializers {
Initializer GlorotUniform(std::optional<uint64_t> seed = {});
Initializer GlorotNormal(std::optional<uint64_t> seed = {});
Initializer HeUniform(std::optional<uint64_t> seed = {});
Initializer HeNormal(std::optional<uint64_t> seed = {});
Initializer LecunUniform(std::optional<uint64_t> seed = {});
Initializer LecunNormal(std::optional<uint64_t> seed = {});
Initializer RandomNormal(double mean = 0.0, double stddev = 0.05,
                         std::optional<uint64_t> seed = {});
Initializer RandomUniform(double minval = -0.05, double maxval = 0.05,
                          std::optional<uint64_t> seed = {});
/// Keras' Orthogonal (the recurrent kernels' default): an orthogonal matrix times `gain`.
Initializer Orthogonal(double gain = 1.0, std::optional<uint64_t> seed = {});
Initializer Zeros();
Initializer Ones();
Initializer Constant(double value = 0.0);
} // namespace initializers

namespace utils {
/// Seeds the generator that unseeded initializers draw from (Keras' set_random_seed).
void set_random_seed(uint64_t seed);
} // namespace utils

} // namespace kiln

#endif // KILN_INITIALIZERS_H
