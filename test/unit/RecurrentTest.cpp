//===- RecurrentTest.cpp - Embedding, SimpleRNN, LSTM and GRU in the builder API -===//
//
// Shapes, Keras' weight layouts, names and parameter counts, the defaults (orthogonal recurrent
// kernels, LSTM's forget-gate bias of 1), return_state's extra outputs through the functional
// API and Keras configs (tensor indices in references), errors, Embedding's index checks, and
// the weights through a .h5 file. test/golden checks the numbers against Keras.
//
//===----------------------------------------------------------------------===//
#include "kiln/kiln.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <random>

#include <unistd.h>

using namespace kiln;
using namespace kiln::layers;
using json = nlohmann::json;
using Shape = std::vector<int64_t>;

namespace {

class Recurrent : public ::testing::Test {
protected:
  void SetUp() override {
    backend::clear_session();
    utils::set_random_seed(5);
  }
};

template <typename F> void expectError(F f, const std::string &layer, const std::string &text) {
  try {
    f();
    FAIL() << "no kiln::Error thrown";
  } catch (const Error &e) {
    EXPECT_EQ(e.layer(), layer) << e.what();
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

Array tokens(int64_t n, int64_t steps, int64_t vocab, unsigned seed) {
  Array a({n, steps});
  std::mt19937 g(seed);
  for (float &v : a.data)
    v = float(g() % vocab);
  return a;
}

TEST_F(Recurrent, ShapesWeightsAndKerasParamCounts) {
  auto ids = Input({10});
  Embedding emb(1000, 16);
  auto e = emb(ids);
  EXPECT_EQ(e.shape(), (Shape{-1, 10, 16}));
  EXPECT_EQ(emb.count_params(), 16000);
  EXPECT_EQ(emb.weight_names(), (std::vector<std::string>{"embedding/embeddings:0"}));

  SimpleRNN rnn(8, {.return_sequences = true});
  LSTM lstm(32);
  GRU gru(32), gruBefore(32, {.reset_after = false});
  EXPECT_EQ(rnn(e).shape(), (Shape{-1, 10, 8}));
  EXPECT_EQ(lstm(e).shape(), (Shape{-1, 32}));
  EXPECT_EQ(gru(e).shape(), (Shape{-1, 32}));
  gruBefore(e);
  // Keras' counts: SimpleRNN u(in + u + 1), LSTM 4u(in + u + 1), GRU 3u(in + u + 2) with
  // reset_after, 3u(in + u + 1) without.
  EXPECT_EQ(rnn.count_params(), 8 * (16 + 8 + 1));
  EXPECT_EQ(lstm.count_params(), 6272);
  EXPECT_EQ(gru.count_params(), 4800);
  EXPECT_EQ(gruBefore.count_params(), 4704);
  EXPECT_EQ(lstm.weight_names(),
            (std::vector<std::string>{"lstm/lstm_cell/kernel:0", "lstm/lstm_cell/recurrent_kernel:0",
                                      "lstm/lstm_cell/bias:0"}));
  std::vector<Array> w = lstm.get_weights();
  EXPECT_EQ(w[0].shape, (Shape{16, 128}));
  EXPECT_EQ(w[1].shape, (Shape{32, 128}));
  EXPECT_EQ(w[2].shape, (Shape{128}));
  // unit_forget_bias: the f gate's quarter of the bias is 1, the rest bias_initializer's 0.
  for (int64_t i = 0; i < 128; ++i)
    EXPECT_EQ(w[2].data[i], i >= 32 && i < 64 ? 1.0f : 0.0f) << i;
  EXPECT_EQ(gru.get_weights()[2].shape, (Shape{2, 96}));
  EXPECT_EQ(gruBefore.get_weights()[2].shape, (Shape{96}));
  // The recurrent kernel is orthogonal by default: each gate's (u, u) block has orthonormal
  // columns, as Keras' Orthogonal on (u, 4u) has orthonormal rows.
  const Array &u = w[1];
  for (int64_t r = 0; r < 32; ++r)
    for (int64_t s = r; s < 32; ++s) {
      double dot = 0;
      for (int64_t j = 0; j < 128; ++j)
        dot += double(u.data[r * 128 + j]) * u.data[s * 128 + j];
      EXPECT_NEAR(dot, r == s ? 1.0 : 0.0, 1e-5) << r << ", " << s;
    }
}

TEST_F(Recurrent, OrthogonalInitializer) {
  for (Shape shape : {Shape{6, 6}, Shape{4, 9}, Shape{9, 4}, Shape{2, 3, 5}}) {
    Array q = initializers::Orthogonal(2.0, 7)(shape);
    int64_t c = shape.back(), r = q.size() / c;
    // The smaller side is orthogonal with norm gain: Q^T Q or Q Q^T = gain^2 I.
    bool tall = r >= c;
    int64_t n = tall ? c : r;
    for (int64_t a = 0; a < n; ++a)
      for (int64_t b = 0; b < n; ++b) {
        double dot = 0;
        for (int64_t k = 0; k < (tall ? r : c); ++k)
          dot += tall ? double(q.data[k * c + a]) * q.data[k * c + b]
                      : double(q.data[a * c + k]) * q.data[b * c + k];
        EXPECT_NEAR(dot, a == b ? 4.0 : 0.0, 1e-5);
      }
    EXPECT_EQ(initializers::Orthogonal(2.0, 7)(shape).data, q.data) << "seeded";
  }
  expectError([] { initializers::Orthogonal()({5}); }, "", "rank 2 or more");
}

TEST_F(Recurrent, ReturnStateThroughTheFunctionalApi) {
  auto x = Input({5, 3});
  LSTM lstm(4, {.return_sequences = true, .return_state = true});
  std::vector<Tensor> out = lstm.call_all(x);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].shape(), (Shape{-1, 5, 4}));
  EXPECT_EQ(out[1].shape(), (Shape{-1, 4}));
  EXPECT_EQ(out[2].shape(), (Shape{-1, 4}));
  auto y = Dense(2)(out[2]);
  Model m({x}, {out[0], out[1], y}, {.name = "states"});
  EXPECT_EQ(m.layers().size(), 3u);
  std::string s = m.summary_string();
  // Keras lists every output's shape, wrapped at "),".
  EXPECT_NE(s.find("lstm (LSTM)                 [(None, 5, 4),"), std::string::npos) << s;
  EXPECT_NE(s.find("(None, 4)]"), std::string::npos) << s;
  EXPECT_NE(s.find("'lstm[0][2]'"), std::string::npos) << s;

  Array xs({2, 5, 3});
  for (int64_t i = 0; i < xs.size(); ++i)
    xs.data[i] = std::sin(0.3f * i);
  std::vector<Array> ys = m.predict(std::vector<Array>{xs});
  ASSERT_EQ(ys.size(), 3u);
  // The state h is the last step of the sequence.
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t k = 0; k < 4; ++k)
      EXPECT_EQ(ys[1].data[n * 4 + k], ys[0].data[n * 20 + 16 + k]);

