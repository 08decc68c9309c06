//===- KerasConfig.h - Keras model configs: internals shared by the file formats -===//
#ifndef KILN_FRONTEND_KERASCONFIG_H
#define KILN_FRONTEND_KERASCONFIG_H

#include "Impl.h"

#include <nlohmann/json.hpp>

namespace kiln::detail {

/// Parses JSON with kiln's caps (64 MiB, 256 levels); errors start with `what`.
nlohmann::json parseJsonCapped(const std::string &text, const std::string &what);

/// Keras' model_config for a built model, the Keras 3 spelling unless `keras2`.
nlohmann::json modelConfig(const ModelImpl &model, bool keras2);

/// A layer from its class and config (checked option by option).
Layer layerFromEntry(const std::string &name, const std::string &cls,
                     const nlohmann::json &config);

} // namespace kiln::detail

#endif // KILN_FRONTEND_KERASCONFIG_H
