//===- TrainTest.cpp - compile / fit / evaluate end to end -----------------===//
//
// Gradients of whole models (every op's rule and every loss, through kiln-autodiff and the
// compiled @train_step) against central finite differences of the compiled @eval_step; the
// optimizers' updates against Keras 3's formulas worked here in double precision; learning on
// Fashion-MNIST; and the errors of bad training input.
//
//===----------------------------------------------------------------------===//
#include "kiln/DataUtils.h"
#include "kiln/Datasets.h"
#include "kiln/kiln.h"
#include "kiln_gpu.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <numeric>
#include <random>

using namespace kiln;
using namespace kiln::layers;

namespace {

class Train : public ::testing::Test {
protected:
  void SetUp() override {
    backend::clear_session();
    utils::set_random_seed(1234);
  }
};

Array random(std::vector<int64_t> shape, unsigned seed, float lo = -1, float hi = 1) {
  Array a(std::move(shape));
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (float &v : a.data)
    v = d(g);
  return a;
}

/// The gradient of the mean loss over (x, y), read off one SGD step with learning rate 1.
std::vector<Array> gradient(Model &m, const losses::Loss &loss, const std::vector<Array> &x,
                            const std::vector<Array> &y) {
  std::vector<Array> before = m.get_weights();
  m.compile({.optimizer = optimizers::SGD(1.0), .loss = loss});
  m.fit(x, y, {.batch_size = x[0].shape[0], .epochs = 1, .verbose = 0, .shuffle = false});
  std::vector<Array> after = m.get_weights(), g = before;
  for (size_t i = 0; i < g.size(); ++i)
    for (int64_t j = 0; j < g[i].size(); ++j)
      g[i].data[j] = before[i].data[j] - after[i].data[j];
  m.set_weights(before);
  return g;
}

/// Checks the compiled gradient against central differences of the compiled loss along random
/// directions. f32 everywhere, so h = 1e-3 and the tolerance is 2e-2 of the sum of the terms'
/// magnitudes (a dot product that is small by cancellation cannot fail by chance).
void checkGradient(Model &m, const losses::Loss &loss, const std::vector<Array> &x,
                   const std::vector<Array> &y, unsigned seed = 7) {
  std::vector<Array> g = gradient(m, loss, x, y);
  std::vector<Array> w = m.get_weights();
  auto lossAt = [&](const std::vector<Array> &ws) {
    m.set_weights(ws);
    return m.evaluate(x, y, {.batch_size = x[0].shape[0], .verbose = 0})[0];
  };
  const double h = 1e-3;
  for (int dir = 0; dir < 3; ++dir) {
    std::vector<Array> plus = w, minus = w;
    double dot = 0, scale = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      Array e = random(w[i].shape, seed * 31 + dir * 7 + i);
      for (int64_t j = 0; j < e.size(); ++j) {
        plus[i].data[j] += float(h * e.data[j]);
        minus[i].data[j] -= float(h * e.data[j]);
        dot += double(g[i].data[j]) * e.data[j];
        scale += std::fabs(double(g[i].data[j]) * e.data[j]);
      }
    }
    double fd = (lossAt(plus) - lossAt(minus)) / (2 * h);
    EXPECT_NEAR(fd, dot, 2e-2 * scale + 1e-4) << "direction " << dir;
  }
  m.set_weights(w);
}

TEST_F(Train, GradientDenseActivations) {
  for (const char *act : {"relu", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign",
                          "swish", "gelu", "leaky_relu", "hard_sigmoid", "exponential"}) {
    SCOPED_TRACE(act);
    backend::clear_session();
    auto in = Input({5});
    auto h = Dense(7, {.activation = act})(in);
    Model m(in, Dense(3)(h));
    checkGradient(m, "mse", {random({6, 5}, 1, -1.5, 1.5)}, {random({6, 3}, 2)});
  }
}

// The ReLU layer (MobileNet's ReLU(6.)): clipped, leaky, and both.
TEST_F(Train, GradientReLULayer) {
  auto in = Input({5});
  Tensor h = ReLU({.max_value = 0.8, .negative_slope = 0.2})(Dense(7)(in));
  h = ReLU({.negative_slope = 0.3})(Dense(6)(h));
  h = ReLU(0.5)(Dense(6)(h));
  Model m(in, Dense(3)(h));
  checkGradient(m, "mse", {random({6, 5}, 1, -1.5, 1.5)}, {random({6, 3}, 2)});
}

TEST_F(Train, GradientEveryLoss) {
  Array x = random({8, 4}, 3);
  Array yProb = random({8, 3}, 4, 0.05f, 1.0f);
  for (int i = 0; i < 8; ++i) { // rows of a distribution
    float s = yProb.data[i * 3] + yProb.data[i * 3 + 1] + yProb.data[i * 3 + 2];
    for (int j = 0; j < 3; ++j)
      yProb.data[i * 3 + j] /= s;
  }
  Array yBin = random({8, 3}, 5, 0, 1);
  for (float &v : yBin.data)
    v = v > 0.5f;
  Array labels({8}, {0, 2, 1, 1, 0, 2, 2, 1});
  struct Case {
    losses::Loss loss;
    const char *activation;
    Array y;
  };
  std::vector<Case> cases = {
      {"categorical_crossentropy", "softmax", yProb},
      {losses::CategoricalCrossentropy(true), "linear", yProb},
      {"sparse_categorical_crossentropy", "softmax", labels},
      {"binary_crossentropy", "sigmoid", yBin},
      {losses::BinaryCrossentropy(true), "linear", yBin},
      {"mse", "linear", yProb},
      {"mae", "linear", yProb},
      {"mape", "linear", random({8, 3}, 6, 0.5, 2)},
      {"msle", "softplus", yProb},
      {losses::Huber(0.5), "linear", random({8, 3}, 7, -2, 2)},
      {"log_cosh", "linear", yProb},
      {"poisson", "softplus", yProb},
      {"kl_divergence", "softmax", yProb},
      {"hinge", "tanh", yBin},
      {"squared_hinge", "tanh", yBin},
      {"categorical_hinge", "linear", yBin},
      {"cosine_similarity", "linear", yProb},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.loss.name + (c.loss.from_logits ? " (from logits)" : ""));
    backend::clear_session();
    auto in = Input({4});
    Model m(in, Dense(3, {.activation = c.activation})(Dense(6, {.activation = "tanh"})(in)));
    checkGradient(m, c.loss, {x}, {c.y});
  }
}

TEST_F(Train, GradientConvPoolingAndMerges) {
  struct Case {
    const char *name;
    std::function<Tensor(Tensor)> body;
  };
  std::vector<Case> cases = {
      {"conv valid, max pool",
       [](Tensor t) {
         t = Conv2D(3, 3, {.activation = "relu"})(t);
         return MaxPooling2D()(t);
       }},
      {"conv same stride 2, avg pool same",
       [](Tensor t) {
         t = Conv2D(4, 3, {.strides = {2, 2}, .padding = "same", .activation = "tanh"})(t);
         return AveragePooling2D({2, 2}, {.padding = "same"})(t);
       }},
      {"dilated conv", [](Tensor t) { return Conv2D(2, 3, {.dilation_rate = {2, 2}})(t); }},
      {"reshape, add, concatenate",
       [](Tensor t) {
         Tensor a = Conv2D(2, 1)(t), b = Conv2D(2, 1, {.activation = "sigmoid"})(t);
         Tensor s = Add()({a, b});
         Tensor c = Concatenate()({s, a});
         return Reshape({7 * 7, 4})(c);
       }},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.name);
    backend::clear_session();
    auto in = Input({7, 7, 2});
    Tensor t = Flatten()(c.body(in));
    Model m(in, Dense(3, {.activation = "softmax"})(t));
    Array y = utils::to_categorical(Array({4}, {0, 1, 2, 1}), 3);
    checkGradient(m, "categorical_crossentropy", {random({4, 7, 7, 2}, 9)}, {y});
  }
}

/// A model body on an input of one sample shape, for the gradient checks below.
struct BodyCase {
  const char *name;
  std::vector<int64_t> input;
  std::function<Tensor(Tensor)> body;
};

/// Checks the gradient of input -> body -> (Flatten) -> Dense(3, softmax) for each case: the
/// gradient reaches the weights before and after the layers under test.
void checkBodies(const std::vector<BodyCase> &cases) {
  for (const BodyCase &c : cases) {
    SCOPED_TRACE(c.name);
    backend::clear_session();
    auto in = Input(c.input);
    Tensor t = c.body(in);
    if (t.shape().size() > 2)
      t = Flatten()(t);
    Model m(in, Dense(3, {.activation = "softmax"})(t));
    std::vector<int64_t> xs = {4};
    xs.insert(xs.end(), c.input.begin(), c.input.end());
    Array y = utils::to_categorical(Array({4}, {0, 1, 2, 1}), 3);
    checkGradient(m, "categorical_crossentropy", {random(xs, 11)}, {y});
  }
}

