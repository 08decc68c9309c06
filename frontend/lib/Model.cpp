//===- Model.cpp - functional graphs, Sequential, weights, Keras' summary --===//
#include "Impl.h"

#include <algorithm>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

namespace kiln {
namespace detail {

ModelImpl::~ModelImpl() = default;

void ModelImpl::buildGraph() {
  // Keras' _map_graph_network: a depth-first walk from the outputs gives the nodes in an order
  // where every node follows its inputs, and each layer an index (pre-order) for ties.
  nodes.clear();
  layers.clear();
  std::set<TensorImpl *> finished, inProgress;
  std::map<LayerImpl *, int> layerIndex;
  std::vector<std::shared_ptr<TensorImpl>> order;
  std::function<void(const std::shared_ptr<TensorImpl> &)> visit =
      [&](const std::shared_ptr<TensorImpl> &t) {
        if (finished.count(t.get()))
          return;
        if (inProgress.count(t.get()))
          throw Error(name, "the graph has a cycle through layer '" + t->layer->name + "'");
        layerIndex.emplace(t->layer.get(), static_cast<int>(layerIndex.size()));
        inProgress.insert(t.get());
        for (const auto &in : t->inputs)
          visit(in);
        inProgress.erase(t.get());
        finished.insert(t.get());
        order.push_back(t);
      };
  for (const auto &o : outputs)
    visit(o);

  // Depths: outputs are 0; a node's inputs are deeper; every call of a layer gets the layer's
  // largest depth.
  std::map<TensorImpl *, int> nodeDepth;
  std::map<LayerImpl *, int> layerDepth;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl *n = it->get();
    int depth = std::max(nodeDepth[n], layerDepth[n->layer.get()]);
    layerDepth[n->layer.get()] = depth;
    nodeDepth[n] = depth;
    for (const auto &in : n->inputs)
      nodeDepth[in.get()] = std::max(nodeDepth[in.get()], depth + 1);
  }
  // Inputs that no output depends on are still part of the model.
  for (const auto &in : inputs)
    if (!layerDepth.count(in->layer.get())) {
      layerDepth[in->layer.get()] = 0;
      layerIndex[in->layer.get()] = -1;
      nodeDepth[in.get()] = 0;
      order.insert(order.begin(), in);
    }

  // Every node must be computable from the model's inputs.
  std::set<TensorImpl *> modelInputs;
  for (const auto &in : inputs)
    modelInputs.insert(in.get());
  for (const auto &n : order) {
    if (n->inputs.empty() && !modelInputs.count(n.get())) {
      std::string listed;
      for (const auto &in : inputs)
        listed += (listed.empty() ? "'" : ", '") + in->layer->name + "'";
      throw Error(name, "graph disconnected: the outputs depend on input '" + n->layer->name +
                            "' " + shapeString(n->shape) +
                            ", which is not among the model's inputs (" + listed + ")");
    }
  }

