//===- SummaryTest.cpp - model.summary() prints Keras' (tf.keras 2.x) table -===//
#include "kiln/kiln.h"

#include <gtest/gtest.h>

using namespace kiln;
using namespace kiln::layers;

namespace {

class Summary : public ::testing::Test {
protected:
  void SetUp() override { backend::clear_session(); }
};

// What tf.keras 2.15 prints for the same model, character for character (trailing spaces
// included: Keras pads every column).
TEST_F(Summary, SequentialMlpMatchesKeras) {
  Sequential model({Input({4}), Dense(16, {.activation = "relu"}),
                    Dense(8, {.activation = "relu"}), Dense(1, {.activation = "sigmoid"})});
  const char *want =
      "Model: \"sequential\"\n"
      "_________________________________________________________________\n"
      " Layer (type)                Output Shape              Param #   \n"
      "=================================================================\n"
      " dense (Dense)               (None, 16)                80        \n"
      "                                                                 \n"
      " dense_1 (Dense)             (None, 8)                 136       \n"
      "                                                                 \n"
      " dense_2 (Dense)             (None, 1)                 9         \n"
      "                                                                 \n"
      "=================================================================\n"
      "Total params: 225 (900.00 Byte)\n"
      "Trainable params: 225 (900.00 Byte)\n"
      "Non-trainable params: 0 (0.00 Byte)\n"
      "_________________________________________________________________\n";
  EXPECT_EQ(model.summary_string(), want);
}

TEST_F(Summary, FunctionalChainListsInputLayerAndWrapsLongNames) {
  auto in = Input({28, 28, 1});
  auto x = Conv2D(32, 3, {.activation = "relu"})(in);
  x = MaxPooling2D()(x);
  x = Flatten()(x);
  Model model(in, Dense(10, {.activation = "softmax"})(x));
  std::string s = model.summary_string();
  EXPECT_NE(s.find(" input_1 (InputLayer)        [(None, 28, 28, 1)]       0         \n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find(" conv2d (Conv2D)             (None, 26, 26, 32)        320       \n"),
            std::string::npos)
      << s;
  // Keras cuts the first column at 26 characters and continues on the next line.
  EXPECT_NE(s.find(" max_pooling2d (MaxPooling2  (None, 13, 13, 32)        0         \n"
                   " D)                                                              \n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("Total params: 54410 (212.54 KB)\n"), std::string::npos) << s;
}

TEST_F(Summary, FunctionalGraphHasConnectedTo) {
  auto a = Input({6}), b = Input({6});
  Dense shared(5);
  auto ya = shared(a), yb = shared(b);
  auto out = Concatenate()({ya, yb});
  Model model({a, b}, out);
  std::string s = model.summary_string();
  EXPECT_NE(s.find("Connected to"), std::string::npos) << s;
  EXPECT_NE(s.find(std::string(98, '=')), std::string::npos) << s;
  EXPECT_NE(s.find("['input_1[0][0]',"), std::string::npos) << s;
  EXPECT_NE(s.find("'input_2[0][0]']"), std::string::npos) << s;
  EXPECT_NE(s.find("['dense[0][0]',"), std::string::npos) << s;
  EXPECT_NE(s.find("'dense[1][0]']"), std::string::npos) << s;
  EXPECT_NE(s.find("Total params: 35 (140.00 Byte)"), std::string::npos) << s;
}

} // namespace