// Conv3D and the 3-D pools are unrolled over the depth into kiln.conv2d, the 2-D pools,
// slices, sums and maxima: their gradients against finite differences.
TEST_F(Train, GradientConv3DAndPools3D) {
  checkBodies({{"Conv3D(valid, strides) -> MaxPooling3D", {4, 5, 4, 2},
                [](Tensor t) {
                  t = Conv3D(3, {2, 3, 2}, {.strides = {1, 2, 1}, .activation = "tanh"})(t);
                  return MaxPooling3D({2, 2, 2}, {.padding = "same"})(t);
                }},
               {"Conv3D(same, strides 2) -> AveragePooling3D(same)", {5, 4, 5, 2},
                [](Tensor t) {
                  t = Conv3D(2, 3, {.strides = {2, 2, 2}, .padding = "same",
                                    .activation = "tanh"})(t);
                  return AveragePooling3D({2, 3, 2}, {.strides = {1, 1, 2}, .padding = "same"})(t);
                }},
               {"Conv3D(dilated, no bias) -> AveragePooling3D(valid)", {5, 5, 5, 1},
                [](Tensor t) {
                  t = Conv3D(2, {2, 2, 2}, {.dilation_rate = {2, 1, 2}, .use_bias = false,
                                            .activation = "tanh"})(t);
                  return AveragePooling3D({2, 2, 2}, {.strides = {1}})(t);
                }}});
}

TEST_F(Train, GradientMerges) {
  checkBodies({{"multiply, subtract, average, maximum, minimum", {5}, [](Tensor t) {
                  Tensor a = Dense(4, {.activation = "tanh"})(t), b = Dense(4)(t),
                         c = Dense(4)(t);
                  return Concatenate()({Multiply()({a, b, c}), Subtract()({a, b}),
                                        Average()({a, b, c}), Maximum()({a, b, c}),
                                        Minimum()({b, c})});
                }}});
}

TEST_F(Train, GradientGlobalPooling) {
  checkBodies({{"global pooling 2d", {5, 4, 2},
                [](Tensor t) {
                  t = Conv2D(3, 2, {.activation = "tanh"})(t);
                  return Concatenate()({GlobalAveragePooling2D()(t), GlobalMaxPooling2D()(t),
                                        Flatten()(GlobalMaxPooling2D({.keepdims = true})(t))});
                }},
               {"global pooling 1d", {5}, [](Tensor t) {
                  t = Reshape({6, 2})(Dense(12, {.activation = "tanh"})(t));
                  return Concatenate()({GlobalAveragePooling1D()(t), GlobalMaxPooling1D()(t),
                                        Flatten()(GlobalAveragePooling1D({.keepdims = true})(t))});
                }}});
}

TEST_F(Train, GradientLayerNormalization) {
  checkBodies({{"layer normalization", {5},
                [](Tensor t) {
                  t = LayerNormalization()(Dense(6, {.activation = "tanh"})(t));
                  return Dense(4, {.activation = "tanh"})(t);
                }},
               {"layer normalization over axes 1, 2", {3, 4, 2}, [](Tensor t) {
                  t = Conv2D(3, 1)(t);
                  return LayerNormalization({.axis = {1, 2}, .epsilon = 1e-2})(t);
                }}});
}

// ZeroPadding2D and Cropping2D are kiln.pad and kiln.slice; UpSampling2D, RepeatVector and
// Permute are reshapes, concatenations and a transpose.
TEST_F(Train, GradientPaddingCroppingAndShapeLayers) {
  checkBodies({{"zero padding, cropping, up-sampling", {4, 5, 2},
                [](Tensor t) {
                  t = Conv2D(2, 1, {.activation = "tanh"})(t);
                  t = ZeroPadding2D({{1, 0}, {2, 1}})(t);
                  t = Conv2D(2, 2, {.activation = "tanh"})(t);
                  t = Cropping2D({{1, 0}, {0, 2}})(t);
                  return UpSampling2D({2, 3})(t);
                }},
               {"repeat vector, permute, reshape", {5}, [](Tensor t) {
                  t = RepeatVector(3)(Dense(4, {.activation = "tanh"})(t));
                  t = Permute({2, 1})(t);
                  return Reshape({-1, 2})(t);
                }}});
}

// Gradients through time: the recurrent layers are unrolled chains of kiln ops, and the
// Embedding's gradient is a scatter-add into its table; all against finite differences.
TEST_F(Train, GradientRecurrentAndEmbedding) {
  Array ids({5, 4}, {0, 3, 3, 6, 1, 2, 5, 5, 4, 0, 6, 1, 2, 2, 3, 0, 6, 6, 5, 4});
  {
    SCOPED_TRACE("Embedding -> LSTM(sequences) -> GRU(backwards) -> Dense");
    Sequential m({Input({4}), Embedding(7, 3, {.embeddings_initializer = "glorot_uniform"}),
                  LSTM(4, {.return_sequences = true}), GRU(3, {.go_backwards = true}),
                  Dense(2)});
    checkGradient(m, "mse", {ids}, {random({5, 2}, 21)});
  }
  {
    SCOPED_TRACE("SimpleRNN -> GRU(reset_after=False, sequences, backwards) -> LSTM(no bias)");
    backend::clear_session();
    Sequential m({Input({4, 3}), SimpleRNN(3, {.return_sequences = true}),
                  GRU(3, {.return_sequences = true, .go_backwards = true, .reset_after = false}),
                  LSTM(2, {.use_bias = false}), Dense(1)});
    checkGradient(m, "mse", {random({6, 4, 3}, 22)}, {random({6, 1}, 23)});
  }
  {
    SCOPED_TRACE("LSTM states -> Concatenate -> Dense(sigmoid)");
    backend::clear_session();
    auto x = Input({3, 2});
    std::vector<Tensor> s =
        LSTM(3, {.recurrent_activation = "hard_sigmoid", .return_state = true}).call_all(x);
    Model m(x, Dense(1, {.activation = "sigmoid"})(Concatenate()({s[0], s[2]})));
    Array y = random({6, 1}, 25, 0, 1);
    for (float &v : y.data)
      v = v > 0.5f;
    checkGradient(m, "binary_crossentropy", {random({6, 3, 2}, 24)}, {y});
  }
  {
    SCOPED_TRACE("GRU(sequences) -> Dense on every step (a kernel gradient over the steps)");
    backend::clear_session();
    Sequential m({Input({4, 3}), GRU(3, {.return_sequences = true}), Dense(2)});
    checkGradient(m, "mse", {random({5, 4, 3}, 26)}, {random({5, 4, 2}, 27)});
  }
  {
    SCOPED_TRACE("Bidirectional(LSTM, sequences) -> TimeDistributed(Dense) -> "
                 "Bidirectional(GRU, ave)");
    backend::clear_session();
    Sequential m({Input({3, 2}), Bidirectional(LSTM(2, {.return_sequences = true})),
                  TimeDistributed(Dense(3, {.activation = "tanh"})),
                  Bidirectional(GRU(2), {.merge_mode = "ave"})});
    checkGradient(m, "mse", {random({4, 3, 2}, 28)}, {random({4, 2}, 29)});
  }
}

