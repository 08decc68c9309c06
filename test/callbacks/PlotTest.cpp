//===- PlotTest.cpp - plot_model's DOT text and plot_history's SVG ----------===//
#include "kiln/kiln.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace kiln;
using namespace kiln::layers;
namespace fs = std::filesystem;

namespace {

TEST(Plot, ModelToDot) {
  backend::clear_session();
  Tensor in = Input({3}, {.name = "features"});
  Tensor h = Dense(4, {.activation = "relu", .name = "hidden"})(in);
  Model m(in, Dense(1, {.name = "out"})(h));
  std::string dot = utils::model_to_dot(m, {.show_shapes = true, .rankdir = "LR"});
  EXPECT_NE(dot.find("rankdir=LR"), std::string::npos);
  EXPECT_NE(dot.find("<b>hidden</b> (Dense)"), std::string::npos);
  EXPECT_NE(dot.find("\"features\" -> \"hidden\";"), std::string::npos);
  EXPECT_NE(dot.find("\"hidden\" -> \"out\";"), std::string::npos);
  EXPECT_NE(dot.find("Input shape: (None, 3)</td><td>Output shape: (None, 4)"), std::string::npos);
  std::string plain = utils::model_to_dot(m, {.show_layer_names = false});
  EXPECT_EQ(plain.find("hidden</b>"), std::string::npos);
  EXPECT_EQ(plain.find("Output shape"), std::string::npos);
  EXPECT_THROW(utils::model_to_dot(m, {.rankdir = "XY"}), Error);
}

TEST(Plot, HistoryFromCsvToSvg) {
  fs::path p = fs::temp_directory_path() / ("kiln-plot-" + std::to_string(getpid()) + ".csv");
  std::ofstream(p) << "epoch,accuracy,loss,val_accuracy,val_loss\r\n"
                   << "0,0.5,1.0,0.45,1.1\r\n1,0.7,0.6,0.6,0.8\r\n2,0.8,0.4,NA,0.7\r\n";
  History h = utils::read_history_csv(p.string());
  EXPECT_EQ(h.epoch, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(h.history["loss"], (std::vector<double>{1.0, 0.6, 0.4}));
  EXPECT_TRUE(std::isnan(h.history["val_accuracy"][2]));
  std::string svg = utils::history_to_svg(h);
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_LT(svg.find(">loss</text>"), svg.find(">accuracy</text>")); // loss panel first
  EXPECT_EQ(std::count(svg.begin(), svg.end(), '\n') > 10, true);
  size_t polylines = 0;
  for (size_t i = 0; (i = svg.find("<polyline", i)) != std::string::npos; ++i)
    ++polylines;
  EXPECT_EQ(polylines, 4u);
  fs::remove(p);
}

} // namespace
