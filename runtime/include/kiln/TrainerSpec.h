//===- TrainerSpec.h - what a standalone trainer knows of its model --------===//
//
// `kilnc compile --emit=exe --train` embeds into the program a JSON description of the model
// (its Keras config, interface, layers and weights) and of compile()'s state (loss, optimizer,
// metrics), next to the weights' and slots' values; the program reads it back. Both sides use
// these functions, so the two cannot drift apart.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_TRAINERSPEC_H
#define KILN_RUNTIME_TRAINERSPEC_H

#include "kiln/FitLoop.h"

#include <nlohmann/json.hpp>

namespace kiln::detail {

/// The optimizer, losses, metrics, step count and the target shapes the steps were compiled
/// for (not the slots' values, which travel as floats).
nlohmann::json trainingSpec(const Training &t);
/// Reads what trainingSpec wrote into `t` (slots left empty); throws kiln::Error when malformed.
void readTrainingSpec(const nlohmann::json &j, Training &t);

} // namespace kiln::detail

#endif // KILN_RUNTIME_TRAINERSPEC_H