  for (bool keras2 : {false, true}) {
    backend::clear_session();
    std::string text = m.to_json(-1, keras2);
    json c = json::parse(text);
    EXPECT_EQ(c["config"]["output_layers"][1], json::parse(R"(["lstm", 0, 1])"));
    Model back = model_from_json(text);
    EXPECT_EQ(back.to_json(-1, keras2), text);
    back.set_weights(m.get_weights());
    std::vector<Array> again = back.predict(std::vector<Array>{xs});
    for (size_t o = 0; o < ys.size(); ++o)
      EXPECT_EQ(again[o].data, ys[o].data) << o;
  }

  expectError([&] { lstm(x); }, "lstm", "call it with call_all(x)");
  Sequential seq;
  expectError([&] { seq.add(GRU(3, {.return_state = true, .name = "g"})); }, seq.name(),
              "use the functional API");
}

TEST_F(Recurrent, KerasConfigsRoundTripAndRead) {
  Sequential m({Input({6}), Embedding(20, 4, {.embeddings_initializer = "he_uniform"}),
                GRU(5, {.return_sequences = true, .go_backwards = true, .reset_after = false}),
                LSTM(3, {.activation = "relu", .return_sequences = true, .unroll = true}),
                SimpleRNN(2, {.use_bias = false})});
  for (bool keras2 : {false, true}) {
    backend::clear_session();
    std::string text = m.to_json(-1, keras2);
    Model back = model_from_json(text);
    EXPECT_EQ(back.to_json(-1, keras2), text);
    EXPECT_EQ(back.count_params(), m.count_params());
  }
  json c = json::parse(m.to_json());
  json gru = c["config"]["layers"][2]["config"];
  EXPECT_EQ(gru["reset_after"], false);
  EXPECT_EQ(gru["go_backwards"], true);
  EXPECT_EQ(gru["recurrent_initializer"]["class_name"], "Orthogonal");
  EXPECT_EQ(gru["recurrent_initializer"]["config"]["gain"], 1.0);
  json lstm = c["config"]["layers"][3]["config"];
  EXPECT_EQ(lstm["unit_forget_bias"], true);
  EXPECT_EQ(lstm["recurrent_activation"], "sigmoid");
  EXPECT_EQ(c["config"]["layers"][1]["config"]["mask_zero"], false);

  auto layer = [](const char *cls, json config) {
    config["name"] = std::string("l_") + cls;
    return layer_from_config({{"class_name", cls}, {"config", config}});
  };
  // Keras' defaults when a config leaves them out: tanh / sigmoid, GRU reset_after=True.
  Layer g = layer("GRU", {{"units", 3}});
  auto x = Input({4, 2});
  g(x);
  EXPECT_EQ(g.get_weights()[2].shape, (Shape{2, 9}));
  Layer dropped = layer("LSTM", {{"units", 3}, {"dropout", 0.2}, {"recurrent_dropout", 0.1},
                                 {"seed", 7}});
  json dc = dropped.get_config();
  EXPECT_EQ(dc["dropout"], 0.2);
  EXPECT_EQ(dc["recurrent_dropout"], 0.1);
  EXPECT_EQ(dc["seed"], 7);
  expectError([&] { layer("LSTM", {{"units", 3}, {"dropout", 1.0}}); }, "l_LSTM",
              "dropout and recurrent_dropout must be in [0, 1), got 1.0");
  expectError([&] { layer("GRU", {{"units", 3}, {"stateful", true}}); }, "l_GRU",
              "'stateful' = true is not supported");
  Layer masked = layer("Embedding", {{"input_dim", 5}, {"output_dim", 2}, {"mask_zero", true}});
  EXPECT_EQ(masked.get_config()["mask_zero"], true);
  Layer masking = layer("Masking", {{"mask_value", 0.5}});
  EXPECT_EQ(masking.class_name(), "Masking");
  EXPECT_EQ(masking.get_config()["mask_value"], 0.5);
  expectError([&] { layer("SimpleRNN", {{"units", 3}, {"activation", "nope"}}); }, "l_SimpleRNN",
              "unknown activation 'nope'");
  expectError([&] { LSTM(4, {.name = "flat"})(Input({5})); }, "flat",
              "expected a (batch, steps, features) input of rank 3");
  expectError([] { Embedding(0, 3, {.name = "e0"}); }, "e0", "input_dim must be a positive");
}

