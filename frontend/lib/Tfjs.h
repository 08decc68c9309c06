//===- Tfjs.h - the TensorFlow.js layers-model format (model.json + weight shards) -===//
#ifndef KILN_FRONTEND_TFJS_H
#define KILN_FRONTEND_TFJS_H

#include "Impl.h"

#include <nlohmann/json.hpp>

namespace kiln::detail {

/// A model from a parsed TensorFlow.js model.json at `path` (its shards next to it). Errors
/// name the file and the manifest entry: missing or short shards, shapes or byte counts that
/// disagree, shard paths that leave the directory, non-float32 weights or an unknown
/// quantization. uint8 / uint16 / float16 quantized weights are dequantized as tfjs does.
Model loadTfjsModel(const std::string &path, const nlohmann::json &doc);

} // namespace kiln::detail

#endif // KILN_FRONTEND_TFJS_H
