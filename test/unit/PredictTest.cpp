//===- PredictTest.cpp - predict through the JIT against plain C++ loops ---===//
#include "kiln/kiln.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

using namespace kiln;
using namespace kiln::layers;

namespace {

class Predict : public ::testing::Test {
protected:
  void SetUp() override { backend::clear_session(); }
};

Array random(std::vector<int64_t> shape, unsigned seed, float lo = -1, float hi = 1) {
  Array a(std::move(shape));
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (float &v : a.data)
    v = d(g);
  return a;
}

void expectNear(const Array &got, const Array &want, float atol = 1e-5f) {
  ASSERT_EQ(got.shape, want.shape);
  float scale = 1;
  for (float w : want.data)
    scale = std::max(scale, std::fabs(w));
  for (int64_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got.data[i], want.data[i], atol * scale) << "flat index " << i;
}

/// x (n, k) @ w (k, m) + b, then f.
Array dense(const Array &x, const Array &w, const Array *b, std::function<float(float)> f) {
  int64_t n = x.shape[0], k = x.shape[1], m = w.shape[1];
  Array y({n, m});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) {
      double s = b ? b->data[j] : 0.0;
      for (int64_t t = 0; t < k; ++t)
        s += double(x.data[i * k + t]) * w.data[t * m + j];
      y.data[i * m + j] = f(float(s));
    }
  return y;
}

float relu(float v) { return v > 0 ? v : 0; }
float identity(float v) { return v; }

TEST_F(Predict, MlpAnyBatchSizeAnyThreads) {
  auto in = Input({4});
  auto x = Dense(16, {.activation = "relu"})(in);
  x = Dense(8, {.activation = "relu"})(x);
  auto out = Dense(1, {.activation = "sigmoid"})(x);
  Model model(in, out);
  std::vector<Array> w;
  unsigned seed = 1;
  for (const Array &a : model.get_weights())
    w.push_back(random(a.shape, seed++));
  model.set_weights(w);
  Array xs = random({100, 4}, 99, -3, 3);
  Array want = dense(dense(dense(xs, w[0], &w[1], relu), w[2], &w[3], relu), w[4], &w[5],
                     [](float v) { return 1.0f / (1.0f + std::exp(-v)); });
  expectNear(model.predict(xs), want);
  expectNear(model.predict(xs, {.batch_size = 7}), want);
  expectNear(model.predict(xs, {.batch_size = 100, .threads = 2}), want);
  expectNear(model.predict(xs, {.batch_size = 64, .threads = 3}), want);
  // New weights need no recompilation and take effect at once.
  w[5].data[0] += 1.0f;
  model.set_weights(w);
  Array want2 = dense(dense(dense(xs, w[0], &w[1], relu), w[2], &w[3], relu), w[4], &w[5],
                      [](float v) { return 1.0f / (1.0f + std::exp(-v)); });
  expectNear(model.predict(xs), want2);
}

TEST_F(Predict, ConvSameStride2WithBiasReluAndAvgPool) {
  auto in = Input({9, 9, 3});
  Conv2D conv(4, 3, {.strides = {2, 2}, .padding = "same", .activation = "relu"});
  auto y = conv(in);
  auto p = AveragePooling2D({2, 2}, {.padding = "same"})(y);
  Model model(in, p);
  Array k = random({3, 3, 3, 4}, 3), b = random({4}, 4);
  model.set_weights({k, b});
  Array x = random({5, 9, 9, 3}, 5);
  // TensorFlow's same padding for 9 -> 5 with stride 2: total pad 2, one on each side.
  Array c({5, 5, 5, 4});
  for (int n = 0; n < 5; ++n)
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 5; ++j)
        for (int f = 0; f < 4; ++f) {
          double s = b.data[f];
          for (int di = 0; di < 3; ++di)
            for (int dj = 0; dj < 3; ++dj) {
              int r = i * 2 + di - 1, q = j * 2 + dj - 1;
              if (r < 0 || r >= 9 || q < 0 || q >= 9)
                continue;
              for (int ch = 0; ch < 3; ++ch)
                s += double(x.data[((n * 9 + r) * 9 + q) * 3 + ch]) *
                     k.data[((di * 3 + dj) * 3 + ch) * 4 + f];
            }
          c.data[((n * 5 + i) * 5 + j) * 4 + f] = relu(float(s));
        }
  // 5 -> 3 with pool 2 stride 2 same: windows [0,2), [2,4), [4,5); padding is not counted.
  Array want({5, 3, 3, 4});
  for (int n = 0; n < 5; ++n)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j)
        for (int f = 0; f < 4; ++f) {
          double s = 0;
          int count = 0;
          for (int r = 2 * i; r < std::min(5, 2 * i + 2); ++r)
            for (int q = 2 * j; q < std::min(5, 2 * j + 2); ++q, ++count)
              s += c.data[((n * 5 + r) * 5 + q) * 4 + f];
          want.data[((n * 3 + i) * 3 + j) * 4 + f] = float(s / count);
        }
  expectNear(model.predict(x), want);
}