TEST_F(Recurrent, EmbeddingIndicesOutOfRangeAreAnError) {
  Sequential m({Input({3}), Embedding(5, 2, {.name = "emb"}), Flatten()});
  Array x({2, 3}, {0, 1, 4.9f, 2, 3, 4});
  Array y = m.predict(x);
  Array table = m.get_layer("emb").get_weights()[0];
  // 4.9 is truncated to 4, as Keras casts.
  EXPECT_EQ(y.data[4], table.data[8]);
  EXPECT_EQ(y.data[5], table.data[9]);
  Array bad({2, 3}, {0, 1, 2, 3, 5, 4});
  expectError([&] { m.predict(bad); }, "emb",
              "input 'input_1' holds index 5 (sample 1), outside [0, 5) (input_dim)");
  Array negative({1, 3}, {0, -1, 2});
  expectError([&] { m.predict(negative); }, "emb", "holds index -1");
  Array nan({1, 3}, {0, NAN, 2});
  expectError([&] { m.predict(nan); }, "emb", "holds index nan");
  m.compile({.optimizer = "sgd", .loss = "mse"});
  expectError([&] { m.fit(bad, Array({2, 6}), {.verbose = 0}); }, "emb", "holds index 5");
}

// Keras' masking: Embedding(mask_zero) and Masking make a (batch, steps) mask that the
// recurrent layers honour, keeping their state over the masked steps. test/golden has the
// numbers against the oracle; these are the properties.
Layer recurrentOf(const std::string &cls, int64_t units, RecurrentOptions o) {
  if (cls == "LSTM")
    return LSTM(units, o);
  if (cls == "GRU")
    return GRU(units, o);
  return SimpleRNN(units, o);
}

