//===- Saving.cpp - Keras model files: .h5 full models and weights, .keras archives -===//
//
// The HDF5 layout is Keras' legacy one (keras/src/legacy/saving/legacy_h5_format.py): root
// attributes model_config (JSON), keras_version, backend, optional training_config; a group
// model_weights with attribute layer_names and one group per layer holding attribute
// weight_names and one dataset per weight at <layer>/<weight name>. save_weights() writes the
// same per-layer groups at the root. kiln writes tf.keras 2.15's spellings ("dense/kernel:0",
// `batch_input_shape`), which both tf.keras 2.x and Keras 3 load.
//
//===----------------------------------------------------------------------===//
#include "kiln/H5.h"
#include "kiln/SaveH5.h"
#include "Impl.h"
#include "KerasConfig.h"
#include "Tfjs.h"
#include "TrainingConfig.h"

#include "kiln/Saving.h"

#include <zip.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace kiln {
namespace detail {

using json = nlohmann::json;

namespace {

/// The Keras 3 release whose .keras layout kiln writes.
constexpr const char *kWrittenKeras3Version = "3.5.0";
constexpr uint64_t kMaxZipMember = uint64_t(4) << 30;

/// Reads the weights of the model's layers from the per-layer groups under `root`, matched by
/// layer name, else by position (Keras' topological loading); all shapes are checked before
/// any weight is replaced.
void readLayerWeights(ModelImpl &m, const h5::Reader &r, const std::string &root) {
  if (!m.isBuilt())
    throw r.error(m.name, "the model is not built, so it has no weights to load: start the "
                          "Sequential with kiln::Input(shape)");
  std::string prefix = root.empty() ? "" : root + "/";
  auto fileLayers = r.stringListAttr(root, "layer_names");
  if (!fileLayers)
    throw r.error("", "missing attribute 'layer_names' of '" + (root.empty() ? "/" : root) +
                          "' (not a Keras HDF5 weights layout)");
  struct FileLayer {
    std::string name;
    std::vector<std::string> weights;
  };
  std::vector<FileLayer> withWeights;
  for (const std::string &name : *fileLayers) {
    if (!r.exists(prefix + name, name))
      throw r.error(name, "layer_names lists '" + name + "' but there is no group '" + prefix +
                              name + "'");
    auto names = r.stringListAttr(prefix + name, "weight_names", name);
    if (!names)
      throw r.error(name, "missing attribute 'weight_names' of group '" + prefix + name + "'");
    if (!names->empty())
      withWeights.push_back({name, *names});
  }
  std::vector<LayerImpl *> modelLayers;
  for (const auto &l : m.layers)
    if (!l->weights.empty())
      modelLayers.push_back(l.get());

  std::map<std::string, const FileLayer *> byName;
  for (const FileLayer &f : withWeights)
    byName[f.name] = &f;
  bool namesMatch = std::all_of(modelLayers.begin(), modelLayers.end(),
                                [&](LayerImpl *l) { return byName.count(l->name); });
  if (!namesMatch && modelLayers.size() != withWeights.size()) {
    auto list = [](auto begin, auto end, auto name) {
      std::string s;
      for (auto it = begin; it != end; ++it)
        s += (s.empty() ? "" : ", ") + name(*it);
      return s.empty() ? std::string("none") : s;
    };
    throw r.error(
        m.name, "layer count mismatch: the model has " + std::to_string(modelLayers.size()) +
                    " layers with weights (" +
                    list(modelLayers.begin(), modelLayers.end(),
                         [](LayerImpl *l) { return l->name; }) +
                    "), the file has " + std::to_string(withWeights.size()) + " (" +
                    list(withWeights.begin(), withWeights.end(),
                         [](const FileLayer &f) { return f.name; }) +
                    ")");
  }
  std::vector<std::pair<Weight *, Array>> staged;
  for (size_t i = 0; i < modelLayers.size(); ++i) {
    LayerImpl *l = modelLayers[i];
    const FileLayer &f = namesMatch ? *byName[l->name] : withWeights[i];
    if (f.weights.size() != l->weights.size())
      throw r.error(l->name, "the layer has " + std::to_string(l->weights.size()) +
                                 " weights, the file's layer '" + f.name + "' has " +
                                 std::to_string(f.weights.size()));
    for (size_t k = 0; k < f.weights.size(); ++k) {
      std::string path = prefix + f.name + "/" + f.weights[k];
      Array value = r.dataset(path, l->name);
      if (value.shape != l->weights[k].value.shape)
        throw r.error(l->name, "dataset '" + path + "' has shape " +
                                   Array::shapeString(value.shape) + ", the layer's weight '" +
                                   l->weights[k].name + "' has shape " +
                                   Array::shapeString(l->weights[k].value.shape));
      staged.emplace_back(&l->weights[k], std::move(value));
    }
  }
  for (auto &[w, v] : staged)
    w->value = std::move(v);
  m.compiled.reset();
}

/// The model's layers and their weights, for the .h5 writers.
std::vector<LayerWeights> layerWeights(const ModelImpl &m) {
  std::vector<LayerWeights> out;
  for (const auto &l : m.layers) {
    LayerWeights lw{l->name, {}};
    for (const Weight &w : l->weights)
      lw.weights.push_back(&w);
    out.push_back(std::move(lw));
  }
  return out;
}

bool hasSuffix(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool startsWithZipMagic(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
}

/// One member of a zip archive, read whole (size checked first).
struct Zip {
  zip_t *z = nullptr;
  std::string path;
  explicit Zip(const std::string &p) : path(p) {
    int err = 0;
    z = zip_open(p.c_str(), ZIP_RDONLY, &err);
    if (!z) {
      zip_error_t ze;
      zip_error_init_with_code(&ze, err);
      std::string msg = zip_error_strerror(&ze);
      zip_error_fini(&ze);
      throw Error("", p + ": not a readable .keras (zip) archive: " + msg);
    }
  }
  ~Zip() {
    if (z)
      zip_discard(z);
  }
  bool has(const char *name) const { return zip_name_locate(z, name, 0) >= 0; }
  std::vector<char> read(const char *name) const {
    zip_int64_t idx = zip_name_locate(z, name, 0);
    if (idx < 0)
      throw Error("", path + ": the archive has no '" + name + "'");
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z, zip_uint64_t(idx), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
      throw Error("", path + ": cannot read the size of '" + name + "'");
    if (st.size > kMaxZipMember)
      throw Error("", path + ": '" + name + "' declares " + std::to_string(st.size) +
                          " bytes, over kiln's cap");
    // The compressed bytes lie within the archive, and deflate inflates at most 1032:1: a
    // larger declared size is a lie, not to be allocated.
    std::error_code ec;
    uint64_t archiveBytes = std::filesystem::file_size(path, ec);
    uint64_t compBytes = (st.valid & ZIP_STAT_COMP_SIZE) ? st.comp_size : archiveBytes;
    if (ec || compBytes > archiveBytes || st.size > compBytes * 1032 + 4096)
      throw Error("", path + ": '" + name + "' declares " + std::to_string(st.size) +
                          " bytes, more than its " + std::to_string(compBytes) +
                          " compressed bytes (of a " + std::to_string(archiveBytes) +
                          "-byte archive) can hold (corrupt archive)");
    zip_file_t *f = zip_fopen_index(z, zip_uint64_t(idx), 0);
    if (!f)
      throw Error("", path + ": cannot open '" + name + "' in the archive");
    std::vector<char> buf(st.size);
    zip_int64_t got = st.size ? zip_fread(f, buf.data(), st.size) : 0;
    zip_fclose(f);
    if (got < 0 || zip_uint64_t(got) != st.size)
      throw Error("", path + ": '" + name + "' is truncated or corrupt in the archive");
    return buf;
  }
};

/// Keras 3's snake_case of a class name (naming.to_snake_case).
std::string snakeCase(const std::string &cls) {
  std::string s = std::regex_replace(cls, std::regex("(.)([A-Z][a-z]+)"), "$1_$2");
  s = std::regex_replace(s, std::regex("([a-z])([A-Z])"), "$1_$2");
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

/// The layers of a Keras 3 model config with their keys in model.weights.h5,
/// layers/<snake_case(class)[_k]>, k counting the layers of one class in model.layers order
/// (saving_lib's _save_container_state). A Sequential's model.layers leaves out its
/// InputLayer; a Functional's keeps its InputLayers.
std::vector<std::pair<std::string, std::string>> keras3LayerKeys(const json &config) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!config.is_object() || !config.contains("config"))
    return out;
  const json &conf = config["config"];
  const json *layers = conf.is_array() ? &conf
                       : conf.is_object() && conf.contains("layers") ? &conf["layers"]
                                                                    : nullptr;
  if (!layers || !layers->is_array())
    return out;
  bool sequential = config.value("class_name", "") == "Sequential";
  std::map<std::string, int> counts;
  for (const json &l : *layers) {
    if (!l.is_object())
      continue;
    std::string cls = l.value("class_name", "");
    if (sequential && cls == "InputLayer")
      continue;
    std::string name = l.contains("config") && l["config"].is_object() &&
                               l["config"].contains("name") && l["config"]["name"].is_string()
                           ? l["config"]["name"].get<std::string>()
                           : l.contains("name") && l["name"].is_string()
                               ? l["name"].get<std::string>()
                               : "";
    std::string key = snakeCase(cls);
    int k = counts[key]++;
    if (k > 0)
      key += "_" + std::to_string(k);
    out.emplace_back(name, key);
  }
  return out;
}

/// Reads Keras 3's model.weights.h5 (layers/<key>/vars/<i>) into the model's layers.
void readKeras3Weights(ModelImpl &m, const h5::Reader &r, const json &config) {
  std::map<std::string, LayerImpl *> byName;
  for (const auto &l : m.layers)
    byName[l->name] = l.get();
  std::vector<std::pair<Weight *, Array>> staged;
  std::set<LayerImpl *> loaded;
  for (const auto &[name, key] : keras3LayerKeys(config)) {
    auto it = byName.find(name);
    if (it == byName.end() || it->second->weights.empty())
      continue;
    LayerImpl *layer = it->second;
    std::string group = "layers/" + key + "/vars";
    if (!r.exists(group, name) && r.exists("layers/" + name + "/vars", name))
      group = "layers/" + name + "/vars";
    if (!r.exists(group, name))
      throw r.error(name, "missing group '" + group + "' for the layer's weights");
    auto members = r.members(group, name);
    if (members.size() != layer->weights.size())
      throw r.error(name, "the layer has " + std::to_string(layer->weights.size()) +
                              " weights, '" + group + "' holds " +
                              std::to_string(members.size()));
    for (size_t i = 0; i < layer->weights.size(); ++i) {
      std::string path = group + "/" + std::to_string(i);
      Array v = r.dataset(path, name);
      if (v.shape != layer->weights[i].value.shape)
        throw r.error(name, "dataset '" + path + "' has shape " + Array::shapeString(v.shape) +
                                ", the layer's weight '" + layer->weights[i].name +
                                "' has shape " +
                                Array::shapeString(layer->weights[i].value.shape));
      staged.emplace_back(&layer->weights[i], std::move(v));
    }
    loaded.insert(layer);
  }
  for (const auto &l : m.layers)
    if (!l->weights.empty() && !loaded.count(l.get()))
      throw r.error(l->name, "no weights for this layer in the archive");
  for (auto &[w, v] : staged)
    w->value = std::move(v);
  m.compiled.reset();
}

Model loadKerasArchive(const std::string &path, const LoadOptions &options) {
  Zip zip(path);
  std::vector<char> configBytes = zip.read("config.json");
  json config = parseJsonCapped(std::string(configBytes.begin(), configBytes.end()),
                                path + ": config.json");
  Model model = [&] {
    try {
      return model_from_config(config);
    } catch (const Error &e) {
      throw Error(e.layer(), path + ": config.json: " + e.message());
    }
  }();
  h5::Reader weights(zip.read("model.weights.h5"), path + ": model.weights.h5");
  readKeras3Weights(*model.impl, weights, config);
  if (!options.compile || !config.is_object() || !config.contains("compile_config") ||
      config["compile_config"].is_null())
    return model;
  compileFromTrainingConfig(model, trainingConfigFromCompileConfig(config["compile_config"]),
                            path + ": config.json: compile_config", /*keepState=*/false);
  if (weights.exists("optimizer/vars") && !weights.members("optimizer/vars").empty()) {
    std::string why = readKeras3OptimizerVars(*model.impl, weights);
    // Keras too warns and starts with a fresh optimizer when the saved state does not fit.
    if (!why.empty())
      std::cerr << "kiln: warning: " << path << ": the saved optimizer state does not fit the "
                << "compiled optimizer (" << why << "); it starts afresh\n";
  }
  return model;
}

/// fsyncs `tmp`, renames it over `path` and fsyncs the directory: a crash leaves the old file
/// or the new one, never a mix.
void commitFile(const std::string &tmp, const std::string &path) {
  int fd = ::open(tmp.c_str(), O_RDONLY);
  if (fd < 0 || ::fsync(fd) != 0) {
    int err = errno;
    if (fd >= 0)
      ::close(fd);
    std::remove(tmp.c_str());
    throw Error("", path + ": cannot sync '" + tmp + "': " + std::strerror(err));
  }
  ::close(fd);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    throw Error("", path + ": cannot rename '" + tmp + "' over it: " + std::strerror(err));
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

/// Writes a zip of stored (uncompressed) members, as Python's zipfile writes a .keras archive,
/// to a temporary file beside `path` and renames it over `path`.
void writeZip(const std::string &path,
              const std::vector<std::pair<std::string, std::string>> &members) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int err = 0;
  zip_t *z = zip_open(tmp.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (!z) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    std::string msg = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    throw Error("", path + ": cannot create '" + tmp + "': " + msg);
  }
  auto fail = [&](const std::string &what) {
    std::string msg = what + ": " + zip_strerror(z);
    zip_discard(z);
    std::remove(tmp.c_str());
    return Error("", path + ": " + msg);
  };
  for (const auto &[name, data] : members) {
    zip_source_t *src = zip_source_buffer(z, data.data(), data.size(), 0);
    if (!src)
      throw fail("cannot add '" + name + "'");
    zip_int64_t idx = zip_file_add(z, name.c_str(), src, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
      zip_source_free(src);
      throw fail("cannot add '" + name + "'");
    }
    if (zip_set_file_compression(z, zip_uint64_t(idx), ZIP_CM_STORE, 0) != 0)
      throw fail("cannot store '" + name + "'");
  }
  if (zip_close(z) != 0)
    throw fail("cannot write '" + tmp + "'");
  commitFile(tmp, path);
}

/// Keras 3's model.weights.h5 for `config` (what keras3LayerKeys names): the model's own
/// (empty) vars, layers/<key>/vars/<i> for every layer of model.layers, weights or not, and
/// optimizer/vars when compiled.
std::string keras3WeightsImage(const ModelImpl &m, const json &config,
                               const std::string &display) {
  std::map<std::string, const LayerImpl *> byName;
  for (const auto &l : m.layers)
    byName[l->name] = l.get();
  for (const auto &in : m.inputs)
    byName.emplace(in->layer->name, in->layer.get());
  h5::Writer w(h5::Writer::InMemory{}, display);
  w.group("vars");
  for (const auto &[name, key] : keras3LayerKeys(config)) {
    std::string group = "layers/" + key + "/vars";
    w.group(group);
    auto it = byName.find(name);
    if (it == byName.end())
      throw Error(name, display + ": internal: no layer '" + name + "' for the archive");
    for (size_t i = 0; i < it->second->weights.size(); ++i)
      w.dataset(group + "/" + std::to_string(i), it->second->weights[i].value);
  }
  if (m.training)
    writeKeras3OptimizerVars(m, w);
  std::vector<char> bytes = w.image();
  return std::string(bytes.begin(), bytes.end());
}

void saveKerasArchive(const ModelImpl &m, const std::string &path) {
  json config = modelConfig(m, /*keras2=*/false);
  if (m.sequential)
    config["build_config"] = {
        {"input_shape", config["config"]["layers"][0]["config"]["batch_shape"]}};
  else
    config["build_config"] = {{"input_shape", nullptr}};
  if (m.training)
    config["compile_config"] = compileConfig(m);
  std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d@%H:%M:%S", std::localtime(&now));
  json metadata = {{"keras_version", kWrittenKeras3Version}, {"date_saved", date}};
  std::string weights = keras3WeightsImage(m, config, path + ": model.weights.h5");
  // The members in the order saving_lib writes them.
  writeZip(path, {{"metadata.json", metadata.dump()},
                  {"config.json", config.dump()},
                  {"model.weights.h5", weights}});
}

std::string readTextFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error("", path + ": cannot open");
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size < 0 || uint64_t(size) > (uint64_t(64) << 20))
    throw Error("", path + ": larger than kiln's 64 MiB cap for JSON");
  in.seekg(0);
  std::string text(size_t(size), '\0');
  in.read(text.data(), size);
  return text;
}

