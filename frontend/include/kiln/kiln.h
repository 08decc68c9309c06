//===- kiln.h - the whole C++ API: builder, layers, models ----------------===//
#ifndef KILN_KILN_H
#define KILN_KILN_H

#include "kiln/Array.h"
#include "kiln/Error.h"
#include "kiln/Initializers.h"
#include "kiln/Regularizers.h"
#include "kiln/Layers.h"
#include "kiln/Model.h"
#include "kiln/Training.h"
#include "kiln/Saving.h"
#include "kiln/Callbacks.h"
#include "kiln/Plot.h"
#include "kiln/Applications.h"

#endif // KILN_KILN_H