  std::map<LayerImpl *, std::shared_ptr<LayerImpl>> owner;
  for (const auto &n : order) {
    nodes.push_back({n->layer, n, n->inputs, nodeDepth[n.get()]});
    owner[n->layer.get()] = n->layer;
  }
  std::vector<std::shared_ptr<LayerImpl>> all;
  for (auto &[ptr, l] : owner)
    all.push_back(l);
  std::sort(all.begin(), all.end(), [&](const auto &a, const auto &b) {
    int da = layerDepth[a.get()], db = layerDepth[b.get()];
    if (da != db)
      return da > db;
    if (layerIndex[a.get()] != layerIndex[b.get()])
      return layerIndex[a.get()] < layerIndex[b.get()];
    return a->name < b->name;
  });
  std::map<std::string, int> names;
  for (const auto &l : all)
    if (++names[l->name] == 2)
      throw Error(name, "the name '" + l->name +
                            "' is used by two layers of the model; layer names must be unique");
  for (const auto &l : all)
    if (!(sequential && l->className == "InputLayer"))
      layers.push_back(l);
  compiled.reset();
}

std::vector<Weight *> ModelImpl::allWeights() const {
  std::vector<Weight *> out;
  for (const auto &l : layers)
    for (Weight &w : l->weights)
      out.push_back(&w);
  return out;
}

namespace {

/// One row of Keras' summary table, wrapped as Keras' print_row wraps it.
void printRow(std::ostream &os, std::vector<std::string> fields,
              const std::vector<size_t> &positions) {
  auto any = [&] {
    return std::any_of(fields.begin(), fields.end(), [](auto &f) { return !f.empty(); });
  };
  do {
    std::string line;
    for (size_t col = 0; col < fields.size(); ++col) {
      size_t start = col ? positions[col - 1] : 0, end = positions[col];
      bool last = col == positions.size() - 1;
      size_t space = last ? 0 : 2;
      size_t cutoff = end - start - space - (last ? 0 : 1);
      std::string fit = fields[col].substr(0, cutoff);
      size_t best = std::string::npos;
      for (const char *brk : {"),", "},", "],", "',"}) {
        size_t p = fit.find(brk);
        if (p != std::string::npos)
          best = std::min(best, p + 2);
      }
      if (best != std::string::npos) {
        cutoff = best;
        fit = fit.substr(0, cutoff);
      }
      if (col == 0)
        line += " ";
      line += fit + std::string(space, ' ');
      fields[col] = cutoff < fields[col].size() ? fields[col].substr(cutoff) : "";
      if (line.size() < positions[col])
        line += std::string(positions[col] - line.size(), ' ');
    }
    os << line << "\n";
  } while (any());
}

std::string readableSize(double bytes) {
  const char *units[] = {"Byte", "KB", "MB", "GB", "TB", "PB"};
  for (const char *u : units) {
    if (bytes / 1024 < 1) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.2f %s", bytes, u);
      return buf;
    }
    bytes /= 1024;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f PB", bytes);
  return buf;
}

} // namespace
} // namespace detail

using namespace detail;

//===----------------------------------------------------------------------===//
// Model.
//===----------------------------------------------------------------------===//

Model::Model(const Tensor &input, const Tensor &output, ModelOptions options)
    : Model(std::vector<Tensor>{input}, std::vector<Tensor>{output}, std::move(options)) {}

Model::Model(std::vector<Tensor> inputs, std::vector<Tensor> outputs, ModelOptions options)
    : impl(std::make_shared<ModelImpl>()) {
  impl->name = options.name.empty() ? uniqueName("model") : options.name;
  if (inputs.empty() || outputs.empty())
    throw Error(impl->name, "a model needs at least one input and one output");
  std::set<TensorImpl *> seen;
  for (const Tensor &t : inputs) {
    if (!t.impl)
      throw Error(impl->name, "an input is an empty kiln::Tensor");
    if (!t.impl->inputs.empty() || t.impl->layer->className != "InputLayer")
      throw Error(impl->name, "model inputs must come from kiln::Input; '" +
                                  t.impl->layer->name + "' is the output of a " +
                                  t.impl->layer->className + " layer");
    if (!seen.insert(t.impl.get()).second)
      throw Error(impl->name, "input '" + t.impl->layer->name + "' is listed twice");
    impl->inputs.push_back(t.impl);
  }
  for (const Tensor &t : outputs) {
    if (!t.impl)
      throw Error(impl->name, "an output is an empty kiln::Tensor");
    impl->outputs.push_back(t.impl);
  }
  impl->buildGraph();
}

void Model::ensureBuilt() const {
  if (!impl->isBuilt())
    throw Error(impl->name,
                "this model has not yet been built: start the Sequential with "
                "kiln::Input(shape), or call predict on data first");
}