// Masked sequences (Embedding(mask_zero), Masking): each step's state is the select
// m * new + (1 - m) * old, so a masked step passes the old state's gradient on and gives its
// input none; all against finite differences.
TEST_F(Train, GradientMaskedSequences) {
  // Padding at the end, holes, a row of padding only.
  Array ids({5, 4}, {0, 3, 3, 6, 1, 2, 0, 0, 4, 0, 6, 1, 0, 0, 0, 0, 6, 6, 5, 4});
  {
    SCOPED_TRACE("Embedding(mask_zero) -> LSTM(sequences) -> GRU(backwards) -> Dense");
    Sequential m({Input({4}),
                  Embedding(7, 3, {.embeddings_initializer = "glorot_uniform", .mask_zero = true}),
                  LSTM(4, {.return_sequences = true}), GRU(3, {.go_backwards = true}),
                  Dense(2)});
    checkGradient(m, "mse", {ids}, {random({5, 2}, 41)});
  }
  {
    SCOPED_TRACE("Embedding(mask_zero) -> Bidirectional(SimpleRNN, sequences) -> "
                 "TimeDistributed(Dense) -> GRU(reset_after=False)");
    backend::clear_session();
    Sequential m({Input({4}),
                  Embedding(7, 3, {.embeddings_initializer = "glorot_uniform", .mask_zero = true}),
                  Bidirectional(SimpleRNN(3, {.return_sequences = true})),
                  TimeDistributed(Dense(2, {.activation = "tanh"})),
                  GRU(2, {.reset_after = false})});
    checkGradient(m, "mse", {ids}, {random({5, 2}, 42)});
  }
  {
    SCOPED_TRACE("Masking -> LSTM -> Dense");
    backend::clear_session();
    Array x = random({5, 4, 2}, 43);
    for (int64_t i : {1, 6, 9, 14, 15}) // steps of zeros, masked
      x.data[2 * i] = x.data[2 * i + 1] = 0;
    Sequential m({Input({4, 2}), Masking(), LSTM(3), Dense(1)});
    checkGradient(m, "mse", {x}, {random({5, 1}, 44)});
  }
  {
    SCOPED_TRACE("Embedding(mask_zero) -> Dense(tanh) -> GlobalAveragePooling1D -> Dense");
    backend::clear_session();
    Array some({4, 4}, {0, 3, 3, 6, 1, 2, 0, 0, 4, 0, 6, 1, 6, 6, 5, 4});
    Sequential m({Input({4}),
                  Embedding(7, 3, {.embeddings_initializer = "glorot_uniform", .mask_zero = true}),
                  Dense(3, {.activation = "tanh"}), GlobalAveragePooling1D(), Dense(2)});
    checkGradient(m, "mse", {some}, {random({4, 2}, 45)});
  }
}

// dropout / recurrent_dropout act in training only: predict ignores them, and a training step
// (SGD with a learning rate of 1e-12, so the weights stay) sees a loss other than evaluate's, with new
// masks at each step.
TEST_F(Train, RecurrentDropoutOnlyInTraining) {
  for (const char *cls : {"LSTM", "GRU", "SimpleRNN"}) {
    SCOPED_TRACE(cls);
    backend::clear_session();
    RecurrentOptions o{.dropout = 0.4, .recurrent_dropout = 0.3, .seed = 11};
    auto make = [&](RecurrentOptions opts) -> Layer {
      std::string c = cls;
      if (c == "LSTM")
        return LSTM(4, opts);
      if (c == "GRU")
        return GRU(4, opts);
      return SimpleRNN(4, opts);
    };
    Sequential m({Input({5, 3}), make(o), Dense(1)});
    Sequential plain({Input({5, 3}), make({}), Dense(1)});
    plain.set_weights(m.get_weights());
    Array x = random({8, 5, 3}, 31), y = random({8, 1}, 32);
    EXPECT_EQ(m.predict(x).data, plain.predict(x).data);
    m.compile({.optimizer = optimizers::SGD(1e-12), .loss = "mse"});
    double eval = m.evaluate(x, y, {.batch_size = 8, .verbose = 0})[0];
    double t1 = m.train_on_batch(x, y)[0], t2 = m.train_on_batch(x, y)[0];
    EXPECT_TRUE(std::isfinite(t1) && std::isfinite(t2));
    EXPECT_NE(t1, eval);
    EXPECT_NE(t1, t2);
    EXPECT_NEAR(m.evaluate(x, y, {.batch_size = 8, .verbose = 0})[0], eval, 1e-6);
  }
}

TEST_F(Train, GradientSharedLayerTwoOutputs) {
  auto a = Input({4}), b = Input({4});
  Dense shared(5, {.activation = "tanh"});
  auto ya = shared(a), yb = shared(b);
  Model m({a, b}, {Dense(2)(Concatenate()({ya, yb})), Dense(1)(yb)});
  checkGradient(m, "mse", {random({6, 4}, 1), random({6, 4}, 2)},
                {random({6, 2}, 3), random({6, 1}, 4)});
}

/// One Dense(2, no bias) unit trained with mse on one sample: the gradient is 2/2 * (w.x - y) x
/// per column, so every optimizer's step can be worked out here.
struct Worked {
  Array x = Array({1, 3}, {0.5f, -1.0f, 2.0f});
  Array y = Array({1, 2}, {1.0f, -1.0f});
  Array w0 = Array({3, 2}, {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f});

  std::vector<double> grad(const std::vector<double> &w) const {
    std::vector<double> g(6);
    for (int j = 0; j < 2; ++j) {
      double p = 0;
      for (int i = 0; i < 3; ++i)
        p += x.data[i] * w[i * 2 + j];
      for (int i = 0; i < 3; ++i)
        g[i * 2 + j] = (p - y.data[j]) * x.data[i]; // d/dw of mean over 2 outputs of squares
    }
    return g;
  }
};

void expectSteps(const optimizers::Optimizer &opt,
                 const std::function<void(std::vector<double> &, const std::vector<double> &,
                                          int)> &step) {
  backend::clear_session();
  Worked k;
  auto in = Input({3});
  Dense d(2, {.use_bias = false});
  Model m(in, d(in));
  m.set_weights({k.w0});
  m.compile({.optimizer = opt, .loss = "mse"});
  std::vector<double> w(k.w0.data.begin(), k.w0.data.end());
  for (int t = 1; t <= 4; ++t) {
    m.train_on_batch(k.x, k.y);
    step(w, k.grad(w), t);
    Array got = m.get_weights()[0];
    for (int i = 0; i < 6; ++i)
      ASSERT_NEAR(got.data[i], w[i], 2e-6) << opt.name << " step " << t << " weight " << i;
  }
}