Model modelFromText(const std::string &text, const std::string &where) {
  try {
    return model_from_json(text);
  } catch (const Error &e) {
    throw Error(e.layer(), where + ": " + e.message());
  }
}

} // namespace
} // namespace detail

using namespace detail;

Model load_model(const std::string &path, LoadOptions options) {
  if (hasSuffix(path, ".json")) {
    json doc = parseJsonCapped(readTextFile(path), path);
    if (doc.is_object() && doc.contains("modelTopology"))
      return loadTfjsModel(path, doc);
    throw Error("", path + ": a Keras model config without weights (no 'modelTopology', so not "
                           "a TensorFlow.js model.json): load it with its weights, "
                           "load_model(config, weights) or --config CONFIG --weights WEIGHTS");
  }
  if (hasSuffix(path, ".keras") || startsWithZipMagic(path))
    return loadKerasArchive(path, options);
  h5::Reader r(path);
  if (!r.hasAttr("", "model_config"))
    throw r.error("", "missing attribute 'model_config' (a weights-only file? load it with a "
                      "model config: --config model.json --weights file.h5)");
  Model model = modelFromText(r.stringAttr("", "model_config"), path + ": model_config");
  if (!r.exists("model_weights"))
    throw r.error("", "missing group 'model_weights'");
  readLayerWeights(*model.impl, r, "model_weights");
  if (!options.compile || !r.hasAttr("", "training_config"))
    return model;
  nlohmann::json config =
      parseJsonCapped(r.stringAttr("", "training_config"), path + ": training_config");
  compileFromTrainingConfig(model, config, path, /*keepState=*/false);
  if (r.exists("optimizer_weights")) {
    std::string why = readOptimizerWeights(*model.impl, r);
    // Keras too warns and starts with a fresh optimizer when the saved state does not fit.
    if (!why.empty())
      std::cerr << "kiln: warning: " << path << ": the saved optimizer state does not fit the "
                << "compiled optimizer (" << why << "); it starts afresh\n";
  }
  return model;
}

