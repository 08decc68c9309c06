//===- Tfjs.cpp - the TensorFlow.js layers-model format: model.json + weight shards -===//
//
// What tfjs' model.save() and the tensorflowjs converter write (tfjs-core's io/types.ts,
// tfjs-layers' loadWeights): model.json holds `modelTopology`, the Keras model config (or, from
// the converter, {keras_version, backend, model_config, training_config}), and
// `weightsManifest`, a list of groups {paths, weights: [{name, shape, dtype[, quantization]}]}.
// A group's weights lie one after another, little-endian, in the concatenation of its shard
// files, which sit next to model.json. Weights are matched to the model's by name
// ("<layer>/<weight>"), as tfjs' loadWeights does in strict mode. Quantized weights (uint8,
// uint16 affine; float16) are dequantized as tfjs does.
//
//===----------------------------------------------------------------------===//
#include "Tfjs.h"

#include "KerasConfig.h"

#include "kiln/Saving.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace kiln::detail {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// 2^32 floats: the same cap as for an HDF5 dataset.
constexpr uint64_t kMaxElements = uint64_t(1) << 32;

/// How a weight is stored: float32, or quantized as the converter's --quantize_* options
/// write it (uint8 / uint16 with value = q * scale + min, or float16).
enum class Storage { Float32, Uint8, Uint16, Float16 };

struct Spec {
  std::string name;
  std::vector<int64_t> shape;
  uint64_t elements = 1;
  Storage storage = Storage::Float32;
  double scale = 1.0, min = 0.0;
  uint64_t bytesPerElement() const {
    return storage == Storage::Float32 ? 4 : storage == Storage::Uint8 ? 1 : 2;
  }
};