void expectNear(const Array &a, int64_t ia, const Array &b, int64_t ib, int64_t n) {
  for (int64_t k = 0; k < n; ++k)
    EXPECT_NEAR(a.data[ia + k], b.data[ib + k], 1e-5) << "at " << ia + k;
}

TEST_F(Recurrent, MaskedStepsKeepTheState) {
  const int64_t u = 4;
  for (const char *cls : {"SimpleRNN", "LSTM", "GRU"}) {
    SCOPED_TRACE(cls);
    backend::clear_session();
    Sequential masked({Input({5}), Embedding(7, 3, {.mask_zero = true}),
                       recurrentOf(cls, u, {.return_sequences = true})});
    Sequential plain({Input({3}), Embedding(7, 3), recurrentOf(cls, u, {.return_sequences = true})});
    plain.set_weights(masked.get_weights());
    // Row 0 is padded at the end, row 1 has holes, row 2 is all padding.
    Array x({3, 5}, {1, 2, 3, 0, 0, 4, 0, 5, 0, 6, 0, 0, 0, 0, 0});
    Array real({2, 3}, {1, 2, 3, 4, 5, 6});
    Array y = masked.predict(x), yp = plain.predict(real);
    ASSERT_EQ(y.shape, (Shape{3, 5, u}));
    // A real step's output is the plain layer's on the real steps alone; a masked step repeats
    // the previous output (zeros before the first real step).
    int kept0[5] = {0, 1, 2, 2, 2}, kept1[5] = {0, 0, 1, 1, 2};
    for (int t = 0; t < 5; ++t) {
      expectNear(y, (0 * 5 + t) * u, yp, (0 * 3 + kept0[t]) * u, u);
      expectNear(y, (1 * 5 + t) * u, yp, (1 * 3 + kept1[t]) * u, u);
      for (int64_t k = 0; k < u; ++k)
        EXPECT_EQ(y.data[(2 * 5 + t) * u + k], 0.0f);
    }
    // The last output alone: the state after the last real step.
    backend::clear_session();
    Sequential last({Input({5}), Embedding(7, 3, {.mask_zero = true}), recurrentOf(cls, u, {})});
    last.set_weights(masked.get_weights());
    Array yl = last.predict(x);
    expectNear(yl, 0, yp, 2 * u, u);
    expectNear(yl, u, yp, 5 * u, u);

    // Bidirectional with return_sequences: Keras 3 forces zero_output_for_mask, masked steps
    // give zeros; the real steps see the real steps of both directions.
    backend::clear_session();
    Sequential bi({Input({5}), Embedding(7, 3, {.mask_zero = true}),
                   Bidirectional(recurrentOf(cls, u, {.return_sequences = true}))});
    Sequential biPlain({Input({3}), Embedding(7, 3),
                        Bidirectional(recurrentOf(cls, u, {.return_sequences = true}))});
    biPlain.set_weights(bi.get_weights());
    Array yb = bi.predict(x), ybp = biPlain.predict(real);
    for (int t = 0; t < 5; ++t) {
      bool real0 = t < 3, real1 = t % 2 == 0;
      if (real0)
        expectNear(yb, t * 2 * u, ybp, t * 2 * u, 2 * u);
      if (real1)
        expectNear(yb, (5 + t) * 2 * u, ybp, (3 + t / 2) * 2 * u, 2 * u);
      for (int64_t k = 0; k < 2 * u; ++k) {
        if (!real0)
          EXPECT_EQ(yb.data[t * 2 * u + k], 0.0f);
        if (!real1)
          EXPECT_EQ(yb.data[(5 + t) * 2 * u + k], 0.0f);
      }
    }
  }
}

TEST_F(Recurrent, ZeroOutputForMaskOption) {
  Sequential m({Input({4}), Embedding(6, 2, {.mask_zero = true}),
                GRU(3, {.return_sequences = true, .zero_output_for_mask = true})});
  Sequential plain({Input({4}), Embedding(6, 2, {.mask_zero = true}),
                    GRU(3, {.return_sequences = true})});
  plain.set_weights(m.get_weights());
  Array x({1, 4}, {2, 0, 3, 0});
  Array y = m.predict(x), yp = plain.predict(x);
  for (int64_t k = 0; k < 3; ++k) {
    EXPECT_EQ(y.data[3 + k], 0.0f);      // masked step 1: zeros
    EXPECT_EQ(yp.data[3 + k], yp.data[k]); // Keras 3's default: step 0's output again
    EXPECT_EQ(y.data[6 + k], yp.data[6 + k]);
  }
  json c = json::parse(m.to_json());
  EXPECT_EQ(c["config"]["layers"][2]["config"]["zero_output_for_mask"], true);
  EXPECT_FALSE(json::parse(plain.to_json())["config"]["layers"][2]["config"].contains(
      "zero_output_for_mask"));
  backend::clear_session();
  EXPECT_EQ(model_from_json(m.to_json()).to_json(), m.to_json());
}