const std::string &Model::name() const { return impl->name; }
std::vector<Tensor> Model::inputs() const {
  ensureBuilt();
  std::vector<Tensor> out;
  for (const auto &t : impl->inputs)
    out.emplace_back(t);
  return out;
}
std::vector<Tensor> Model::outputs() const {
  ensureBuilt();
  std::vector<Tensor> out;
  for (const auto &t : impl->outputs)
    out.emplace_back(t);
  return out;
}
std::vector<Layer> Model::layers() const {
  std::vector<Layer> out;
  const auto &ls = impl->isBuilt() ? impl->layers : impl->pending;
  for (const auto &l : ls)
    out.push_back(Layer(l));
  return out;
}
Layer Model::get_layer(const std::string &name) const {
  for (const Layer &l : layers())
    if (l.name() == name)
      return l;
  throw Error(impl->name, "no layer named '" + name + "'");
}

int64_t Model::count_params() const {
  ensureBuilt();
  int64_t n = 0;
  for (const auto &l : impl->layers)
    n += l->countParams();
  return n;
}

std::vector<Array> Model::get_weights() const {
  ensureBuilt();
  std::vector<Array> out;
  for (Weight *w : impl->allWeights())
    out.push_back(w->value);
  return out;
}

void Model::set_weights(const std::vector<Array> &weights) {
  ensureBuilt();
  auto all = impl->allWeights();
  if (weights.size() != all.size())
    throw Error(impl->name, "set_weights got " + std::to_string(weights.size()) +
                                " arrays, the model has " + std::to_string(all.size()) +
                                " weights");
  size_t i = 0;
  for (const auto &l : impl->layers)
    for (Weight &w : l->weights) {
      if (weights[i].shape != w.value.shape)
        throw l->error("weight '" + w.name + "' has shape " + shapeString(w.value.shape) +
                       ", the provided array #" + std::to_string(i) + " has shape " +
                       shapeString(weights[i].shape));
      ++i;
    }
  i = 0;
  for (Weight *w : all)
    w->value = weights[i++];
}

std::string Model::summary_string() const {
  std::ostringstream os;
  summary(os);
  return os.str();
}
void Model::summary() const { summary(std::cout); }

void Model::summary(std::ostream &os) const {
  ensureBuilt();
  const ModelImpl &m = *impl;
  std::set<TensorImpl *> relevant;
  for (const Node &n : m.nodes)
    relevant.insert(const_cast<TensorImpl *>(n.output->call()));

  // Keras' sequential_like: one node per depth, one input per node, no layer called twice.
  bool sequentialLike = m.sequential;
  if (!sequentialLike) {
    sequentialLike = true;
    std::map<int, int> perDepth;
    std::map<LayerImpl *, int> callsInModel;
    for (const Node &n : m.nodes)
      if (++perDepth[n.depth] > 1 || n.inputs.size() > 1 || ++callsInModel[n.layer.get()] > 1)
        sequentialLike = false;
  }
  size_t lineLength = sequentialLike ? 65 : 98;
  std::vector<size_t> positions =
      sequentialLike ? std::vector<size_t>{29, 55, 65} : std::vector<size_t>{29, 58, 68, 98};
  std::vector<std::string> header = {"Layer (type)", "Output Shape", "Param #"};
  if (!sequentialLike)
    header.push_back("Connected to");

  os << "Model: \"" << m.name << "\"\n" << std::string(lineLength, '_') << "\n";
  printRow(os, header, positions);
  os << std::string(lineLength, '=') << "\n";
  for (const auto &l : m.layers) {
    std::vector<std::shared_ptr<TensorImpl>> calls;
    for (const auto &w : l->calls)
      if (auto t = w.lock(); t && relevant.count(t.get()))
        calls.push_back(t);
    auto shapeOf = [](const TensorImpl &t) {
      if (t.outputs.empty())
        return shapeString(t.shape);
      std::string all;
      for (const auto &o : t.outputs)
        if (auto p = o.lock())
          all += (all.empty() ? "[" : ", ") + shapeString(p->shape);
      return all + "]";
    };
    std::string shape = calls.empty() ? "?" : shapeOf(*calls[0]);
    for (const auto &c : calls)
      if (shapeOf(*c) != shapeOf(*calls[0]))
        shape = "multiple";
    if (l->className == "InputLayer")
      shape = "[" + shape + "]";
    std::vector<std::string> fields = {l->name + " (" + l->className + ")", shape,
                                       std::to_string(l->countParams())};
    if (!sequentialLike) {
      std::string conn;
      for (const auto &c : calls)
        for (const auto &in : c->inputs)
          conn += std::string(conn.empty() ? "" : ", ") + "'" + in->layer->name + "[" +
                  std::to_string(in->nodeIndex) + "][" + std::to_string(in->tensorIndex) +
                  "]'";
      fields.push_back("[" + conn + "]");
    }
    printRow(os, fields, positions);
    os << std::string(lineLength, ' ') << "\n";
  }
  os << std::string(lineLength, '=') << "\n";
  int64_t trainable = 0, frozen = 0;
  for (const auto &l : m.layers)
    for (const Weight &w : l->weights)
      (w.trainable ? trainable : frozen) += w.value.size();
  os << "Total params: " << trainable + frozen << " ("
     << readableSize(4.0 * double(trainable + frozen)) << ")\n";
  os << "Trainable params: " << trainable << " (" << readableSize(4.0 * double(trainable))
     << ")\n";
  os << "Non-trainable params: " << frozen << " (" << readableSize(4.0 * double(frozen))
     << ")\n";
  os << std::string(lineLength, '_') << "\n";
}

