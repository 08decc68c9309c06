//===- TrainableTest.cpp - trainable = false, regularizers and constraints on the builder side -===//
//
// Freezing a layer (summary counts, Keras configs, .h5 files) and the regularizer and
// constraint arguments of Dense and Conv2D through Keras configs in both spellings. The numbers
// (frozen weights stay put, penalties in the loss, constraints after the update) are checked
// in test/e2e/TrainTest.cpp and test/golden_fit.
//
//===----------------------------------------------------------------------===//
#include "kiln/kiln.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>

#include <unistd.h>

using namespace kiln;
using namespace kiln::layers;
using json = nlohmann::json;

namespace {

class Trainable : public ::testing::Test {
protected:
  void SetUp() override { backend::clear_session(); }
};

std::map<std::string, json> configsByName(const Model &m, bool keras2 = false) {
  std::map<std::string, json> out;
  json model = json::parse(m.to_json(-1, keras2));
  for (const json &l : model["config"]["layers"])
    out[l["config"]["name"].get<std::string>()] = l["config"];
  return out;
}

Model frozenModel() {
  auto in = Input({6});
  Dense base(12, {.activation = "relu", .name = "base"});
  base.set_trainable(false);
  Tensor t = base(in);
  Tensor s = Dense(4, {.kernel_regularizer = regularizers::L2(0.02),
                       .bias_regularizer = regularizers::L1(),
                       .activity_regularizer = regularizers::l1_l2(),
                       .kernel_constraint = constraints::MaxNorm(3.0),
                       .bias_constraint = constraints::NonNeg(),
                       .name = "side"})(in);
  auto img = Input({5, 5, 2});
  Tensor c = Conv2D(3, 2,
                    {.kernel_regularizer = regularizers::L1L2(0.001, 0.002),
                     .kernel_constraint = constraints::UnitNorm({0, 1, 2}),
                     .bias_constraint = constraints::MinMaxNorm(0.5, 1.5, 0.7),
                     .name = "conv"})(img);
  Tensor f = Flatten()(c);
  Tensor out = Dense(1, {.name = "head"})(Concatenate()({t, s, f}));
  return Model({in, img}, out, {.name = "frozen"});
}

TEST_F(Trainable, SummaryCountsFrozenWeightsAsNonTrainable) {
  Model m = frozenModel();
  EXPECT_FALSE(m.get_layer("base").trainable());
  EXPECT_TRUE(m.get_layer("side").trainable());
  // base: 6*12+12 = 84 frozen; side 28, conv 2*2*2*3+3 = 27, head (12+4+48)+1 = 65.
  std::string s = m.summary_string();
  EXPECT_NE(s.find("Total params: 204 "), std::string::npos) << s;
  EXPECT_NE(s.find("Trainable params: 120 "), std::string::npos) << s;
  EXPECT_NE(s.find("Non-trainable params: 84 "), std::string::npos) << s;
  m.get_layer("base").set_trainable(true);
  s = m.summary_string();
  EXPECT_NE(s.find("Trainable params: 204 "), std::string::npos) << s;
  EXPECT_NE(s.find("Non-trainable params: 0 "), std::string::npos) << s;
  // BatchNormalization's moving statistics stay non-trainable when the layer is unfrozen.
  backend::clear_session();
  auto in = Input({3});
  BatchNormalization bn;
  Model b(in, bn(in));
  bn.set_trainable(false);
  EXPECT_NE(b.summary_string().find("Non-trainable params: 12 "), std::string::npos);
  bn.set_trainable(true);
  EXPECT_NE(b.summary_string().find("Non-trainable params: 6 "), std::string::npos);
}

TEST_F(Trainable, KerasConfigKeepsTrainableRegularizersAndConstraints) {
  Model m = frozenModel();
  for (bool keras2 : {false, true}) {
    SCOPED_TRACE(keras2 ? "tf.keras 2" : "Keras 3");
    backend::clear_session();
    std::string text = m.to_json(-1, keras2);
    Model back = model_from_json(text);
    EXPECT_EQ(back.to_json(-1, keras2), text);
    EXPECT_FALSE(back.get_layer("base").trainable());
    EXPECT_EQ(back.summary_string().find("Non-trainable params: 84 ") != std::string::npos, true);
  }
  auto c = configsByName(m);
  EXPECT_EQ(c["base"]["trainable"], false);
  EXPECT_EQ(c["side"]["trainable"], true);
  EXPECT_EQ(c["side"]["kernel_regularizer"],
            json::parse(R"({"module": "keras.regularizers", "class_name": "L2",
                            "config": {"l2": 0.02}, "registered_name": null})"));
  EXPECT_EQ(c["side"]["bias_regularizer"]["config"], json::parse(R"({"l1": 0.01})"));
  EXPECT_EQ(c["side"]["activity_regularizer"]["class_name"], "L1L2");
  EXPECT_EQ(c["side"]["activity_regularizer"]["config"],
            json::parse(R"({"l1": 0.01, "l2": 0.01})"));
  EXPECT_EQ(c["side"]["kernel_constraint"]["config"],
            json::parse(R"({"max_value": 3.0, "axis": 0})"));
  EXPECT_EQ(c["side"]["kernel_constraint"]["module"], "keras.constraints");
  EXPECT_EQ(c["side"]["bias_constraint"]["class_name"], "NonNeg");
  EXPECT_EQ(c["conv"]["kernel_constraint"]["config"], json::parse(R"({"axis": [0, 1, 2]})"));
  EXPECT_EQ(c["conv"]["bias_constraint"]["config"],
            json::parse(R"({"min_value": 0.5, "max_value": 1.5, "rate": 0.7, "axis": 0})"));
  EXPECT_EQ(c["head"]["kernel_regularizer"], nullptr);
  auto k2 = configsByName(m, true);
  EXPECT_EQ(k2["side"]["kernel_regularizer"],
            json::parse(R"({"class_name": "L2", "config": {"l2": 0.02}})"));
}

TEST_F(Trainable, KerasConfigSpellings) {
  auto dense = [](json extra) {
    json c = {{"name", "d"}, {"units", 2}};
    c.update(extra);
    return layer_from_config({{"class_name", "Dense"}, {"config", c}});
  };
  auto cfg = [](const Layer &l) { return l.get_config(); };
  // Keras' string shortcuts take the default factor 0.01.
  EXPECT_EQ(cfg(dense({{"kernel_regularizer", "l2"}}))["kernel_regularizer"]["config"],
            json::parse(R"({"l2": 0.01})"));
  EXPECT_EQ(cfg(dense({{"kernel_regularizer", "l1_l2"}}))["kernel_regularizer"]["config"],
            json::parse(R"({"l1": 0.01, "l2": 0.01})"));
  // L1L2's own defaults are 0.
  EXPECT_EQ(cfg(dense({{"bias_regularizer", {{"class_name", "L1L2"}, {"config", {{"l2", 0.5}}}}}}))
                ["bias_regularizer"]["config"],
            json::parse(R"({"l1": 0.0, "l2": 0.5})"));
  EXPECT_EQ(cfg(dense({{"kernel_constraint", "max_norm"}}))["kernel_constraint"]["config"],
            json::parse(R"({"max_value": 2.0, "axis": 0})"));
  EXPECT_EQ(cfg(dense({{"kernel_constraint", "unit_norm"}}))["kernel_constraint"]["class_name"],
            "UnitNorm");
  EXPECT_EQ(cfg(dense({{"trainable", false}}))["trainable"], false);
  EXPECT_FALSE(dense({{"trainable", false}}).trainable());
  try {
    dense({{"kernel_regularizer", "orthogonal"}});
    FAIL() << "no error";
  } catch (const Error &e) {
    EXPECT_EQ(e.layer(), "d");
    EXPECT_NE(std::string(e.what()).find("regularizer 'orthogonal' is not supported"),
              std::string::npos)
        << e.what();
  }
  try {
    dense({{"kernel_regularizer", {{"class_name", "L2"}, {"config", {{"l2", -1}}}}}});
    FAIL() << "no error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("must be finite and >= 0"), std::string::npos)
        << e.what();
  }
  try {
    dense({{"kernel_constraint", "radial"}});
    FAIL() << "no error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("constraint 'radial' is not supported"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(Trainable, H5KeepsTheFlagAndTheWeightOrder) {
  Model m = frozenModel();
  auto dir = std::filesystem::temp_directory_path() /
             ("kiln-trainable-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "m.h5").string();
  m.save(path);
  backend::clear_session();
  Model back = load_model(path);
  std::filesystem::remove_all(dir);
  EXPECT_FALSE(back.get_layer("base").trainable());
  EXPECT_EQ(back.get_layer("base").weight_names(),
            (std::vector<std::string>{"base/kernel:0", "base/bias:0"}));
  EXPECT_EQ(back.get_layer("side").get_config()["kernel_constraint"]["class_name"], "MaxNorm");
  std::vector<Array> a = m.get_weights(), b = back.get_weights();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i].data, b[i].data) << i;
}

} // namespace
