//===- InitializerTest.cpp - Keras' initializers: ranges, moments, seeds ---===//
#include "kiln/kiln.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace kiln;

namespace {

struct Moments {
  double mean, stddev, maxAbs;
};
Moments moments(const Array &a) {
  double s = 0, s2 = 0, m = 0;
  for (float v : a.data) {
    s += v;
    s2 += double(v) * v;
    m = std::max(m, std::fabs(double(v)));
  }
  double n = double(a.size());
  return {s / n, std::sqrt(s2 / n - (s / n) * (s / n)), m};
}

TEST(Initializers, GlorotUniformLimit) {
  // fan_in 3*3*16 = 144, fan_out 3*3*32 = 288: limit sqrt(6 / 432).
  Array w = initializers::GlorotUniform(1)({3, 3, 16, 32});
  Moments m = moments(w);
  double limit = std::sqrt(6.0 / 432.0);
  EXPECT_LE(m.maxAbs, limit);
  EXPECT_NEAR(m.stddev, limit / std::sqrt(3.0), 0.01 * limit);
  EXPECT_NEAR(m.mean, 0.0, 0.02 * limit);
}

TEST(Initializers, HeNormalIsTruncatedWithKerasStddev) {
  Array w = initializers::HeNormal(2)({400, 300});
  Moments m = moments(w);
  double stddev = std::sqrt(2.0 / 400.0);
  EXPECT_NEAR(m.stddev, stddev, 0.02 * stddev);
  EXPECT_LE(m.maxAbs, 2.0 * stddev / 0.87962566103423978 + 1e-6);
}

TEST(Initializers, NamedOnesMatchTheirDistributions) {
  EXPECT_NEAR(moments(Initializer("glorot_normal")({300, 300})).stddev, std::sqrt(1.0 / 300.0),
              0.02 * std::sqrt(1.0 / 300.0));
  EXPECT_NEAR(moments(Initializer("he_uniform")({500, 100})).maxAbs, std::sqrt(6.0 / 500.0),
              0.01);
  EXPECT_NEAR(moments(Initializer("lecun_normal")({250, 200})).stddev, std::sqrt(1.0 / 250.0),
              0.02 * std::sqrt(1.0 / 250.0));
  Moments rn = moments(initializers::RandomNormal(0.0, 0.05, 3)({200, 200}));
  EXPECT_NEAR(rn.stddev, 0.05, 0.001);
  Moments ru = moments(initializers::RandomUniform(-0.1, 0.1, 3)({200, 200}));
  EXPECT_LE(ru.maxAbs, 0.1);
  EXPECT_NEAR(ru.stddev, 0.2 / std::sqrt(12.0), 0.002);
  for (float v : Initializer("zeros")({7}).data)
    EXPECT_EQ(v, 0.0f);
  for (float v : Initializer("ones")({7}).data)
    EXPECT_EQ(v, 1.0f);
  for (float v : initializers::Constant(0.25)({7}).data)
    EXPECT_EQ(v, 0.25f);
}

TEST(Initializers, SeededAreReproducibleUnseededFollowTheGlobalSeed) {
  EXPECT_EQ(initializers::GlorotUniform(7)({4, 4}).data,
            initializers::GlorotUniform(7)({4, 4}).data);
  EXPECT_NE(initializers::GlorotUniform(7)({4, 4}).data,
            initializers::GlorotUniform(8)({4, 4}).data);
  utils::set_random_seed(42);
  Array a = Initializer("glorot_uniform")({4, 4});
  utils::set_random_seed(42);
  Array b = Initializer("glorot_uniform")({4, 4});
  EXPECT_EQ(a.data, b.data);
}

TEST(Initializers, UnknownNameIsAnError) {
  EXPECT_THROW(Initializer("glorot_uniformm"), Error);
}

TEST(Initializers, LayersUseThem) {
  backend::clear_session();
  auto in = Input({3});
  layers::Dense d(2, {.kernel_initializer = "ones", .bias_initializer = initializers::Constant(2)});
  d(in);
  auto w = d.get_weights();
  for (float v : w[0].data)
    EXPECT_EQ(v, 1.0f);
  for (float v : w[1].data)
    EXPECT_EQ(v, 2.0f);
}

} // namespace