TEST_F(Train, OptimizerUpdatesFollowKeras) {
  std::vector<double> m(6), v(6), vhat(6), a(6), mom(6);
  auto reset = [&] {
    std::fill(m.begin(), m.end(), 0.0), std::fill(v.begin(), v.end(), 0.0);
    std::fill(vhat.begin(), vhat.end(), 0.0), std::fill(a.begin(), a.end(), 0.0);
    std::fill(mom.begin(), mom.end(), 0.0);
  };
  reset();
  expectSteps(optimizers::SGD(0.1), [](auto &w, auto &g, int) {
    for (int i = 0; i < 6; ++i)
      w[i] -= 0.1 * g[i];
  });
  reset();
  expectSteps(optimizers::SGD(0.1, {.momentum = 0.9, .nesterov = true}), [&](auto &w, auto &g, int) {
    for (int i = 0; i < 6; ++i) {
      m[i] = 0.9 * m[i] - 0.1 * g[i];
      w[i] += 0.9 * m[i] - 0.1 * g[i];
    }
  });
  for (bool amsgrad : {false, true}) {
    reset();
    expectSteps(optimizers::Adam(0.05, {.amsgrad = amsgrad}), [&](auto &w, auto &g, int t) {
      double alpha = 0.05 * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t));
      for (int i = 0; i < 6; ++i) {
        m[i] += (g[i] - m[i]) * 0.1;
        v[i] += (g[i] * g[i] - v[i]) * 0.001;
        vhat[i] = std::max(vhat[i], v[i]);
        w[i] -= m[i] * alpha / (std::sqrt(amsgrad ? vhat[i] : v[i]) + 1e-7);
      }
    });
  }
  reset();
  expectSteps(optimizers::AdamW(0.05, {.weight_decay = 0.1}), [&](auto &w, auto &g, int t) {
    double alpha = 0.05 * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t));
    for (int i = 0; i < 6; ++i) {
      w[i] -= w[i] * 0.1 * 0.05;
      m[i] += (g[i] - m[i]) * 0.1;
      v[i] += (g[i] * g[i] - v[i]) * 0.001;
      w[i] -= m[i] * alpha / (std::sqrt(v[i]) + 1e-7);
    }
  });
  reset();
  expectSteps(optimizers::RMSprop(0.01, {.momentum = 0.5, .centered = true}),
              [&](auto &w, auto &g, int) {
                for (int i = 0; i < 6; ++i) {
                  v[i] = 0.9 * v[i] + 0.1 * g[i] * g[i];
                  a[i] = 0.9 * a[i] + 0.1 * g[i];
                  double inc = 0.01 * g[i] / std::sqrt(v[i] - a[i] * a[i] + 1e-7);
                  mom[i] = 0.5 * mom[i] + inc;
                  w[i] -= mom[i];
                }
              });
  reset();
  std::fill(v.begin(), v.end(), 0.1);
  expectSteps(optimizers::Adagrad(0.1), [&](auto &w, auto &g, int) {
    for (int i = 0; i < 6; ++i) {
      v[i] += g[i] * g[i];
      w[i] -= 0.1 * g[i] / std::sqrt(v[i] + 1e-7);
    }
  });
  reset();
  expectSteps(optimizers::Adadelta(1.0), [&](auto &w, auto &g, int) {
    for (int i = 0; i < 6; ++i) {
      v[i] = 0.95 * v[i] + 0.05 * g[i] * g[i];
      double delta = -std::sqrt(a[i] + 1e-7) * g[i] / std::sqrt(v[i] + 1e-7);
      a[i] = 0.95 * a[i] + 0.05 * delta * delta;
      w[i] += 1.0 * delta;
    }
  });
  reset();
  expectSteps(optimizers::Adamax(0.05), [&](auto &w, auto &g, int t) {
    for (int i = 0; i < 6; ++i) {
      m[i] += (g[i] - m[i]) * 0.1;
      v[i] = std::max(0.999 * v[i], std::fabs(g[i]));
      w[i] -= 0.05 * m[i] / ((1 - std::pow(0.9, t)) * (v[i] + 1e-7));
    }
  });
  reset();
  double uprod = 1.0;
  expectSteps(optimizers::Nadam(0.05), [&](auto &w, auto &g, int t) {
    double ut = 0.9 * (1 - 0.5 * std::pow(0.96, t)), ut1 = 0.9 * (1 - 0.5 * std::pow(0.96, t + 1));
    uprod *= ut;
    double uprod1 = uprod * ut1;
    for (int i = 0; i < 6; ++i) {
      m[i] += (g[i] - m[i]) * 0.1;
      v[i] += (g[i] * g[i] - v[i]) * 0.001;
      double mhat = ut1 * m[i] / (1 - uprod1) + (1 - ut) * g[i] / (1 - uprod);
      double vhat = v[i] / (1 - std::pow(0.999, t));
      w[i] -= mhat * 0.05 / (std::sqrt(vhat) + 1e-7);
    }
  });
  reset();
  std::fill(v.begin(), v.end(), 0.1);
  expectSteps(optimizers::Ftrl(0.1, {.l1_regularization_strength = 0.01,
                                     .l2_regularization_strength = 0.01, .beta = 0.1}),
              [&](auto &w, auto &g, int) {
                for (int i = 0; i < 6; ++i) {
                  double na = v[i] + g[i] * g[i];
                  a[i] += g[i] - (std::sqrt(na) - std::sqrt(v[i])) / 0.1 * w[i];
                  double quad = std::sqrt(na) / 0.1 + 2 * (0.01 + 0.1 / (2 * 0.1));
                  w[i] = (std::clamp(a[i], -0.01, 0.01) - a[i]) / quad;
                  v[i] = na;
                }
              });
  reset();
  expectSteps(optimizers::SGD(optimizers::schedules::ExponentialDecay(0.1, 2, 0.5)),
              [](auto &w, auto &g, int t) {
                double lr = 0.1 * std::pow(0.5, (t - 1) / 2.0);
                for (int i = 0; i < 6; ++i)
                  w[i] -= lr * g[i];
              });
  reset();
  expectSteps(optimizers::SGD(0.1, {.clip = {.clipvalue = 0.05}}), [](auto &w, auto &g, int) {
    for (int i = 0; i < 6; ++i)
      w[i] -= 0.1 * std::clamp(g[i], -0.05, 0.05);
  });
  reset();
  expectSteps(optimizers::SGD(0.1, {.clip = {.clipnorm = 0.2}}), [](auto &w, auto &g, int) {
    double n = 0;
    for (double x : g)
      n += x * x;
    n = std::sqrt(n);
    for (int i = 0; i < 6; ++i)
      w[i] -= 0.1 * g[i] * 0.2 / std::max(n, 0.2);
  });
}

TEST(Schedules, MatchKerasFormulas) {
  using namespace optimizers::schedules;
  auto e = ExponentialDecay(0.1, 10, 0.5, true);
  EXPECT_DOUBLE_EQ(e(0), 0.1);
  EXPECT_DOUBLE_EQ(e(9), 0.1);
  EXPECT_DOUBLE_EQ(e(10), 0.05);
  EXPECT_NEAR(ExponentialDecay(0.1, 10, 0.5)(5), 0.1 * std::sqrt(0.5), 1e-15);
  auto p = PiecewiseConstantDecay({100, 200}, {1.0, 0.5, 0.1});
  EXPECT_EQ(p(100), 1.0);
  EXPECT_EQ(p(101), 0.5);
  EXPECT_EQ(p(201), 0.1);
  auto c = CosineDecay(1.0, 100, 0.1);
  EXPECT_NEAR(c(0), 1.0, 1e-12);
  EXPECT_NEAR(c(50), 0.55, 1e-12);
  EXPECT_NEAR(c(100), 0.1, 1e-12);
  EXPECT_NEAR(c(1000), 0.1, 1e-12);
  auto w = CosineDecay(0.0, 100, 0.0, 1.0, 10);
  EXPECT_NEAR(w(5), 0.5, 1e-12);
  EXPECT_NEAR(w(10), 1.0, 1e-12);
  EXPECT_NEAR(w(60), 0.5, 1e-12);
  EXPECT_THROW(PiecewiseConstantDecay({1}, {1.0}), Error);
}

TEST_F(Train, SeedCnnLearnsOnASlice) {
  if (!std::filesystem::exists(datasets::fashion_mnist::defaultDir()))
    GTEST_SKIP() << "Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)";
  auto data = datasets::fashion_mnist::load_test_data();
  Array x = data.x_test.rows(0, 1500);
  Array y = utils::to_categorical(data.y_test.rows(0, 1500), 10);
  auto in = Input({28, 28, 1});
  auto h = Conv2D(8, 3, {.activation = "relu"})(in);
  h = MaxPooling2D()(h);
  h = Conv2D(16, 3, {.activation = "relu"})(h);
  h = MaxPooling2D()(h);
  h = Flatten()(h);
  h = Dense(32, {.activation = "relu"})(h);
  Model m(in, Dense(10, {.activation = "softmax"})(h));
  m.compile({.optimizer = optimizers::Adam(2e-3), .loss = "categorical_crossentropy",
             .metrics = {"accuracy"}});
  History hist = m.fit(x, y, {.batch_size = 50, .epochs = 3, .verbose = 0, .seed = 3,
                              .validation_split = 0.2});
  const auto &loss = hist.history.at("loss");
  const auto &acc = hist.history.at("accuracy");
  ASSERT_EQ(loss.size(), 3u);
  EXPECT_EQ(hist.history.at("val_accuracy").size(), 3u);
  EXPECT_LT(loss[2], loss[0] * 0.8);
  EXPECT_GT(acc[2], acc[0]);
  EXPECT_GT(hist.history.at("val_accuracy").back(), 0.6); // chance is 0.1
  auto [tl, ta] = m.evaluate<2>(data.x_test.rows(5000, 6000),
                                utils::to_categorical(data.y_test.rows(5000, 6000), 10),
                                {.verbose = 0});
  EXPECT_GT(ta, 0.6);
  EXPECT_TRUE(std::isfinite(tl));
}

TEST_F(Train, DropoutDropsOnlyInTraining) {
  // x = 1 everywhere, y = 0, Dense(1) with kernel w = 1 and no bias after Dropout(0.3): the
  // gradient of each w_i is 2 * prediction * dropout(x)_i, zero exactly where x_i was dropped.
  const int64_t n = 4000;
  auto in = Input({n});
  Dense d(1, {.use_bias = false, .kernel_initializer = "ones"});
  Model m(in, d(Dropout(0.3, {.seed = 5})(in)));
  Array x({1, n}), y({1, 1});
  std::fill(x.data.begin(), x.data.end(), 1.0f);
  m.compile({.optimizer = optimizers::SGD(1e-6), .loss = "mse"});
  EXPECT_NEAR(m.predict(x).data[0], double(n), 1e-2); // inference: identity
  std::vector<std::vector<bool>> masks;
  for (int step = 0; step < 2; ++step) {
    Array before = m.get_weights()[0];
    double loss = m.train_on_batch(x, y)[0];
    Array after = m.get_weights()[0];
    std::vector<bool> kept(n);
    int64_t zeros = 0;
    double pred = std::sqrt(loss);
    for (int64_t i = 0; i < n; ++i) {
      double g = (before.data[i] - after.data[i]) / 1e-6;
      kept[i] = g != 0.0;
      zeros += !kept[i];
      if (kept[i]) // kept inputs are scaled by 1 / (1 - rate)
        EXPECT_NEAR(g, 2 * pred / 0.7, 2e-2 * 2 * pred / 0.7) << "weight " << i;
    }
    EXPECT_NEAR(double(zeros) / n, 0.3, 0.03) << "step " << step;
    masks.push_back(kept);
    m.set_weights({before}); // keep w = 1
  }
  EXPECT_NE(masks[0], masks[1]); // each step draws a new mask
}

