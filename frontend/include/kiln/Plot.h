//===- Plot.h - pictures: the model graph (plot_model) and training curves (plot_history) -===//
#ifndef KILN_PLOT_H
#define KILN_PLOT_H

#include "kiln/Model.h"
#include "kiln/Training.h"

#include <map>
#include <string>
#include <vector>

namespace kiln::utils {

struct PlotModelOptions {
  bool show_shapes = false;
  bool show_layer_names = true;
  /// Graphviz rankdir: "TB" (top to bottom), "LR", "BT" or "RL".
  std::string rankdir = "TB";
  bool show_dtype = false;
  int dpi = 96;
};

/// The model's layer graph as Graphviz DOT text (Keras' model_to_dot): one box per layer with
/// its name and class, and with show_shapes its input and output shapes; an edge per call.
std::string model_to_dot(const Model &model, PlotModelOptions options = {});

/// Writes the graph to `to_file`: DOT text for .dot/.gv, else whatever Graphviz's `dot` makes
/// of the extension (.svg, .png, .pdf). Throws kiln::Error when `dot` is not installed.
void plot_model(const Model &model, const std::string &to_file, PlotModelOptions options = {});

/// A History's curves from a CSVLogger file: column name -> values, rows in file order (the
/// "epoch" column is returned as epoch numbers).
History read_history_csv(const std::string &path, char separator = ',');

struct PlotHistoryOptions {
  std::string title;
  int panel_width = 460, panel_height = 320;
};

/// Training curves as SVG text: a panel per quantity (loss, then each metric), the training
/// values as a solid line and the val_ values as a dashed one, against the epoch (1-based).
std::string history_to_svg(const History &history, PlotHistoryOptions options = {});
/// Writes history_to_svg to `to_file` (.svg), or through rsvg-convert for .png.
void plot_history(const History &history, const std::string &to_file,
                  PlotHistoryOptions options = {});

/// `kilnc plot model.h5 -o model.svg [--show-shapes] [--rankdir LR]` and
/// `kilnc plot-history history.csv -o curves.svg`: argv[1] names the subcommand. Errors go to
/// stderr, with exit status 1.
int plot_main(int argc, char **argv);

} // namespace kiln::utils

#endif // KILN_PLOT_H