TEST_F(Recurrent, MaskingLayerAndMaskedAveragePooling) {
  // Masking(0.5): a step whose features are all 0.5 is skipped (and zeroed).
  Sequential m({Input({3, 2}), Masking(0.5), LSTM(3)});
  Sequential plain({Input({2, 2}), LSTM(3)});
  plain.set_weights(m.get_weights());
  Array x({2, 3, 2}, {0.1f, -0.4f, 0.5f, 0.5f, 0.9f, 0.2f, 0.5f, 0.3f, 0.5f, 0.5f, 0.7f, 0.5f});
  Array real({2, 2, 2}, {0.1f, -0.4f, 0.9f, 0.2f, 0.5f, 0.3f, 0.7f, 0.5f});
  Array y = m.predict(x), yp = plain.predict(real);
  expectNear(y, 0, yp, 0, 6);
  json c = json::parse(m.to_json());
  EXPECT_EQ(c["config"]["layers"][1]["class_name"], "Masking");
  EXPECT_EQ(c["config"]["layers"][1]["config"]["mask_value"], 0.5);
  backend::clear_session();
  EXPECT_EQ(model_from_json(m.to_json()).to_json(), m.to_json());

  // GlobalAveragePooling1D: the mean over the unmasked steps.
  backend::clear_session();
  Sequential g({Input({4}), Embedding(5, 2, {.mask_zero = true, .name = "emb"}),
                GlobalAveragePooling1D()});
  Array table = g.get_layer("emb").get_weights()[0];
  Array ids({2, 4}, {1, 0, 3, 0, 4, 4, 2, 0});
  Array yg = g.predict(ids);
  for (int j = 0; j < 2; ++j) {
    EXPECT_NEAR(yg.data[j], (table.data[2 + j] + table.data[6 + j]) / 2, 1e-6);
    EXPECT_NEAR(yg.data[2 + j], (2 * table.data[8 + j] + table.data[4 + j]) / 3, 1e-6);
  }
}

TEST_F(Recurrent, MasksKilnCannotCarryAreErrors) {
  // A model output that carries a mask: Keras would mask the loss.
  Sequential s({Input({4}), Embedding(5, 2, {.mask_zero = true}),
                LSTM(3, {.return_sequences = true, .name = "seq"})});
  s.compile({.optimizer = "sgd", .loss = "mse"});
  Array ids({2, 4}, {1, 2, 0, 0, 3, 0, 4, 1});
  EXPECT_EQ(s.predict(ids).shape, (Shape{2, 4, 3}));
  expectError([&] { s.fit(ids, Array({2, 4, 3}), {.verbose = 0}); }, "seq",
              "carries the Keras mask made by 'embedding'");
  // Through a merge layer to a layer that honours it.
  backend::clear_session();
  auto x = Input({4});
  auto e = Embedding(5, 2, {.mask_zero = true})(x);
  Model merged(x, GRU(2, {.name = "gru"})(Add({.name = "add"})({e, e})));
  expectError([&] { merged.predict(ids); }, "gru", "reaches it through 'add'");
  // A masked BatchNormalization trains with masked moments in Keras.
  backend::clear_session();
  Sequential bn({Input({4}), Embedding(5, 2, {.mask_zero = true}),
                 BatchNormalization({.name = "bn"}), LSTM(2), Dense(1)});
  EXPECT_EQ(bn.predict(ids).shape, (Shape{2, 1}));
  bn.compile({.optimizer = "sgd", .loss = "mse"});
  expectError([&] { bn.fit(ids, Array({2, 1}), {.verbose = 0}); }, "bn",
              "cannot train on a masked input");
  // Keras hands TimeDistributed's wrapped recurrent layer a slice of the mask; kiln refuses.
  backend::clear_session();
  Sequential deep({Input({3, 2}), Embedding(5, 2, {.mask_zero = true}),
                   TimeDistributed(LSTM(2), {.name = "td"})});
  expectError([&] { deep.predict(Array({1, 3, 2}, {1, 0, 2, 2, 0, 0})); }, "td",
              "cannot pass the Keras mask");
}