Model load_model(const std::string &configPath, const std::string &weightsPath) {
  Model model = modelFromText(readTextFile(configPath), configPath);
  model.load_weights(weightsPath);
  return model;
}

void Model::save(const std::string &path) const {
  ensureBuilt();
  if (hasSuffix(path, ".keras"))
    return saveKerasArchive(*impl, path);
  std::string config = detail::modelConfig(*impl, /*keras2=*/true).dump();
  detail::writeModelH5(path, config,
                       impl->training ? detail::trainingConfig(*impl).dump() : std::string(),
                       layerWeights(*impl), impl->training.get());
}

void Model::save_weights(const std::string &path) const {
  ensureBuilt();
  h5::Writer w(path);
  writeLayerWeights(w, "", layerWeights(*impl));
  w.commit();
}

void Model::load_weights(const std::string &path) {
  h5::Reader r(path);
  if (r.exists("model_weights") && !r.hasAttr("", "layer_names"))
    readLayerWeights(*impl, r, "model_weights");
  else if (r.exists("layers") && !r.hasAttr("", "layer_names"))
    throw r.error("", "a Keras 3 .weights.h5 file is read through its .keras archive, or "
                      "with load_model(config, weights) on a legacy weights file");
  else
    readLayerWeights(*impl, r, "");
}

} // namespace kiln