using Shape = std::vector<int64_t>;

/// The values the layer `noise` gives an all-ones (1, n) input in one training step, read off
/// the gradient of the Dense(1, ones, no bias) after it (as DropoutDropsOnlyInTraining does):
/// dL/dw_i = 2 * prediction * noisy_i with y = 0. The weights are restored.
std::vector<double> noisyOnes(Model &m, int64_t n) {
  Array x({1, n}), y({1, 1});
  std::fill(x.data.begin(), x.data.end(), 1.0f);
  Array before = m.get_weights()[0];
  double loss = m.train_on_batch(x, y)[0];
  Array after = m.get_weights()[0];
  m.set_weights({before});
  double pred = std::sqrt(loss);
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i)
    v[i] = (before.data[i] - after.data[i]) / 1e-6 / (2 * pred);
  return v;
}

Model noiseProbe(const Layer &noise, int64_t n) {
  auto in = Input({n});
  Dense d(1, {.use_bias = false, .kernel_initializer = "ones"});
  Model m(in, d(noise(in)));
  m.compile({.optimizer = optimizers::SGD(1e-6), .loss = "mse"});
  return m;
}

// GaussianNoise and GaussianDropout: identity in predict; in training, noise of Keras'
// distribution, a new draw each step, the same draw for the same seed.
TEST_F(Train, GaussianNoiseLayersOnlyInTraining) {
  const int64_t n = 4000;
  for (bool additive : {true, false}) {
    SCOPED_TRACE(additive ? "GaussianNoise(0.5)" : "GaussianDropout(0.3)");
    backend::clear_session();
    auto make = [&](uint64_t seed) -> Layer {
      if (additive)
        return GaussianNoise(0.5, {.seed = seed});
      return GaussianDropout(0.3, {.seed = seed});
    };
    Model m = noiseProbe(make(5), n);
    Array x = random({3, n}, 51);
    auto in = Input({n});
    Model id(in, make(5)(in));
    EXPECT_EQ(id.predict(x).data, x.data); // inference: identity
    std::vector<double> a = noisyOnes(m, n), b = noisyOnes(m, n);
    // Keras: 1 + N(0, 0.5^2), or 1 * N(1, 0.3 / 0.7).
    double sd = additive ? 0.5 : std::sqrt(0.3 / 0.7);
    double mean = std::accumulate(a.begin(), a.end(), 0.0) / n, var = 0;
    for (double v : a)
      var += (v - mean) * (v - mean) / n;
    EXPECT_NEAR(mean, 1.0, 4 * sd / std::sqrt(double(n)));
    EXPECT_NEAR(std::sqrt(var), sd, 0.05 * sd);
    int64_t within = 0; // a normal's mass within one standard deviation: 0.6827
    for (double v : a)
      within += std::fabs(v - 1.0) < sd;
    EXPECT_NEAR(double(within) / n, 0.6827, 0.03);
    EXPECT_NE(a, b); // each step draws anew
    backend::clear_session();
    Model again = noiseProbe(make(5), n), other = noiseProbe(make(6), n);
    std::vector<double> a2 = noisyOnes(again, n), o = noisyOnes(other, n);
    for (int64_t i = 0; i < n; ++i)
      EXPECT_NEAR(a2[i], a[i], 1e-3 * (1 + std::fabs(a[i]))) << i;
    EXPECT_GT(std::fabs(o[0] - a[0]) + std::fabs(o[1] - a[1]), 1e-3); // another seed
  }
}

// SpatialDropout2D drops whole channels: one draw per sample and channel.
TEST_F(Train, SpatialDropout2DDropsChannels) {
  for (const char *format : {"channels_last", "channels_first"}) {
    SCOPED_TRACE(format);
    backend::clear_session();
    bool last = std::string(format) == "channels_last";
    const int64_t c = 2000;
    Shape shape = last ? Shape{2, 3, c} : Shape{c, 2, 3};
    auto in = Input(shape);
    SpatialDropout2D drop(0.4, {.data_format = format, .seed = 9});
    Model id(in, drop(in));
    Array x = random({2, shape[0], shape[1], shape[2]}, 52);
    EXPECT_EQ(id.predict(x).data, x.data);
    auto in2 = Input(shape);
    Dense d(1, {.use_bias = false, .kernel_initializer = "ones"});
    Model m(in2, d(Flatten()(SpatialDropout2D(0.4, {.data_format = format, .seed = 9})(in2))));
    m.compile({.optimizer = optimizers::SGD(1e-6), .loss = "mse"});
    Array ones({1, shape[0], shape[1], shape[2]}), y({1, 1});
    std::fill(ones.data.begin(), ones.data.end(), 1.0f);
    Array before = m.get_weights()[0];
    double pred = std::sqrt(m.train_on_batch(ones, y)[0]);
    Array after = m.get_weights()[0];
    int64_t dropped = 0;
    for (int64_t ch = 0; ch < c; ++ch) {
      std::vector<double> vals;
      for (int64_t p = 0; p < 6; ++p) {
        int64_t i = last ? p * c + ch : ch * 6 + p;
        vals.push_back((before.data[i] - after.data[i]) / 1e-6 / (2 * pred));
      }
      for (double v : vals) // the whole channel: dropped, or kept and scaled by 1 / 0.6
        EXPECT_NEAR(v, vals[0], 2e-2 / 0.6) << "channel " << ch;
      if (std::fabs(vals[0]) < 0.5)
        ++dropped;
      else
        EXPECT_NEAR(vals[0], 1 / 0.6, 2e-2 / 0.6) << "channel " << ch;
    }
    EXPECT_NEAR(double(dropped) / c, 0.4, 0.04);
  }
}

// The gradient through the noise layers uses the forward pass's draw: with W = I before the
// layer and Dense(1, ones) after it, dL/dW_ji = 2 * prediction * noise_i, the same values the
// Dense after it sees (GaussianDropout, SpatialDropout2D), or 2 * prediction (GaussianNoise).
TEST_F(Train, GradientThroughNoiseLayers) {
  const int64_t n = 32;
  for (const char *cls : {"GaussianNoise", "GaussianDropout", "SpatialDropout2D"}) {
    SCOPED_TRACE(cls);
    backend::clear_session();
    std::string k = cls;
    Shape shape = k == "SpatialDropout2D" ? Shape{1, 1, n} : Shape{n};
    auto in = Input(shape);
    Layer noise = k == "GaussianNoise"     ? Layer(GaussianNoise(0.7, {.seed = 3}))
                  : k == "GaussianDropout" ? Layer(GaussianDropout(0.4, {.seed = 3}))
                                           : Layer(SpatialDropout2D(0.4, {.seed = 3}));
    Dense first(n, {.use_bias = false});
    Dense second(1, {.use_bias = false, .kernel_initializer = "ones"});
    Model m(in, second(Flatten()(noise(first(in)))));
    Array eye({n, n});
    for (int64_t i = 0; i < n; ++i)
      eye.data[i * n + i] = 1.0f;
    first.set_weights({eye});
    m.compile({.optimizer = optimizers::SGD(1e-6), .loss = "mse"});
    Shape xs = {1};
    xs.insert(xs.end(), shape.begin(), shape.end());
    Array x(xs);
    std::fill(x.data.begin(), x.data.end(), 1.0f);
    std::vector<Array> before = m.get_weights();
    double pred = std::sqrt(m.train_on_batch(x, Array({1, 1}))[0]);
    std::vector<Array> after = m.get_weights();
    for (int64_t i = 0; i < n; ++i) {
      double seen = (before[1].data[i] - after[1].data[i]) / 1e-6 / (2 * pred);
      double through = k == "GaussianNoise" ? 1.0 : seen;
      for (int64_t j = 0; j < n; ++j)
        EXPECT_NEAR((before[0].data[j * n + i] - after[0].data[j * n + i]) / 1e-6 / (2 * pred),
                    through, 2e-2 * (1 + std::fabs(through)))
            << "W[" << j << ", " << i << "]";
    }
  }
}

