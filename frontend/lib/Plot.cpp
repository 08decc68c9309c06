//===- Plot.cpp - plot_model (Graphviz DOT) and plot_history (SVG written here) -===//
#include "kiln/Plot.h"

#include "Impl.h"
#include "kiln/Error.h"
#include "kiln/Saving.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

namespace kiln::utils {
namespace {

std::string escape(const std::string &s) {
  std::string out;
  for (char c : s) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

std::string extension(const std::string &path) {
  size_t dot = path.rfind('.');
  return dot == std::string::npos ? "" : path.substr(dot + 1);
}

std::string shapesOf(const std::vector<std::shared_ptr<detail::TensorImpl>> &ts) {
  if (ts.empty())
    return "?";
  std::string s;
  for (size_t i = 0; i < ts.size(); ++i)
    s += (i ? ", " : "") + Array::shapeString(ts[i]->shape);
  return ts.size() > 1 ? "[" + s + "]" : s;
}

/// Pipes `input` to `command`; returns its exit status.
int pipeTo(const std::string &command, const std::string &input) {
  FILE *p = popen(command.c_str(), "w");
  if (!p)
    return -1;
  std::fwrite(input.data(), 1, input.size(), p);
  return pclose(p);
}

bool haveProgram(const std::string &name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

std::string quoteShell(const std::string &s) {
  std::string q = "'";
  for (char c : s)
    q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

} // namespace

std::string model_to_dot(const Model &model, PlotModelOptions o) {
  static const std::set<std::string> dirs = {"TB", "LR", "BT", "RL"};
  if (!dirs.count(o.rankdir))
    throw Error("", "plot_model: rankdir must be TB, LR, BT or RL, got \"" + o.rankdir + "\"");
  const detail::ModelImpl &m = *model.impl;
  std::ostringstream os;
  os << "digraph \"" << escape(m.name) << "\" {\n"
     << "  graph [rankdir=" << o.rankdir << ", dpi=" << o.dpi << ", concentrate=true];\n"
     << "  node [shape=plain, fontname=\"Helvetica\", fontsize=11];\n";
  // Keras' model_to_dot draws one box per layer, with each call's shapes.
  std::map<const detail::LayerImpl *, std::pair<std::vector<std::shared_ptr<detail::TensorImpl>>,
                                                std::vector<std::shared_ptr<detail::TensorImpl>>>>
      io;
  std::set<std::pair<std::string, std::string>> edges;
  for (const detail::Node &n : m.nodes) {
    auto &[in, out] = io[n.layer.get()];
    if (in.empty())
      in = n.inputs;
    out.push_back(n.output);
    for (const auto &t : n.inputs)
      edges.emplace(t->layer->name, n.layer->name);
  }
  for (const auto &t : m.inputs)
    io[t->layer.get()].second = {t};
  std::vector<std::shared_ptr<detail::LayerImpl>> layers = m.layers;
  for (const auto &t : m.inputs)
    if (std::find(layers.begin(), layers.end(), t->layer) == layers.end())
      layers.insert(layers.begin(), t->layer);
  for (const auto &l : layers) {
    std::string title = o.show_layer_names ? "<b>" + escape(l->name) + "</b> (" +
                                                 escape(l->className) + ")"
                                           : "<b>" + escape(l->className) + "</b>";
    os << "  \"" << escape(l->name) << "\" [label=<<table border=\"0\" cellborder=\"1\" "
       << "cellspacing=\"0\" cellpadding=\"5\" bgcolor=\"#f6f8fc\"><tr><td colspan=\"2\" "
       << "bgcolor=\"#dce6f5\">" << title << "</td></tr>";
    if (o.show_dtype)
      os << "<tr><td colspan=\"2\">float32</td></tr>";
    if (o.show_shapes) {
      auto &[in, out] = io[l.get()];
      std::string inShape = l->className == "InputLayer" ? shapesOf(out) : shapesOf(in);
      os << "<tr><td>Input shape: " << escape(inShape) << "</td><td>Output shape: "
         << escape(shapesOf(out)) << "</td></tr>";
    }
    os << "</table>>];\n";
  }
  for (const auto &[from, to] : edges)
    os << "  \"" << escape(from) << "\" -> \"" << escape(to) << "\";\n";
  os << "}\n";
  return os.str();
}

void plot_model(const Model &model, const std::string &to_file, PlotModelOptions options) {
  std::string dot = model_to_dot(model, options), ext = extension(to_file);
  if (ext == "dot" || ext == "gv") {
    std::ofstream(to_file) << dot;
    return;
  }
  if (!haveProgram("dot"))
    throw Error("", "plot_model: writing ." + ext + " needs Graphviz's `dot` (apt-get install "
                    "graphviz); a .dot file needs nothing");
  if (pipeTo("dot -T" + quoteShell(ext) + " -o " + quoteShell(to_file), dot) != 0)
    throw Error("", "plot_model: `dot -T" + ext + "` failed writing '" + to_file + "'");
}

History read_history_csv(const std::string &path, char sep) {
  std::ifstream is(path);
  if (!is)
    throw Error("", "plot_history: cannot read '" + path + "'");
  auto split = [&](std::string line) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    std::vector<std::string> cells;
    std::string cell;
    bool quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
      char c = line[i];
      if (c == '"') {
        if (quoted && i + 1 < line.size() && line[i + 1] == '"')
          cell += '"', ++i;
        else
          quoted = !quoted;
      } else if (c == sep && !quoted) {
        cells.push_back(cell), cell.clear();
      } else {
        cell += c;
      }
    }
    cells.push_back(cell);
    return cells;
  };
  std::string line;
  if (!std::getline(is, line))
    throw Error("", "plot_history: '" + path + "' is empty");
  std::vector<std::string> header = split(line);
  History h;
  for (int row = 2; std::getline(is, line); ++row) {
    if (line.empty() || line == "\r")
      continue;
    std::vector<std::string> cells = split(line);
    if (cells.size() != header.size())
      throw Error("", "plot_history: '" + path + "' line " + std::to_string(row) + " has " +
                      std::to_string(cells.size()) + " cells, the header " +
                      std::to_string(header.size()));
    for (size_t i = 0; i < cells.size(); ++i) {
      double v = NAN;
      if (cells[i] != "NA" && !cells[i].empty()) {
        try {
          v = std::stod(cells[i]);
        } catch (const std::exception &) {
          throw Error("", "plot_history: '" + path + "' line " + std::to_string(row) +
                              ": \"" + cells[i] + "\" is not a number");
        }
      }
      if (header[i] == "epoch")
        h.epoch.push_back(static_cast<int>(v));
      else
        h.history[header[i]].push_back(v);
    }
  }
  return h;
}

namespace {
/// 1, 2 or 5 times a power of ten, about (hi - lo) / 5.
double niceStep(double lo, double hi) {
  double raw = (hi - lo) / 5, p = std::pow(10, std::floor(std::log10(raw))), f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

std::string tickLabel(double v, double step) {
  int digits = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, std::fabs(v) < step * 1e-6 ? 0.0 : v);
  return b;
}
} // namespace

std::string history_to_svg(const History &h, PlotHistoryOptions o) {
  // Panels: "loss" first, then the other training quantities; each with its val_ partner.
  std::vector<std::string> names;
  for (const auto &[k, v] : h.history)
    if (k.rfind("val_", 0) != 0 && k != "learning_rate")
      names.push_back(k);
  for (const auto &[k, v] : h.history)
    if (k.rfind("val_", 0) == 0 && !h.history.count(k.substr(4)))
      names.push_back(k.substr(4));
  std::stable_partition(names.begin(), names.end(), [](const std::string &n) { return n == "loss"; });
  if (names.empty())
    throw Error("", "plot_history: the history has no values");
  const int W = o.panel_width, H = o.panel_height, top = o.title.empty() ? 10 : 40;
  const int ml = 64, mr = 16, mt = 34, mb = 46;
  int cols = static_cast<int>(std::min<size_t>(names.size(), 2));
  int rows = static_cast<int>((names.size() + cols - 1) / cols);
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W * cols << "\" height=\""
    << H * rows + top << "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  if (!o.title.empty())
    s << "<text x=\"" << W * cols / 2 << "\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" "
      << "font-weight=\"bold\">" << escape(o.title) << "</text>\n";
  const char *trainColor = "#1f77b4", *valColor = "#ff7f0e";
  for (size_t p = 0; p < names.size(); ++p) {
    int x0 = static_cast<int>(p % cols) * W, y0 = top + static_cast<int>(p / cols) * H;
    const std::string &name = names[p];
    const std::vector<double> *train = h.history.count(name) ? &h.history.at(name) : nullptr;
    const std::vector<double> *val =
        h.history.count("val_" + name) ? &h.history.at("val_" + name) : nullptr;
    size_t n = std::max(train ? train->size() : 0, val ? val->size() : 0);
    auto epochAt = [&](size_t i) {
      return i < h.epoch.size() ? double(h.epoch[i] + 1) : double(i + 1);
    };
    double lo = INFINITY, hi = -INFINITY;
    for (const auto *series : {train, val})
      if (series)
        for (double v : *series)
          if (std::isfinite(v))
            lo = std::min(lo, v), hi = std::max(hi, v);
    if (!std::isfinite(lo))
      lo = 0, hi = 1;
    if (hi - lo < 1e-12)
      lo -= 0.5 * std::max(1e-3, std::fabs(lo)), hi += 0.5 * std::max(1e-3, std::fabs(hi));
    double step = niceStep(lo, hi);
    lo = std::floor(lo / step) * step, hi = std::ceil(hi / step) * step;
    double e0 = n ? epochAt(0) : 1, e1 = n ? epochAt(n - 1) : 1;
    if (e1 <= e0)
      e1 = e0 + 1;
    double pw = W - ml - mr, ph = H - mt - mb;
    auto X = [&](double e) { return x0 + ml + (e - e0) / (e1 - e0) * pw; };
    auto Y = [&](double v) { return y0 + mt + (hi - v) / (hi - lo) * ph; };
    s << "<text x=\"" << x0 + ml + pw / 2 << "\" y=\"" << y0 + 20
      << "\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">" << escape(name)
      << "</text>\n";
    // Grid and y ticks.
    for (double v = lo; v <= hi + step * 1e-6; v += step) {
      s << "<line x1=\"" << num(X(e0)) << "\" y1=\"" << num(Y(v)) << "\" x2=\"" << num(X(e1))
        << "\" y2=\"" << num(Y(v)) << "\" stroke=\"#e4e4e4\"/>\n"
        << "<text x=\"" << num(X(e0) - 6) << "\" y=\"" << num(Y(v) + 4)
        << "\" text-anchor=\"end\" fill=\"#444\">" << tickLabel(v, step) << "</text>\n";
    }
    // x ticks at whole epochs, at most about 10.
    double xstep = std::max(1.0, niceStep(e0, e1 + (e1 - e0 < 5 ? 5 - (e1 - e0) : 0)));
    xstep = std::max(1.0, std::round(xstep));
    for (double e = std::ceil(e0 / xstep) * xstep; e <= e1 + 1e-9; e += xstep)
      s << "<line x1=\"" << num(X(e)) << "\" y1=\"" << num(Y(lo)) << "\" x2=\"" << num(X(e))
        << "\" y2=\"" << num(Y(lo) + 5) << "\" stroke=\"#444\"/>\n"
        << "<text x=\"" << num(X(e)) << "\" y=\"" << num(Y(lo) + 18)
        << "\" text-anchor=\"middle\" fill=\"#444\">" << static_cast<long long>(e) << "</text>\n";
    s << "<rect x=\"" << num(X(e0)) << "\" y=\"" << num(Y(hi)) << "\" width=\"" << num(pw)
      << "\" height=\"" << num(ph) << "\" fill=\"none\" stroke=\"#444\"/>\n"
      << "<text x=\"" << num(x0 + ml + pw / 2) << "\" y=\"" << y0 + H - 10
      << "\" text-anchor=\"middle\">epoch</text>\n";
    auto line = [&](const std::vector<double> &series, const char *color, bool dashed) {
      std::string pts;
      for (size_t i = 0; i < series.size(); ++i)
        if (std::isfinite(series[i]))
          pts += num(X(epochAt(i))) + "," + num(Y(series[i])) + " ";
      s << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\""
        << (dashed ? " stroke-dasharray=\"6,4\"" : "") << " points=\"" << pts << "\"/>\n";
      for (size_t i = 0; i < series.size(); ++i)
        if (std::isfinite(series[i]))
          s << "<circle cx=\"" << num(X(epochAt(i))) << "\" cy=\"" << num(Y(series[i]))
            << "\" r=\"3\" fill=\"" << color << "\"/>\n";
    };
    if (train)
      line(*train, trainColor, false);
    if (val)
      line(*val, valColor, true);
    // Legend, top right inside the plot.
    int entries = (train ? 1 : 0) + (val ? 1 : 0);
    // Top right, unless the curves end high (a rising metric): then bottom right.
    const std::vector<double> *last = train ? train : val;
    bool endsHigh = last && !last->empty() && std::isfinite(last->back()) &&
                    last->back() > (lo + hi) / 2;
    int lx = static_cast<int>(X(e1)) - 118,
        ly = endsHigh ? static_cast<int>(Y(lo)) - 16 - 18 * entries : static_cast<int>(Y(hi)) + 8;
    s << "<rect x=\"" << lx << "\" y=\"" << ly << "\" width=\"110\" height=\""
      << 8 + 18 * entries << "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#bbb\"/>\n";
    int ey = ly + 17;
    if (train) {
      s << "<line x1=\"" << lx + 8 << "\" y1=\"" << ey - 4 << "\" x2=\"" << lx + 34 << "\" y2=\""
        << ey - 4 << "\" stroke=\"" << trainColor << "\" stroke-width=\"2\"/>\n"
        << "<text x=\"" << lx + 40 << "\" y=\"" << ey << "\">train</text>\n";
      ey += 18;
    }
    if (val)
      s << "<line x1=\"" << lx + 8 << "\" y1=\"" << ey - 4 << "\" x2=\"" << lx + 34 << "\" y2=\""
        << ey - 4 << "\" stroke=\"" << valColor << "\" stroke-width=\"2\" "
        << "stroke-dasharray=\"6,4\"/>\n"
        << "<text x=\"" << lx + 40 << "\" y=\"" << ey << "\">validation</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

void plot_history(const History &history, const std::string &to_file, PlotHistoryOptions o) {
  std::string svg = history_to_svg(history, o), ext = extension(to_file);
  if (ext == "svg") {
    std::ofstream os(to_file);
    os << svg;
    if (!os)
      throw Error("", "plot_history: cannot write '" + to_file + "'");
    return;
  }
  if (ext != "png")
    throw Error("", "plot_history: writes .svg (or .png through rsvg-convert), got '" + to_file + "'");
  if (!haveProgram("rsvg-convert"))
    throw Error("", "plot_history: .png needs rsvg-convert (apt-get install librsvg2-bin); "
                    ".svg needs nothing");
  if (pipeTo("rsvg-convert -f png -o " + quoteShell(to_file), svg) != 0)
    throw Error("", "plot_history: rsvg-convert failed writing '" + to_file + "'");
}

int plot_main(int argc, char **argv) {
  std::string sub = argc > 1 ? argv[1] : "";
  bool history = sub == "plot-history";
  std::string usage =
      history ? "usage: kilnc plot-history history.csv -o curves.svg [--separator C] [--title T]"
              : "usage: kilnc plot model.h5 -o model.svg [--show-shapes] [--hide-layer-names] "
                "[--rankdir TB|LR|BT|RL]";
  std::string input, output, title;
  char sep = ',';
  PlotModelOptions po;
  try {
    for (int i = 2; i < argc; ++i) {
      std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc)
          throw Error("", a + " needs a value");
        return argv[++i];
      };
      if (a == "-h" || a == "--help") {
        std::cout << usage << "\n";
        return 0;
      } else if (a == "-o")
        output = value();
      else if (a == "--show-shapes" && !history)
        po.show_shapes = true;
      else if (a == "--hide-layer-names" && !history)
        po.show_layer_names = false;
      else if (a == "--rankdir" && !history)
        po.rankdir = value();
      else if (a == "--separator" && history) {
        std::string v = value();
        if (v.size() != 1)
          throw Error("", "--separator takes one character");
        sep = v[0];
      } else if (a == "--title" && history)
        title = value();
      else if (!a.empty() && a[0] == '-')
        throw Error("", "unknown option " + a + "\n" + usage);
      else if (input.empty())
        input = a;
      else
        throw Error("", "one input file, got '" + input + "' and '" + a + "'");
    }
    if (input.empty() || output.empty())
      throw Error("", usage);
    if (history)
      plot_history(read_history_csv(input, sep), output, {.title = title});
    else
      plot_model(load_model(input), output, po);
    return 0;
  } catch (const std::exception &e) {
    std::cerr << "kilnc " << sub << ": error: " << e.what() << "\n";
    return 1;
  }
}

} // namespace kiln::utils