TEST_F(Recurrent, BidirectionalAndTimeDistributed) {
  auto x = Input({6, 3});
  Bidirectional bi(LSTM(4, {.return_sequences = true}));
  auto y = bi(x);
  EXPECT_EQ(y.shape(), (Shape{-1, 6, 8}));
  EXPECT_EQ(bi.name(), "bidirectional");
  EXPECT_EQ(bi.count_params(), 2 * 4 * 4 * (3 + 4 + 1));
  std::vector<std::string> names = bi.weight_names();
  ASSERT_EQ(names.size(), 6u);
  EXPECT_EQ(names[0], "bidirectional/forward_lstm/lstm_cell/kernel:0");
  EXPECT_EQ(names[5], "bidirectional/backward_lstm/lstm_cell/bias:0");
  TimeDistributed td(Dense(2));
  auto z = td(y);
  EXPECT_EQ(z.shape(), (Shape{-1, 6, 2}));
  EXPECT_EQ(td.weight_names(),
            (std::vector<std::string>{"time_distributed/kernel:0", "time_distributed/bias:0"}));
  Bidirectional sum(GRU(5), {.merge_mode = "sum"});
  EXPECT_EQ(sum(x).shape(), (Shape{-1, 5}));
  Bidirectional states(GRU(2, {.return_state = true}));
  std::vector<Tensor> st = states.call_all(x);
  ASSERT_EQ(st.size(), 3u); // output, forward h, backward h
  EXPECT_EQ(st[0].shape(), (Shape{-1, 4}));
  EXPECT_EQ(st[2].shape(), (Shape{-1, 2}));
  Model m({x}, {z, st[0], st[1], st[2]}, {.name = "wrappers"});
  for (bool keras2 : {false, true}) {
    backend::clear_session();
    std::string text = m.to_json(-1, keras2);
    Model back = model_from_json(text);
    EXPECT_EQ(back.to_json(-1, keras2), text);
    EXPECT_EQ(back.count_params(), m.count_params());
  }
  json c = json::parse(m.to_json());
  json l = c["config"]["layers"][1];
  EXPECT_EQ(l["class_name"], "Bidirectional");
  EXPECT_EQ(l["config"]["layer"]["config"]["name"], "forward_lstm");
  EXPECT_EQ(l["config"]["merge_mode"], "concat");

  expectError([] { Bidirectional(Dense(3), {.name = "bd"}); }, "bd",
              "needs a SimpleRNN, LSTM or GRU layer");
  expectError([] { Bidirectional(LSTM(3), {.merge_mode = "max", .name = "bm"}); }, "bm",
              "merge_mode 'max' is not supported");
  Dense used(3);
  used(Input({4}));
  expectError([&] { TimeDistributed(used, {.name = "tdu"}); }, "tdu", "is already built");
  expectError([&] { TimeDistributed(Dense(3), {.name = "td2"})(Input({4})); }, "td2",
              "expected an input of rank 3 or more");
}

TEST_F(Recurrent, WeightsThroughH5) {
  Sequential m({Input({4}), Embedding(9, 3), LSTM(4, {.return_sequences = true}),
                GRU(2, {.reset_after = true}), Dense(1)});
  std::vector<Array> w = m.get_weights();
  std::mt19937 g(3);
  std::uniform_real_distribution<float> d(-1, 1);
  for (Array &a : w)
    for (float &v : a.data)
      v = d(g);
  m.set_weights(w);
  auto dir = std::filesystem::temp_directory_path() /
             ("kiln-recurrent-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "m.h5").string();
  m.save(path);
  backend::clear_session();
  Model back = load_model(path);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(back.get_layer("gru").weight_names(),
            (std::vector<std::string>{"gru/gru_cell/kernel:0", "gru/gru_cell/recurrent_kernel:0",
                                      "gru/gru_cell/bias:0"}));
  std::vector<Array> got = back.get_weights();
  ASSERT_EQ(got.size(), w.size());
  for (size_t i = 0; i < w.size(); ++i)
    EXPECT_EQ(got[i].data, w[i].data) << i;
  Array x = tokens(3, 4, 9, 1);
  EXPECT_EQ(back.predict(x).data, m.predict(x).data);
}

} // namespace