TEST_F(Train, EvaluateMatchesPredictAndMetrics) {
  auto in = Input({4});
  Model m(in, Dense(3, {.activation = "softmax"})(in));
  m.compile({.optimizer = "adam", .loss = "sparse_categorical_crossentropy",
             .metrics = {"accuracy", "sparse_top_k_categorical_accuracy"}});
  EXPECT_EQ(m.metrics_names(),
            (std::vector<std::string>{"loss", "accuracy", "sparse_top_k_categorical_accuracy"}));
  Array x = random({37, 4}, 5);
  Array labels({37});
  for (int i = 0; i < 37; ++i)
    labels.data[i] = i % 3;
  Array p = m.predict(x);
  double loss = 0, correct = 0;
  for (int i = 0; i < 37; ++i) {
    const float *r = p.ptr() + i * 3;
    loss -= std::log(r[i % 3]);
    correct += (std::max_element(r, r + 3) - r) == i % 3;
  }
  std::vector<double> got = m.evaluate(x, labels, {.batch_size = 10, .verbose = 0});
  EXPECT_NEAR(got[0], loss / 37, 1e-5);
  EXPECT_NEAR(got[1], correct / 37, 1e-9);
  EXPECT_NEAR(got[2], 1.0, 1e-9); // top 5 of 3 classes
}

TEST_F(Train, FitOptions) {
  auto in = Input({3});
  Model m(in, Dense(2, {.activation = "softmax"})(in));
  m.compile({.optimizer = optimizers::SGD(0.1), .loss = "categorical_crossentropy",
             .metrics = {"accuracy"}});
  Array x = random({40, 3}, 1);
  Array y = utils::to_categorical(Array({40}), 2);
  for (int i = 0; i < 40; ++i)
    y.data[i * 2] = i % 3 == 0, y.data[i * 2 + 1] = i % 3 != 0;
  // initial_epoch, validation_data, steps_per_epoch
  History h = m.fit(x, y, {.batch_size = 8, .epochs = 3, .verbose = 0, .seed = 1,
                           .validation_x = {x.rows(0, 10)}, .validation_y = {y.rows(0, 10)},
                           .initial_epoch = 1, .steps_per_epoch = 2});
  EXPECT_EQ(h.epoch, (std::vector<int>{1, 2}));
  EXPECT_EQ(h.history.at("val_loss").size(), 2u);
  EXPECT_EQ(h.history.at("val_accuracy").size(), 2u);

  // A zero sample weight removes a sample from the gradient; class weights scale by label.
  std::vector<Array> w0 = m.get_weights();
  Array sw({40});
  for (int i = 0; i < 40; ++i)
    sw.data[i] = i < 20 ? 1.0f : 0.0f;
  m.fit(x, y, {.batch_size = 40, .epochs = 1, .verbose = 0, .shuffle = false,
               .sample_weight = sw});
  std::vector<Array> viaWeights = m.get_weights();
  m.set_weights(w0);
  m.compile({.optimizer = optimizers::SGD(0.1), .loss = "categorical_crossentropy"});
  // The same step from the first 20 samples alone, with the loss still averaged over 40.
  Array xs = x.rows(0, 20), ys = y.rows(0, 20);
  m.fit(xs, ys, {.batch_size = 20, .epochs = 1, .verbose = 0, .shuffle = false});
  std::vector<Array> viaHalf = m.get_weights();
  for (size_t i = 0; i < w0.size(); ++i)
    for (int64_t j = 0; j < w0[i].size(); ++j) // half the data, half the mean's weight
      EXPECT_NEAR(viaWeights[i].data[j] - w0[i].data[j],
                  0.5 * (viaHalf[i].data[j] - w0[i].data[j]), 1e-6);
  m.set_weights(w0);
  m.compile({.optimizer = optimizers::SGD(0.1), .loss = "categorical_crossentropy"});
  m.fit(x, y, {.batch_size = 40, .epochs = 1, .verbose = 0, .shuffle = false,
               .class_weight = {{0, 0.0}, {1, 1.0}}});
  std::vector<Array> viaClass = m.get_weights();
  Array swClass({40});
  for (int i = 0; i < 40; ++i)
    swClass.data[i] = i % 3 != 0;
  m.set_weights(w0);
  m.compile({.optimizer = optimizers::SGD(0.1), .loss = "categorical_crossentropy"});
  m.fit(x, y, {.batch_size = 40, .epochs = 1, .verbose = 0, .shuffle = false,
               .sample_weight = swClass});
  std::vector<Array> viaSw = m.get_weights();
  for (size_t i = 0; i < w0.size(); ++i)
    for (int64_t j = 0; j < w0[i].size(); ++j)
      EXPECT_NEAR(viaClass[i].data[j], viaSw[i].data[j], 1e-7);
}

TEST_F(Train, CallbacksSeeEveryHookStopAndChangeTheRate) {
  struct Recorder : Callback {
    std::vector<std::string> calls;
    int stopAfterEpoch = 1;
    void on_train_begin(Logs &) override { calls.push_back("train_begin"); }
    void on_train_end(Logs &) override { calls.push_back("train_end"); }
    void on_epoch_begin(int e, Logs &) override {
      calls.push_back("epoch_begin " + std::to_string(e));
    }
    void on_epoch_end(int e, Logs &logs) override {
      calls.push_back("epoch_end " + std::to_string(e) + (logs.count("val_loss") ? " val" : ""));
      model->optimizer().learning_rate *= 0.5;
      if (e == stopAfterEpoch)
        model->stop_training(true);
    }
    void on_train_batch_end(int64_t b, Logs &logs) override {
      calls.push_back("batch_end " + std::to_string(b) + (logs.count("loss") ? " loss" : ""));
    }
    void on_test_begin(Logs &) override { calls.push_back("test_begin"); }
  };
  auto in = Input({3});
  Model m(in, Dense(1)(in));
  m.compile({.optimizer = optimizers::SGD(0.1), .loss = "mse"});
  auto rec = std::make_shared<Recorder>();
  Array x = random({8, 3}, 1), y = random({8, 1}, 2);
  History h = m.fit(x, y, {.batch_size = 4, .epochs = 5, .verbose = 0,
                           .validation_x = {x}, .validation_y = {y}, .callbacks = {rec}});
  EXPECT_EQ(h.epoch.size(), 2u); // stopped after epoch index 1
  EXPECT_NEAR(m.optimizer().learning_rate, 0.025, 1e-12);
  EXPECT_EQ(m.iterations(), 4);
  // Validation runs between the epoch's batches and on_epoch_end, with the test hooks (Keras'
  // fit calls evaluate with its own callbacks).
  std::vector<std::string> want = {"train_begin",      "epoch_begin 0",    "batch_end 0 loss",
                                   "batch_end 1 loss", "test_begin",       "epoch_end 0 val",
                                   "epoch_begin 1",    "batch_end 0 loss", "batch_end 1 loss",
                                   "test_begin",       "epoch_end 1 val",  "train_end"};
  EXPECT_EQ(rec->calls, want);
  auto test = std::make_shared<Recorder>();
  m.evaluate(x, y, {.verbose = 0, .callbacks = {test}});
  EXPECT_EQ(test->calls, (std::vector<std::string>{"test_begin"}));
}

