//===- TrainerMain.cpp - the main of a standalone trainer (kilnc --emit=exe --train) -===//
//
// Linked by kilnc with an object holding the model's compiled @grad_step, @apply_step and
// @eval_step (the code fit's JIT compiles, compiled ahead of time) and a data section with the
// model's description (kiln/TrainerSpec.h) and its initial weights and optimizer slots. It
// reads the data, runs the runtime's fit loop (kiln/FitLoop.h, the one kiln::Model::fit runs)
// with Keras' progress bar, and writes the trained model as a Keras .h5 file. No LLVM or MLIR.
//
//===----------------------------------------------------------------------===//
#include "kiln/Callbacks.h"
#include "kiln/Error.h"
#include "kiln/FitLoop.h"
#include "kiln/GuardedCall.h"
#include "kiln/Idx.h"
#include "kiln/Npy.h"
#include "kiln/SaveH5.h"
#include "kiln/TrainerSpec.h"

#include <nlohmann/json.hpp>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

// What kilnc generates next to this file.
extern "C" {
extern const char kiln_trainer_meta[], kiln_trainer_meta_end[];
extern const char kiln_trainer_data[], kiln_trainer_data_end[];
void kiln_trainer_grad_step(void **args);
void kiln_trainer_apply_step(void **args);
void kiln_trainer_eval_step(void **args);

// The compiled steps allocate through kiln's checked allocator, as in the JIT.
void *_mlir_memref_to_llvm_alloc(uint64_t bytes) { return kiln::detail::guardedAlloc(bytes); }
void _mlir_memref_to_llvm_free(void *p) { kiln::detail::guardedFree(p); }
}

namespace {

using namespace kiln;
using namespace kiln::detail;
using json = nlohmann::json;

constexpr const char *kUsage =
    "usage: %s --x X --y Y --output MODEL.h5 [options]\n"
    "\n"
    "Trains the model compiled into this program (kilnc compile --emit=exe --train) and\n"
    "saves it as a Keras .h5 file. X and Y are .npy files or IDX files (plain or gzip).\n"
    "\n"
    "  --x FILE                 the inputs, batch first (IDX unsigned bytes are scaled by 1/255);\n"
    "                           once per model input, in order\n"
    "  --y FILE                 the targets, once per model output; integer labels (N) are\n"
    "                           one-hot encoded for categorical_crossentropy\n"
    "  --output FILE            where the trained model goes (.h5, written atomically)\n"
    "  --epochs N               default 1\n"
    "  --batch-size N           default 32\n"
    "  --validation-split F     hold out the last fraction F of the samples, default 0\n"
    "  --shuffle | --no-shuffle shuffle the samples every epoch (default: shuffle)\n"
    "  --seed N                 seed the shuffling\n"
    "  --learning-rate LR       instead of the compiled-in one\n"
    "  --checkpoint FILE        save the model at every epoch's end (Keras' ModelCheckpoint:\n"
    "                           {epoch:02d}, {val_loss:.4f} ... are filled in)\n"
    "  --verbose 0|1|2          the progress bar (1, the default) or one line per epoch (2)\n"
    "  --no-scale               read IDX bytes as they are\n";

/// The model compiled into this program.
class AotModel : public FitModel {
public:
  AotModel() {
    std::string text(kiln_trainer_meta, kiln_trainer_meta_end);
    json j = json::parse(text);
    name_ = j.at("name");
    modelConfig_ = j.at("model_config");
    trainingConfig_ = j.at("training_config");
    for (const json &i : j.at("inputs"))
      inputs_.emplace_back(i.at("name"), i.at("shape").get<Shape>());
    for (const json &o : j.at("outputs"))
      outputs_.emplace_back(o.at("name"), o.at("shape").get<Shape>());
    readTrainingSpec(j.at("training"), training_);
    const char *data = kiln_trainer_data;
    size_t size = size_t(kiln_trainer_data_end - kiln_trainer_data), used = 0;
    auto take = [&](const Shape &shape) {
      Array a(shape);
      size_t bytes = a.data.size() * sizeof(float);
      if (used + bytes > size)
        throw Error(name_, "the trainer's embedded weights are truncated");
      std::memcpy(a.data.data(), data + used, bytes);
      used += bytes;
      return a;
    };
    for (const json &w : j.at("weights"))
      weights_.push_back(
          {w.at("name"), take(w.at("shape").get<Shape>()), w.at("trainable").get<bool>()});
    if (j.at("slots_embedded").get<bool>()) { // a model file's optimizer state
      int slots = slotCount(training_.optimizer);
      for (const Weight &w : weights_) {
        if (!w.trainable)
          continue;
        std::vector<Array> s;
        for (int k = 0; k < slots; ++k)
          s.push_back(take(w.value.shape));
        training_.slots.push_back(std::move(s));
      }
    } else {
      initSlots(training_, allWeights());
    }
    if (used != size)
      throw Error(name_, "the trainer's embedded weights do not match its description");
    for (const json &l : j.at("layers")) {
      LayerWeights lw{l.at("name"), {}};
      for (size_t i : l.at("weights").get<std::vector<size_t>>())
        lw.weights.push_back(&weights_.at(i));
      layers_.push_back(std::move(lw));
    }
    training_.gradStep = kiln_trainer_grad_step;
    training_.applyStep = kiln_trainer_apply_step;
    training_.evalStep = kiln_trainer_eval_step;
  }