/// IEEE half to float, subnormals, infinities and NaNs included.
float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f)
    bits = sign | 0x7f800000 | (mant << 13);
  else if (exp != 0)
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  else if (mant == 0)
    bits = sign;
  else {
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while (!(mant & 0x400));
    bits = sign | (uint32_t(112 - e) << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::string weightKey(const std::string &name) {
  return name.size() > 2 && name.compare(name.size() - 2, 2, ":0") == 0
             ? name.substr(0, name.size() - 2)
             : name;
}

/// The shard file for a manifest path, refused when it would leave model.json's directory.
fs::path shardPath(const std::string &where, const fs::path &dir, const json &p) {
  if (!p.is_string() || p.get<std::string>().empty())
    throw Error("", where + ": expected a file name, got " + p.dump());
  std::string s = p.get<std::string>();
  fs::path rel(s);
  if (rel.is_absolute() || s.find('\\') != std::string::npos ||
      s.find('\0') != std::string::npos)
    throw Error("", where + ": shard path '" + s + "' is not a plain relative path (shards must "
                            "lie next to model.json)");
  for (const auto &part : rel)
    if (part == "..")
      throw Error("", where + ": shard path '" + s + "' leaves the model's directory");
  std::error_code ec;
  fs::path base = fs::weakly_canonical(dir, ec);
  fs::path full = fs::weakly_canonical(dir / rel, ec);
  if (ec)
    throw Error("", where + ": cannot resolve shard path '" + s + "': " + ec.message());
  // A symbolic link may still point elsewhere.
  fs::path inside = full.lexically_relative(base);
  if (inside.empty() || *inside.begin() == "..")
    throw Error("", where + ": shard path '" + s + "' leaves the model's directory");
  return full;
}

/// Reads one manifest group's weights into `out` (by name).
void readGroup(const std::string &path, const fs::path &dir, size_t g, const json &group,
               std::map<std::string, Array> &out) {
  std::string where = path + ": weightsManifest[" + std::to_string(g) + "]";
  if (!group.is_object() || !group.contains("paths") || !group["paths"].is_array() ||
      !group.contains("weights") || !group["weights"].is_array())
    throw Error("", where + ": expected {\"paths\": [...], \"weights\": [...]}");
  std::vector<Spec> specs;
  uint64_t needed = 0;
  for (size_t i = 0; i < group["weights"].size(); ++i) {
    const json &w = group["weights"][i];
    std::string at = where + ".weights[" + std::to_string(i) + "]";
    if (!w.is_object() || !w.contains("name") || !w["name"].is_string())
      throw Error("", at + ": expected {\"name\", \"shape\", \"dtype\"}");
    Spec s{w["name"].get<std::string>(), {}, 1};
    at += " ('" + s.name + "')";
    if (w.contains("quantization") && !w["quantization"].is_null()) {
      const json &q = w["quantization"];
      std::string qd = q.is_object() && q.contains("dtype") && q["dtype"].is_string()
                           ? q["dtype"].get<std::string>()
                           : "";
      if (qd == "float16")
        s.storage = Storage::Float16;
      else if (qd == "uint8" || qd == "uint16") {
        s.storage = qd == "uint8" ? Storage::Uint8 : Storage::Uint16;
        if (!q.contains("scale") || !q["scale"].is_number() || !q.contains("min") ||
            !q["min"].is_number())
          throw Error("", at + ": " + qd + " quantization needs numbers 'scale' and 'min'");
        s.scale = q["scale"].get<double>();
        s.min = q["min"].get<double>();
      } else {
        std::string shown = q.is_object() ? q.value("dtype", json()).dump() : q.dump();
        throw Error("", at + ": quantization " + shown +
                            " is not one of uint8, uint16, float16 (what tfjs reads)");
      }
    }
    std::string dtype = w.contains("dtype") && w["dtype"].is_string()
                            ? w["dtype"].get<std::string>()
                            : "";
    if (dtype != "float32")
      throw Error("", at + ": dtype " +
                          (dtype.empty() ? w.value("dtype", json()).dump() : "'" + dtype + "'") +
                          ", kiln reads float32 weights");
    if (!w.contains("shape") || !w["shape"].is_array())
      throw Error("", at + ": expected a shape list");
    for (const json &d : w["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        throw Error("", at + ": shape " + w["shape"].dump() + " is not a list of sizes");
      uint64_t dim = uint64_t(d.get<int64_t>());
      if (dim != 0 && s.elements > kMaxElements / dim)
        throw Error("", at + ": shape " + w["shape"].dump() + " is too large");
      s.elements *= dim;
      s.shape.push_back(int64_t(dim));
    }
    needed += s.bytesPerElement() * s.elements;
    if (needed > 4 * kMaxElements)
      throw Error("", where + ": the weights are too large (over 2^32 floats)");
    specs.push_back(std::move(s));
  }
  if (group["paths"].empty() && needed > 0)
    throw Error("", where + ": no shard files for " + std::to_string(needed) + " bytes of weights");
  // Sizes first: nothing is allocated for bytes the files do not hold.
  std::vector<std::pair<fs::path, uint64_t>> shards;
  uint64_t have = 0;
  for (size_t i = 0; i < group["paths"].size(); ++i) {
    std::string at = where + ".paths[" + std::to_string(i) + "]";
    fs::path f = shardPath(at, dir, group["paths"][i]);
    std::error_code ec;
    if (!fs::is_regular_file(f, ec))
      throw Error("", at + ": shard file '" + group["paths"][i].get<std::string>() +
                          "' is missing (looked for " + f.string() + ")");
    uint64_t size = fs::file_size(f, ec);
    if (ec)
      throw Error("", at + ": cannot read the size of '" + f.string() + "'");
    have += size;
    shards.emplace_back(f, size);
  }
  if (have != needed)
    throw Error("", where + ": the shards hold " + std::to_string(have) +
                        " bytes, the manifest's " + std::to_string(specs.size()) +
                        " weights need " + std::to_string(needed) +
                        (have < needed ? " (a shard is missing or short)" : ""));
  std::vector<char> bytes(needed);
  uint64_t at = 0;
  // The sizes measured above, not the files' sizes now: a file that changes in between
  // cannot make the reads overrun the buffer.
  for (const auto &[f, size] : shards) {
    std::ifstream in(f, std::ios::binary);
    if (!in || !in.read(bytes.data() + at, std::streamsize(size)))
      throw Error("", where + ": cannot read shard '" + f.string() + "' (changed while read?)");
    at += size;
  }
  uint64_t offset = 0;
  for (Spec &s : specs) {
    Array a(s.shape);
    // Little-endian, as this machine is; dequantized as tfjs' decodeWeights does (in double,
    // rounded once to float32).
    const char *p = bytes.data() + offset;
    switch (s.storage) {
    case Storage::Float32:
      std::memcpy(a.ptr(), p, 4 * s.elements);
      break;
    case Storage::Uint8:
      for (uint64_t i = 0; i < s.elements; ++i)
        a.data[i] = float(double(uint8_t(p[i])) * s.scale + s.min);
      break;
    case Storage::Uint16:
    case Storage::Float16:
      for (uint64_t i = 0; i < s.elements; ++i) {
        uint16_t v;
        std::memcpy(&v, p + 2 * i, 2);
        a.data[i] = s.storage == Storage::Float16 ? halfToFloat(v)
                                                  : float(double(v) * s.scale + s.min);
      }
      break;
    }
    offset += s.bytesPerElement() * s.elements;
    std::string key = weightKey(s.name);
    if (!out.emplace(key, std::move(a)).second)
      throw Error("", where + ": weight '" + s.name + "' appears twice in the manifest");
  }
}

} // namespace

Model loadTfjsModel(const std::string &path, const json &doc) {
  if (!doc.is_object() || !doc.contains("modelTopology") || !doc["modelTopology"].is_object())
    throw Error("", path + ": no 'modelTopology' object (not a TensorFlow.js layers model)");
  if (doc.contains("format") && doc["format"].is_string() &&
      doc["format"].get<std::string>() != "layers-model")
    throw Error("", path + ": format '" + doc["format"].get<std::string>() +
                        "': kiln reads TensorFlow.js layers models, not graph models");
  const json &topology = doc["modelTopology"];
  bool nested = topology.contains("model_config");
  const json &config = nested ? topology["model_config"] : topology;
  Model model = [&] {
    try {
      return model_from_config(config);
    } catch (const Error &e) {
      throw Error(e.layer(), path + ": modelTopology" + (nested ? ".model_config" : "") + ": " +
                                 e.message());
    }
  }();
  if (!doc.contains("weightsManifest") || !doc["weightsManifest"].is_array())
    throw Error("", path + ": no 'weightsManifest' list (the model's weights)");
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty())
    dir = ".";
  std::map<std::string, Array> byName;
  for (size_t g = 0; g < doc["weightsManifest"].size(); ++g)
    readGroup(path, dir, g, doc["weightsManifest"][g], byName);

  ModelImpl &m = *model.impl;
  std::vector<std::pair<Weight *, Array *>> staged;
  std::set<std::string> used;
  for (const auto &l : m.layers)
    for (Weight &w : l->weights) {
      std::string key = weightKey(w.name);
      auto it = byName.find(key);
      if (it == byName.end())
        throw Error(l->name, path + ": weightsManifest has no weight '" + key + "'");
      if (it->second.shape != w.value.shape)
        throw Error(l->name, path + ": weight '" + key + "' has shape " +
                                 Array::shapeString(it->second.shape) + " in the manifest, the "
                                 "layer's has shape " + Array::shapeString(w.value.shape));
      staged.emplace_back(&w, &it->second);
      used.insert(key);
    }
  for (const auto &[name, a] : byName)
    if (!used.count(name))
      throw Error("", path + ": weightsManifest has weight '" + name +
                          "', which no layer of the model has");
  for (auto &[w, a] : staged)
    w->value = std::move(*a);
  m.compiled.reset();
  return model;
}

} // namespace kiln::detail