TEST(DataUtils, ToCategoricalAndNormalize) {
  Array y = utils::to_categorical(Array({3, 1}, {2, 0, 1}));
  EXPECT_EQ(y.shape, (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(y.data, (std::vector<float>{0, 0, 1, 1, 0, 0, 0, 1, 0}));
  EXPECT_EQ(utils::to_categorical(Array({2}, {1, 0}), 4).shape, (std::vector<int64_t>{2, 4}));
  EXPECT_THROW(utils::to_categorical(Array({1}, {1.5f})), std::invalid_argument);
  EXPECT_THROW(utils::to_categorical(Array({1}, {5}), 3), std::invalid_argument);
  Array n = utils::normalize(Array({2, 2}, {3, 4, 0, 0}));
  EXPECT_NEAR(n.data[0], 0.6, 1e-7);
  EXPECT_NEAR(n.data[1], 0.8, 1e-7);
  EXPECT_EQ(n.data[2], 0.0f);
}

template <typename F> void expectError(F f, const std::string &text) {
  try {
    f();
    FAIL() << "no kiln::Error thrown";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

TEST_F(Train, BadInputIsAClearError) {
  auto in = Input({4});
  Model m(in, Dense(3, {.activation = "softmax"})(in));
  Array x = random({10, 4}, 1), y = utils::to_categorical(Array({10}), 3);
  expectError([&] { m.fit(x, y); }, "fit() needs compile() first");
  expectError([] { optimizers::Optimizer("adamax2"); }, "unknown optimizer 'adamax2'");
  expectError([] { losses::Loss("mean_squarred_error"); }, "unknown loss");
  m.compile({.optimizer = "sgd", .loss = "categorical_crossentropy"});
  expectError([&] { m.fit(x, y.rows(0, 9), {.verbose = 0}); },
              "x has 10 samples but y has shape (9, 3)");
  expectError([&] { m.fit(x, Array({10}), {.verbose = 0}); },
              "loss 'categorical_crossentropy' needs targets shaped like the output (None, 3), "
              "got y of shape (10,)");
  m.compile({.optimizer = "sgd", .loss = "sparse_categorical_crossentropy"});
  Array labels({10}, {0, 1, 2, 0, 1, 2, 3, 0, 1, 2});
  expectError([&] { m.fit(x, labels, {.verbose = 0}); },
              "label 3 of sample 6 is not a class index in [0, 3)");
  expectError([&] { m.compile({.optimizer = "sgd", .loss = "mse", .metrics = {"acuracy"}}); },
              "unknown metric 'acuracy'");
  expectError([&] { m.compile({.optimizer = "sgd", .loss = "mse", .device = "tpu"}); },
              "unknown device 'tpu' (kiln has \"cpu\" and \"gpu\")");
  expectError([&] { m.set_device("tpu"); }, "unknown device 'tpu'");
  // Without a GPU (CI), asking for one is one clear error and the model stays usable on the CPU.
  if (kiln_gpu_init() != KILN_GPU_OK) {
    expectError([&] { m.compile({.optimizer = "sgd", .loss = "mse", .device = "gpu"}); },
                "device \"gpu\": no usable GPU: ");
    expectError([&] { m.set_device("gpu"); }, "device \"gpu\": no usable GPU: ");
    m.compile({.optimizer = "sgd", .loss = "mse"});
    EXPECT_EQ(m.fit(x, y, {.epochs = 1, .verbose = 0}).history.at("loss").size(), 1u);
  }
}

TEST_F(Train, NonFiniteLossStopsAndKeepsTheWeights) {
  auto in = Input({2});
  Model m(in, Dense(1)(in));
  m.compile({.optimizer = optimizers::SGD(0.01), .loss = "mse"});
  Array x = random({8, 2}, 1), y = random({8, 1}, 2);
  x.data[11] = std::nanf(""); // sample 5, batch 2 of 4 without shuffling
  std::vector<Array> before;
  try {
    m.fit(x, y, {.batch_size = 2, .epochs = 1, .verbose = 0, .shuffle = false});
    FAIL() << "no error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("the loss became NaN at epoch 1, batch 3 of 4"),
              std::string::npos)
        << e.what();
  }
  for (const Array &w : m.get_weights())
    for (float v : w.data)
      EXPECT_TRUE(std::isfinite(v));
}

} // namespace

namespace {

TEST_F(Train, BatchNormalizationTrainsWithBatchStatistics) {
  backend::clear_session();
  auto in = Input({3});
  BatchNormalization bn({.momentum = 0.9, .epsilon = 1e-3});
  Model m(in, Dense(1)(bn(in)));
  EXPECT_EQ(bn.weight_names(),
            (std::vector<std::string>{"batch_normalization/gamma:0", "batch_normalization/beta:0",
                                      "batch_normalization/moving_mean:0",
                                      "batch_normalization/moving_variance:0"}));
  EXPECT_NE(m.summary_string().find("Non-trainable params: 6 (24.00 Byte)"), std::string::npos)
      << m.summary_string();
  Array x = random({8, 3}, 4, -2, 3);
  // Inference: the moving statistics (0 and 1 at first).
  Array gamma({3}, {1.5f, 0.5f, 2.0f}), beta({3}, {0.1f, -0.2f, 0.3f});
  Array mm({3}, {0.5f, -0.5f, 1.0f}), mv({3}, {2.0f, 0.5f, 1.0f});
  bn.set_weights({gamma, beta, mm, mv});
  Array w({3, 1}, {1.0f, 1.0f, 1.0f}), b({1}, {0.0f});
  m.get_layer("dense").set_weights({w, b});
  Array p = m.predict(x);
  for (int i = 0; i < 8; ++i) {
    double want = 0;
    for (int c = 0; c < 3; ++c)
      want += gamma.data[c] * (x.data[i * 3 + c] - mm.data[c]) / std::sqrt(mv.data[c] + 1e-3) +
              beta.data[c];
    EXPECT_NEAR(p.data[i], want, 1e-4);
  }
  // One training step: the moving statistics move toward the batch's (biased variance), with
  // the momentum; gamma and beta are trained.
  m.compile({.optimizer = optimizers::SGD(0.1), .loss = "mse"});
  m.train_on_batch(x, random({8, 1}, 5));
  std::vector<Array> after = bn.get_weights();
  for (int c = 0; c < 3; ++c) {
    double mean = 0, var = 0;
    for (int i = 0; i < 8; ++i)
      mean += x.data[i * 3 + c] / 8.0;
    for (int i = 0; i < 8; ++i)
      var += std::pow(x.data[i * 3 + c] - mean, 2) / 8.0;
    EXPECT_NEAR(after[2].data[c], 0.9 * mm.data[c] + 0.1 * mean, 1e-5);
    EXPECT_NEAR(after[3].data[c], 0.9 * mv.data[c] + 0.1 * var, 1e-5);
    EXPECT_NE(after[0].data[c], gamma.data[c]);
  }
  // Gradients through the batch statistics, against finite differences of the training-mode
  // loss: read it with a tiny SGD step's loss output.
  auto lossAt = [&](const std::vector<Array> &ws) {
    m.set_weights(ws);
    m.compile({.optimizer = optimizers::SGD(1e-30), .loss = "mse"});
    return m.train_on_batch(x, Array({8, 1}))[0];
  };
  std::vector<Array> w0 = m.get_weights();
  m.compile({.optimizer = optimizers::SGD(1.0), .loss = "mse"});
  m.set_weights(w0);
  m.train_on_batch(x, Array({8, 1}));
  std::vector<Array> w1 = m.get_weights();
  std::vector<Array> plus = w0, minus = w0;
  double dot = 0, scale = 0, h = 1e-3;
  for (size_t i = 0; i < w0.size(); ++i) {
    if (i == 2 || i == 3)
      continue; // moving statistics: not trained
    for (int64_t j = 0; j < w0[i].size(); ++j) {
      double e = (j % 2 ? 1.0 : -0.5);
      double g = w0[i].data[j] - w1[i].data[j];
      plus[i].data[j] += float(h * e), minus[i].data[j] -= float(h * e);
      dot += g * e, scale += std::fabs(g * e);
    }
  }
  double fd = (lossAt(plus) - lossAt(minus)) / (2 * h);
  EXPECT_NEAR(fd, dot, 2e-2 * scale + 1e-4);
}

//===----------------------------------------------------------------------===//
// trainable = false, regularizers, constraints.
//===----------------------------------------------------------------------===//

TEST_F(Train, FrozenLayersKeepTheirWeights) {
  auto in = Input({4});
  Dense base(8, {.activation = "tanh", .name = "base"});
  BatchNormalization bn({.name = "bn"});
  Dense head(2, {.name = "head"});
  Model m(in, head(bn(base(in))));
  base.set_trainable(false);
  bn.set_trainable(false);
  bn.set_weights({Array({8}, std::vector<float>(8, 1.5f)), Array({8}, std::vector<float>(8, 0.1f)),
                  Array({8}, std::vector<float>(8, 0.2f)), Array({8}, std::vector<float>(8, 2.f))});
  std::vector<Array> b0 = base.get_weights(), n0 = bn.get_weights(), h0 = head.get_weights();
  m.compile({.optimizer = optimizers::Adam(0.01), .loss = "mse"});
  Array x = random({64, 4}, 11), y = random({64, 2}, 12);
  // A frozen BatchNormalization runs in inference mode (Keras): the training loss equals the
  // evaluate loss, and the moving statistics stay.
  double evalLoss = m.evaluate(x, y, {.batch_size = 64, .verbose = 0})[0];
  double trainLoss = m.train_on_batch(x, y)[0];
  EXPECT_NEAR(trainLoss, evalLoss, 1e-5);
  m.fit(x, y, {.batch_size = 16, .epochs = 2, .verbose = 0, .shuffle = false});
  for (size_t i = 0; i < b0.size(); ++i)
    EXPECT_EQ(base.get_weights()[i].data, b0[i].data) << i;
  for (size_t i = 0; i < n0.size(); ++i)
    EXPECT_EQ(bn.get_weights()[i].data, n0[i].data) << i;
  EXPECT_NE(head.get_weights()[0].data, h0[0].data);
  // As in Keras, the flag is read at compile(): changing it needs a new compile().
  base.set_trainable(true);
  EXPECT_THROW(m.fit(x, y, {.batch_size = 16, .epochs = 1, .verbose = 0}), Error);
  m.compile({.optimizer = optimizers::Adam(0.01), .loss = "mse"});
  m.fit(x, y, {.batch_size = 16, .epochs = 1, .verbose = 0});
  EXPECT_NE(base.get_weights()[0].data, b0[0].data);
}

TEST_F(Train, RegularizersAddKerasPenaltiesToTheLoss) {
  auto in = Input({3});
  Dense hidden(5, {.activation = "tanh",
                   .kernel_regularizer = regularizers::L1L2(0.01, 0.02),
                   .bias_regularizer = regularizers::L2(0.5)});
  Dense out(2, {.bias_regularizer = regularizers::L1(0.3),
                .activity_regularizer = regularizers::l1_l2(0.002, 0.003)});
  Model m(in, out(hidden(in)));
  std::vector<Array> w = m.get_weights();
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = random(w[i].shape, 40 + i);
  m.set_weights(w);
  Array x = random({40, 3}, 21), y = random({40, 2}, 22);
  Array p = m.predict(x);
  double mse = 0, act = 0;
  for (int64_t i = 0; i < p.size(); ++i) {
    mse += std::pow(double(p.data[i]) - y.data[i], 2) / double(p.size());
    act += 0.002 * std::fabs(p.data[i]) + 0.003 * double(p.data[i]) * p.data[i];
  }
  auto sum = [](const Array &a, bool squares) {
    double s = 0;
    for (float v : a.data)
      s += squares ? double(v) * v : std::fabs(v);
    return s;
  };
  double weights = 0.01 * sum(w[0], false) + 0.02 * sum(w[0], true) + 0.5 * sum(w[1], true) +
                   0.3 * sum(w[3], false);
  double want = mse + act + weights;
  m.compile({.optimizer = optimizers::SGD(1e-30), .loss = "mse"});
  EXPECT_NEAR(m.evaluate(x, y, {.batch_size = 40, .verbose = 0})[0], want, 1e-5 * want);
  EXPECT_NEAR(m.train_on_batch(x, y)[0], want, 1e-5 * want);
  // The gradient of the whole loss, penalties included, against finite differences.
  checkGradient(m, "mse", {x}, {y});
}

TEST_F(Train, ConstraintsFollowKerasAfterEachUpdate) {
  // The same SGD step with and without the constraint; the constrained weights must be
  // Keras' formula applied to the unconstrained ones.
  struct Case {
    Constraint c;
    bool onKernel;
  };
  std::vector<Case> cases = {{constraints::MaxNorm(0.6), true},
                             {constraints::MaxNorm(0.6, {1}), true},
                             {constraints::NonNeg(), true},
                             {constraints::NonNeg(), false},
                             {constraints::UnitNorm(), true},
                             {constraints::UnitNorm({0, 1}), true},
                             {constraints::MinMaxNorm(0.8, 0.9, 0.5), true},
                             {constraints::MaxNorm(0.1), false}};
  Array x = random({16, 4}, 31), y = random({16, 3}, 32);
  Array k0 = random({4, 3}, 33), b0 = random({3}, 34);
  for (const Case &c : cases) {
    SCOPED_TRACE(c.c.name + (c.onKernel ? " kernel" : " bias"));
    backend::clear_session();
    auto train = [&](std::optional<Constraint> con) {
      auto in = Input({4});
      DenseOptions o;
      (c.onKernel ? o.kernel_constraint : o.bias_constraint) = con;
      Dense d(3, o);
      Model m(in, d(in));
      d.set_weights({k0, b0});
      m.compile({.optimizer = optimizers::SGD(0.5), .loss = "mse"});
      m.train_on_batch(x, y);
      return d.get_weights()[c.onKernel ? 0 : 1];
    };
    Array free = train(std::nullopt), got = train(c.c);
    // Keras: norms over `axis` with keepdims, epsilon 1e-7.
    Array want = free;
    const std::vector<int64_t> shape = free.shape;
    auto at = [&](int64_t i, int64_t j) { return shape.size() == 2 ? i * shape[1] + j : i; };
    int64_t rows = shape[0], cols = shape.size() == 2 ? shape[1] : 1;
    if (c.c.name == "non_neg") {
      for (float &v : want.data)
        v = v >= 0 ? v : 0.0f;
    } else {
      bool all = c.c.axis.size() == 2, overRows = c.c.axis[0] == 0 && !all;
      auto apply = [&](std::vector<int64_t> idx) {
        double n = 0;
        for (int64_t i : idx)
          n += double(free.data[i]) * free.data[i];
        n = std::sqrt(n);
        double desired = n;
        if (c.c.name == "max_norm")
          desired = std::clamp(n, 0.0, c.c.max_value);
        else if (c.c.name == "min_max_norm")
          desired = c.c.rate * std::clamp(n, c.c.min_value, c.c.max_value) + (1 - c.c.rate) * n;
        double f = c.c.name == "unit_norm" ? 1.0 / (1e-7 + n) : desired / (1e-7 + n);
        for (int64_t i : idx)
          want.data[i] = float(free.data[i] * f);
      };
      if (all || shape.size() == 1) {
        std::vector<int64_t> idx(free.size());
        std::iota(idx.begin(), idx.end(), 0);
        apply(idx);
      } else if (overRows) {
        for (int64_t j = 0; j < cols; ++j) {
          std::vector<int64_t> idx;
          for (int64_t i = 0; i < rows; ++i)
            idx.push_back(at(i, j));
          apply(idx);
        }
      } else {
        for (int64_t i = 0; i < rows; ++i) {
          std::vector<int64_t> idx;
          for (int64_t j = 0; j < cols; ++j)
            idx.push_back(at(i, j));
          apply(idx);
        }
      }
    }
    ASSERT_EQ(got.shape, want.shape);
    for (int64_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got.data[i], want.data[i], 1e-6) << i;
    EXPECT_NE(got.data, free.data);
  }
}

TEST_F(Train, GradientConv1DAndPooling1D) {
  {
    auto in = Input({12, 4});
    Tensor t = Conv1D(4, 3, {.padding = "causal", .dilation_rate = 2, .activation = "tanh"})(in);
    t = Conv1D(6, 2, {.strides = 2, .padding = "same", .groups = 2})(t);
    t = MaxPooling1D(2, {.strides = 1, .padding = "same"})(t);
    t = AveragePooling1D(2)(t);
    Model m(in, Dense(2)(Flatten()(t)));
    checkGradient(m, "mse", {random({5, 12, 4}, 61)}, {random({5, 2}, 62)});
  }
}

TEST_F(Train, GradientDilatedGroupedDepthwiseSeparableTransposedConv) {
  {
    auto in = Input({6, 6, 4});
    Tensor t = Conv2D(4, 3, {.padding = "same", .dilation_rate = {2, 2}, .groups = 2,
                             .activation = "tanh"})(in);
    t = DepthwiseConv2D(3, {.strides = {2, 2}, .padding = "same", .depth_multiplier = 2})(t);
    t = SeparableConv2D(3, 2, {.padding = "same", .depth_multiplier = 2,
                               .activation = "tanh"})(t);
    t = Conv2DTranspose(3, 3, {.strides = {2, 2}, .padding = "same"})(t);
    t = Conv2DTranspose(2, 2, {.strides = {3, 3}})(t);
    Model m(in, Dense(2)(GlobalAveragePooling2D()(t)));
    checkGradient(m, "mse", {random({2, 6, 6, 4}, 63)}, {random({2, 2}, 64)});
  }
}

// Dot, and Dense on rank-3 inputs (its kernel gradient sums over batch and steps).
TEST_F(Train, GradientDot) {
  {
    auto a = Input({5}), b = Input({3, 4}), c = Input({4, 2});
    Tensor d1 = Dot(1, {.normalize = true})({Dense(3, {.activation = "tanh"})(a),
                                             Dense(3)(a)});
    Tensor q = Dense(4)(b);
    Tensor d2 = Dot({2, 1})({q, Dense(2)(c)});
    Tensor d3 = Dot({2, 2}, {.normalize = true})({q, Dense(4)(Permute({2, 1})(c))});
    Model m({a, b, c}, Concatenate()({d1, Flatten()(d2), Flatten()(d3)}));
    checkGradient(m, "mse", {random({4, 5}, 65), random({4, 3, 4}, 66), random({4, 4, 2}, 67)},
                  {random({4, 1 + 6 + 6}, 68)});
  }
}

} // namespace