  const std::string &modelName() const override { return name_; }
  std::vector<Weight *> allWeights() const override {
    std::vector<Weight *> out;
    for (const Weight &w : weights_)
      out.push_back(const_cast<Weight *>(&w));
    return out;
  }
  std::vector<std::pair<std::string, Shape>> inputSpecs() const override { return inputs_; }
  std::vector<std::pair<std::string, Shape>> outputSpecs() const override { return outputs_; }
  Training *trainingState() const override { return const_cast<Training *>(&training_); }
  void ensureSteps(const std::vector<Shape> &targets) override {
    if (targets != training_.targetShapes) {
      std::string want, got;
      for (const Shape &s : training_.targetShapes)
        want += (want.empty() ? "" : ", ") + Array::shapeString(s);
      for (const Shape &s : targets)
        got += (got.empty() ? "" : ", ") + Array::shapeString(s);
      throw Error(name_, "this trainer was compiled for targets of shape " + want +
                             "; the data's are " + got);
    }
  }
  void save(const std::string &path) const override {
    writeModelH5(path, modelConfig_, trainingConfig_, layers_, &training_);
  }
  void save_weights(const std::string &path) const override {
    h5::Writer w(path);
    writeLayerWeights(w, "", layers_);
    w.commit();
  }
  void load_weights(const std::string &) override {
    throw Error(name_, "a standalone trainer cannot load weights");
  }

private:
  std::string name_, modelConfig_, trainingConfig_;
  std::vector<std::pair<std::string, Shape>> inputs_, outputs_;
  std::vector<Weight> weights_;
  std::vector<LayerWeights> layers_;
  Training training_;
};

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The IDX element type byte (0x08 for unsigned bytes), or -1 when `path` is not IDX.
int idxType(const std::string &path) {
  gzFile f = gzopen(path.c_str(), "rb"); // reads plain files as they are
  if (!f)
    return -1;
  unsigned char head[4] = {};
  int n = gzread(f, head, 4);
  gzclose(f);
  return n == 4 && head[0] == 0 && head[1] == 0 ? head[2] : -1;
}

bool isNpy(const std::string &path) {
  std::FILE *f = std::fopen(path.c_str(), "rb");
  if (!f)
    throw Error("", "cannot open '" + path + "': " + std::strerror(errno));
  char head[6] = {};
  size_t n = std::fread(head, 1, 6, f);
  std::fclose(f);
  return n == 6 && std::memcmp(head, "\x93NUMPY", 6) == 0;
}

Array readArray(const std::string &path, bool scale) {
  try {
    if (isNpy(path))
      return loadNpy(path);
    int type = idxType(path);
    if (type < 0)
      throw Error("", "'" + path + "' is neither a .npy file nor an IDX file");
    Array a = loadIdx(path);
    if (type == 0x08 && scale)
      for (float &v : a.data)
        v /= 255.0f;
    return a;
  } catch (const Error &) {
    throw;
  } catch (const std::exception &e) {
    throw Error("", e.what());
  }
}

/// `a` reshaped to the model's sample shape `want` (batch first), when it holds the same
/// number of values per sample (IDX images (N, 28, 28) for an input (None, 28, 28, 1)).
Array fitShape(Array a, const Shape &want, const std::string &flag, const std::string &path,
               const std::string &what) {
  int64_t perSample = 1;
  for (size_t d = 1; d < want.size(); ++d)
    perSample *= want[d];
  int64_t n = a.rank() > 0 ? a.shape[0] : 0;
  int64_t have = n > 0 ? a.size() / n : 0;
  if (a.rank() < 1 || have != perSample) {
    Shape sample(a.shape.begin() + (a.rank() > 0 ? 1 : 0), a.shape.end());
    Shape wantSample(want.begin() + 1, want.end());
    throw Error("", flag + " '" + path + "': samples of shape " + Array::shapeString(sample) +
                        " (" + std::to_string(have) + " values) do not fit the model's " + what +
                        " of shape " + Array::shapeString(wantSample) + " (" +
                        std::to_string(perSample) + " values per sample)");
  }
  Shape s = want;
  s[0] = n;
  a.shape = s;
  return a;
}

int64_t parseInt(const std::string &flag, const std::string &v, int64_t min) {
  char *end = nullptr;
  errno = 0;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end || errno || n < min)
    throw UsageError(flag + " must be an integer >= " + std::to_string(min) + ", got '" + v +
                     "'");
  return n;
}

double parseDouble(const std::string &flag, const std::string &v) {
  char *end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end)
    throw UsageError(flag + " must be a number, got '" + v + "'");
  return d;
}

