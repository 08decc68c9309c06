//===- Initializers.cpp - Keras' weight initializers -----------------------===//
#include "kiln/Initializers.h"
#include "kiln/Error.h"

#include <cmath>
#include <mutex>
#include <random>

namespace kiln {

namespace {
std::mutex rngMutex;
std::mt19937_64 &globalRng() {
  static std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

struct Fans {
  double in, out;
};
/// Keras' compute_fans: (in, out) are the last two dimensions, times the receptive field.
Fans fans(const std::vector<int64_t> &shape) {
  if (shape.empty())
    return {1, 1};
  if (shape.size() == 1)
    return {double(shape[0]), double(shape[0])};
  double field = 1;
  for (size_t i = 0; i + 2 < shape.size(); ++i)
    field *= double(shape[i]);
  return {double(shape[shape.size() - 2]) * field, double(shape.back()) * field};
}
} // namespace

Initializer::Initializer(std::string n) : name(std::move(n)) {
  if (name == "random_normal" || name == "RandomNormal") {
    name = "random_normal", a = 0.0, b = 0.05;
  } else if (name == "random_uniform" || name == "RandomUniform") {
    name = "random_uniform", a = -0.05, b = 0.05;
  } else if (name == "constant" || name == "Constant") {
    name = "constant";
  } else if (name == "orthogonal" || name == "Orthogonal") {
    name = "orthogonal", a = 1.0; // a: the gain
  } else {
    static const char *known[][2] = {
        {"glorot_uniform", "GlorotUniform"}, {"glorot_normal", "GlorotNormal"},
        {"he_uniform", "HeUniform"},         {"he_normal", "HeNormal"},
        {"lecun_uniform", "LecunUniform"},   {"lecun_normal", "LecunNormal"},
        {"zeros", "Zeros"},                  {"ones", "Ones"}};
    for (auto &k : known)
      if (name == k[0] || name == k[1]) {
        name = k[0];
        return;
      }
    throw Error("", "unknown initializer '" + name +
                        "' (kiln knows glorot_uniform, glorot_normal, he_uniform, he_normal, "
                        "lecun_uniform, lecun_normal, random_normal, random_uniform, orthogonal, "
                        "zeros, ones, constant)");
  }
}

Array Initializer::operator()(const std::vector<int64_t> &shape) const {
  Array out(shape);
  if (name == "zeros")
    return out;
  if (name == "ones" || name == "constant") {
    std::fill(out.data.begin(), out.data.end(), name == "ones" ? 1.0f : float(a));
    return out;
  }
  std::mt19937_64 rng;
  if (seed) {
    rng.seed(*seed);
  } else {
    std::lock_guard<std::mutex> lock(rngMutex);
    rng.seed(globalRng()());
  }
  auto uniform = [&](double lo, double hi) {
    std::uniform_real_distribution<double> d(lo, hi);
    for (float &v : out.data)
      v = float(d(rng));
  };
  // Keras' truncated normal: redraw anything beyond two standard deviations.
  auto truncated = [&](double stddev) {
    std::normal_distribution<double> d(0.0, stddev);
    for (float &v : out.data) {
      double x;
      do
        x = d(rng);
      while (std::fabs(x) > 2.0 * stddev);
      v = float(x);
    }
  };
  if (name == "orthogonal") {
    // Keras' Orthogonal: Q of the QR decomposition of a (max(r, c), min(r, c)) normal matrix,
    // columns signed so that R's diagonal is positive, transposed when r < c, times the gain;
    // r is the product of all dimensions but the last, c the last.
    if (shape.size() < 2)
      throw Error("", "orthogonal: the shape must have rank 2 or more, got " +
                          Array::shapeString(shape));
    int64_t r = 1;
    for (size_t i = 0; i + 1 < shape.size(); ++i)
      r *= shape[i];
    int64_t c = shape.back(), m = std::max(r, c), n = std::min(r, c);
    std::normal_distribution<double> d(0.0, 1.0);
    std::vector<double> q(m * n); // column-major: column j at q[j * m]
    for (double &v : q)
      v = d(rng);
    for (int64_t j = 0; j < n; ++j) { // modified Gram-Schmidt: R's diagonal comes out positive
      double *col = &q[j * m];
      for (int64_t k = 0; k < j; ++k) {
        const double *prev = &q[k * m];
        double dot = 0;
        for (int64_t i = 0; i < m; ++i)
          dot += prev[i] * col[i];
        for (int64_t i = 0; i < m; ++i)
          col[i] -= dot * prev[i];
      }
      double norm = 0;
      for (int64_t i = 0; i < m; ++i)
        norm += col[i] * col[i];
      norm = std::sqrt(norm);
      for (int64_t i = 0; i < m; ++i)
        col[i] = norm > 0 ? col[i] / norm : 0.0;
    }
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < c; ++j) // (r, c) = Q when r >= c, else Q transposed
        out.data[i * c + j] = float(a * (r >= c ? q[j * m + i] : q[i * m + j]));
    return out;
  }
  if (name == "random_uniform")
    uniform(a, b);
  else if (name == "random_normal") {
    std::normal_distribution<double> d(a, b);
    for (float &v : out.data)
      v = float(d(rng));
  } else {
    // Variance scaling: scale / fan, fan by mode.
    Fans f = fans(shape);
    double scale = 1.0, fan = f.in;
    bool normal = name.ends_with("_normal");
    if (name.starts_with("glorot"))
      fan = (f.in + f.out) / 2.0;
    else if (name.starts_with("he"))
      scale = 2.0;
    double variance = scale / std::max(1.0, fan);
    if (normal)
      // 0.879...: the stddev of a unit normal truncated at two standard deviations.
      truncated(std::sqrt(variance) / 0.87962566103423978);
    else {
      double limit = std::sqrt(3.0 * variance);
      uniform(-limit, limit);
    }
  }
  return out;
}

namespace initializers {
Initializer GlorotUniform(std::optional<uint64_t> s) { return {"glorot_uniform", 0, 0, s}; }
Initializer GlorotNormal(std::optional<uint64_t> s) { return {"glorot_normal", 0, 0, s}; }
Initializer HeUniform(std::optional<uint64_t> s) { return {"he_uniform", 0, 0, s}; }
Initializer HeNormal(std::optional<uint64_t> s) { return {"he_normal", 0, 0, s}; }
Initializer LecunUniform(std::optional<uint64_t> s) { return {"lecun_uniform", 0, 0, s}; }
Initializer LecunNormal(std::optional<uint64_t> s) { return {"lecun_normal", 0, 0, s}; }
Initializer RandomNormal(double mean, double stddev, std::optional<uint64_t> s) {
  if (!(stddev >= 0))
    throw Error("", "random_normal: stddev must be non-negative");
  return {"random_normal", mean, stddev, s};
}
Initializer RandomUniform(double lo, double hi, std::optional<uint64_t> s) {
  if (!(lo <= hi))
    throw Error("", "random_uniform: minval must not exceed maxval");
  return {"random_uniform", lo, hi, s};
}
Initializer Orthogonal(double gain, std::optional<uint64_t> s) {
  return {"orthogonal", gain, 0, s};
}
Initializer Zeros() { return {"zeros", 0, 0, {}}; }
Initializer Ones() { return {"ones", 0, 0, {}}; }
Initializer Constant(double value) { return {"constant", value, 0, {}}; }
} // namespace initializers

namespace utils {
void set_random_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(rngMutex);
  globalRng().seed(seed);
}
} // namespace utils

} // namespace kiln