//===----------------------------------------------------------------------===//
// Sequential.
//===----------------------------------------------------------------------===//

Sequential::Sequential(ModelOptions options) : Model(std::make_shared<ModelImpl>()) {
  impl->name = options.name.empty() ? uniqueName("sequential") : options.name;
  impl->sequential = true;
}

Sequential::Sequential(std::initializer_list<Item> items, ModelOptions options)
    : Sequential(std::move(options)) {
  for (const Item &item : items) {
    if (item.isInput)
      add(item.input);
    else
      add(*item.layer);
  }
}

void Sequential::add(const Tensor &input) {
  if (!input.impl || input.impl->layer->className != "InputLayer")
    throw Error(impl->name, "add() takes layers or a kiln::Input");
  if (impl->seqInput || !impl->pending.empty())
    throw Error(impl->name, "a kiln::Input can only start a Sequential model");
  impl->seqInput = impl->seqOutput = input.impl;
}

void Sequential::add(const Layer &layer) {
  if (!layer.impl)
    throw Error(impl->name, "add() got an empty layer");
  for (const auto &l : impl->pending)
    if (l == layer.impl)
      throw Error(impl->name, "layer '" + layer.name() + "' is already in the model");
  if (layer.impl->numOutputs() > 1)
    throw Error(impl->name, "layer '" + layer.name() +
                                "' returns several tensors (return_state): a Sequential "
                                "model needs layers with one output; use the functional API");
  if (impl->seqOutput) {
    // Built incrementally, as Keras does: shape errors surface at add().
    impl->seqOutput = callLayer(layer.impl, {impl->seqOutput});
    impl->pending.push_back(layer.impl);
    impl->inputs = {impl->seqInput};
    impl->outputs = {impl->seqOutput};
    impl->buildGraph();
  } else {
    impl->pending.push_back(layer.impl);
  }
}

namespace detail {
/// Builds a Sequential that was not started with an Input from the first data's shape.
void buildSequentialFor(ModelImpl &m, const Shape &sampleShape) {
  if (m.isBuilt() || !m.sequential)
    return;
  if (m.pending.empty())
    throw Error(m.name, "the Sequential model has no layers");
  m.seqInput = makeInput(sampleShape, "");
  m.seqOutput = m.seqInput;
  for (const auto &l : m.pending)
    m.seqOutput = callLayer(l, {m.seqOutput});
  m.inputs = {m.seqInput};
  m.outputs = {m.seqOutput};
  m.buildGraph();
}
} // namespace detail

} // namespace kiln