int run(int argc, char **argv) {
  std::vector<std::string> xs, ys;
  std::string output, checkpoint;
  FitOptions options;
  options.epochs = 1;
  options.verbose = 1;
  std::optional<double> learningRate;
  bool scale = true;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const std::string &flag) -> std::string {
      if (arg.size() > flag.size() && arg[flag.size()] == '=')
        return arg.substr(flag.size() + 1);
      if (i + 1 >= argc)
        throw UsageError(flag + " needs a value");
      return argv[++i];
    };
    auto is = [&](const std::string &flag) {
      return arg == flag || arg.rfind(flag + "=", 0) == 0;
    };
    if (arg == "--help" || arg == "-h") {
      std::printf(kUsage, argv[0]);
      return 0;
    } else if (is("--x"))
      xs.push_back(value("--x"));
    else if (is("--y"))
      ys.push_back(value("--y"));
    else if (is("--output"))
      output = value("--output");
    else if (is("--checkpoint"))
      checkpoint = value("--checkpoint");
    else if (is("--epochs"))
      options.epochs = int(parseInt("--epochs", value("--epochs"), 1));
    else if (is("--batch-size"))
      options.batch_size = parseInt("--batch-size", value("--batch-size"), 1);
    else if (is("--validation-split")) {
      options.validation_split = parseDouble("--validation-split", value("--validation-split"));
      if (!(options.validation_split >= 0 && options.validation_split < 1))
        throw UsageError("--validation-split must be in [0, 1)");
    } else if (arg == "--shuffle")
      options.shuffle = true;
    else if (arg == "--no-shuffle")
      options.shuffle = false;
    else if (is("--seed"))
      options.seed = uint64_t(parseInt("--seed", value("--seed"), 0));
    else if (is("--learning-rate")) {
      learningRate = parseDouble("--learning-rate", value("--learning-rate"));
      if (!(*learningRate > 0))
        throw UsageError("--learning-rate must be positive");
    } else if (is("--verbose"))
      options.verbose = int(parseInt("--verbose", value("--verbose"), 0));
    else if (arg == "--no-scale")
      scale = false;
    else
      throw UsageError("unknown option '" + arg + "'");
  }
  if (xs.empty() || ys.empty())
    throw UsageError("give the data: --x X.npy|X.idx --y Y.npy|Y.idx");
  if (output.empty())
    throw UsageError("no --output: where should the trained model go (e.g. --output "
                     "trained.h5)?");
  if (options.verbose > 2)
    throw UsageError("--verbose must be 0, 1 or 2");

  AotModel model;
  Training &t = *model.trainingState();
  auto inputs = model.inputSpecs(), outputs = model.outputSpecs();
  if (xs.size() != inputs.size() || ys.size() != outputs.size())
    throw UsageError("the model has " + std::to_string(inputs.size()) + " input(s) and " +
                     std::to_string(outputs.size()) + " output(s): give --x " +
                     std::to_string(inputs.size()) + " time(s) and --y " +
                     std::to_string(outputs.size()) + " time(s), in the model's order");
  if (learningRate) {
    t.optimizer.learning_rate = *learningRate;
    t.optimizer.schedule.reset();
  }
  std::vector<Array> xa, ya;
  for (size_t i = 0; i < xs.size(); ++i)
    xa.push_back(fitShape(readArray(xs[i], scale), inputs[i].second, "--x", xs[i], "input"));
  for (size_t o = 0; o < ys.size(); ++o) {
    Array a = readArray(ys[o], /*scale=*/false);
    const Shape &out = outputs[o].second;
    const std::string &loss = t.losses[o].name;
    if (loss == "sparse_categorical_crossentropy" && a.rank() == 2 && a.shape[1] == 1)
      a.shape = {a.shape[0]};
    if (loss == "categorical_crossentropy" && a.rank() == 1 && out.size() == 2) {
      // Integer labels for one-hot targets: Keras' to_categorical.
      Array hot({a.shape[0], out[1]});
      for (int64_t i = 0; i < a.shape[0]; ++i) {
        float v = a.data[i];
        if (!(v >= 0 && v < out[1] && v == float(int64_t(v))))
          throw Error("", "--y '" + ys[o] + "': label " + formatNumber(v) + " of sample " +
                              std::to_string(i) + " is not a class index in [0, " +
                              std::to_string(out[1]) + ")");
        hot.data[i * out[1] + int64_t(v)] = 1.0f;
      }
      a = std::move(hot);
    }
    ya.push_back(std::move(a));
  }
  if (!checkpoint.empty())
    options.callbacks.push_back(std::make_shared<callbacks::ModelCheckpoint>(checkpoint));
  fitArrays(nullptr, model, xa, ya, options);
  model.save(output);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  try {
    return run(argc, argv);
  } catch (const UsageError &e) {
    std::fprintf(stderr, "%s: error: %s (--help lists the options)\n", argv[0], e.what());
    return 2;
  } catch (const std::exception &e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", argv[0], e.what());
    return 1;
  }
}