TEST_F(Predict, SharedDenseTwoInputsTwoOutputs) {
  auto a = Input({6}), b = Input({6});
  Dense shared(5, {.activation = "tanh"});
  auto ya = shared(a), yb = shared(b);
  auto sum = Add()({ya, yb});
  auto cat = Concatenate()({ya, yb});
  Dense head(2);
  Model model({a, b}, {head(cat), sum});
  Array w = random({6, 5}, 1), bw = random({5}, 2), hw = random({10, 2}, 3), hb = random({2}, 4);
  model.set_weights({w, bw, hw, hb});
  Array xa = random({33, 6}, 5), xb = random({33, 6}, 6);
  auto th = [](float v) { return std::tanh(v); };
  Array ra = dense(xa, w, &bw, th), rb = dense(xb, w, &bw, th);
  Array rc({33, 10}), rs({33, 5});
  for (int i = 0; i < 33; ++i)
    for (int j = 0; j < 5; ++j) {
      rc.data[i * 10 + j] = ra.data[i * 5 + j];
      rc.data[i * 10 + 5 + j] = rb.data[i * 5 + j];
      rs.data[i * 5 + j] = ra.data[i * 5 + j] + rb.data[i * 5 + j];
    }
  auto ys = model.predict(std::vector<Array>{xa, xb}, {.batch_size = 16});
  ASSERT_EQ(ys.size(), 2u);
  expectNear(ys[0], dense(rc, hw, &hb, identity));
  expectNear(ys[1], rs);
  EXPECT_THROW(model.predict(xa), Error); // two inputs, two outputs
}

// One tensor listed as two outputs: each output gets its own buffer (returning one value twice
// used to crash bufferization's results-to-out-params).
TEST_F(Predict, OneTensorAsTwoOutputs) {
  auto a = Input({3});
  auto y = Dense(2, {.activation = "tanh"})(a);
  Model model(a, std::vector<Tensor>{y, y}[0]);
  Model twice({a}, {y, y});
  Array x = random({5, 3}, 9);
  auto ys = twice.predict(std::vector<Array>{x});
  ASSERT_EQ(ys.size(), 2u);
  EXPECT_EQ(ys[0].data, ys[1].data);
  EXPECT_EQ(ys[0].data, model.predict(x).data);
}

TEST_F(Predict, ActivationsMatchKerasFormulas) {
  struct Case {
    const char *name;
    std::function<float(float)> f;
  };
  auto sig = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  std::vector<Case> cases = {
      {"relu", relu},
      {"sigmoid", [&](float v) { return float(sig(v)); }},
      {"tanh", [](float v) { return std::tanh(v); }},
      {"elu", [](float v) { return v > 0 ? v : std::expm1(v); }},
      {"selu",
       [](float v) {
         return float(1.0507009873554805 * (v > 0 ? v : 1.6732632423543772 * std::expm1(v)));
       }},
      {"softplus", [](float v) { return float(std::log1p(std::exp(double(v)))); }},
      {"softsign", [](float v) { return v / (1 + std::fabs(v)); }},
      {"swish", [&](float v) { return float(v * sig(v)); }},
      {"silu", [&](float v) { return float(v * sig(v)); }},
      {"gelu", [](float v) { return float(0.5 * v * (1 + std::erf(v / std::sqrt(2.0)))); }},
      {"leaky_relu", [](float v) { return v > 0 ? v : 0.2f * v; }},
      {"hard_sigmoid", [](float v) { return std::clamp(v / 6.0f + 0.5f, 0.0f, 1.0f); }},
      {"exponential", [](float v) { return std::exp(v); }},
      {"linear", identity},
  };
  Array x = random({20, 7}, 11, -4, 4);
  for (const Case &c : cases) {
    backend::clear_session();
    auto in = Input({7});
    Model model(in, Activation(c.name)(in));
    Array want = x;
    for (float &v : want.data)
      v = c.f(v);
    SCOPED_TRACE(c.name);
    expectNear(model.predict(x), want);
  }
  // softmax over the last axis
  auto in = Input({7});
  Model model(in, Activation("softmax")(in));
  Array want = x;
  for (int i = 0; i < 20; ++i) {
    double m = -1e30, s = 0;
    for (int j = 0; j < 7; ++j)
      m = std::max(m, double(x.data[i * 7 + j]));
    for (int j = 0; j < 7; ++j)
      s += std::exp(x.data[i * 7 + j] - m);
    for (int j = 0; j < 7; ++j)
      want.data[i * 7 + j] = float(std::exp(x.data[i * 7 + j] - m) / s);
  }
  expectNear(model.predict(x), want);
}

TEST_F(Predict, ReshapeFlattenDropoutMaxPool) {
  auto in = Input({4, 4, 2});
  auto x = MaxPooling2D({2, 2})(in);
  x = Dropout(0.5)(x);
  x = Flatten()(x);
  x = Reshape({2, 4})(x);
  Model model(in, x);
  Array xs = random({3, 4, 4, 2}, 8);
  Array want({3, 2, 4});
  for (int n = 0; n < 3; ++n)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j)
        for (int c = 0; c < 2; ++c) {
          float m = -1e30f;
          for (int r = 2 * i; r < 2 * i + 2; ++r)
            for (int q = 2 * j; q < 2 * j + 2; ++q)
              m = std::max(m, xs.data[((n * 4 + r) * 4 + q) * 2 + c]);
          want.data[n * 8 + (i * 2 + j) * 2 + c] = m;
        }
  expectNear(model.predict(xs), want);
}

TEST_F(Predict, InputsAreNotWrittenAndBadShapesAreErrors) {
  auto in = Input({3});
  Model model(in, Activation("relu")(in));
  Array x = random({4, 3}, 1);
  Array copy = x;
  model.predict(x);
  EXPECT_EQ(x.data, copy.data);
  try {
    model.predict(Array({4, 5}));
    FAIL();
  } catch (const Error &e) {
    EXPECT_EQ(e.layer(), "input_1");
    EXPECT_NE(std::string(e.what()).find("expected input of shape (None, 3), got an array of "
                                         "shape (4, 5)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(model.predict(x, {.batch_size = 0}), Error);
  EXPECT_EQ(model.predict(Array({0, 3})).shape, (std::vector<int64_t>{0, 3}));
}

} // namespace
