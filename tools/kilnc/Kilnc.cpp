//===- Kilnc.cpp - the kiln driver: compile kiln IR; summary, predict, fit, evaluate on Keras files -===//
#include "codegen/Aot.h"
#include "codegen/Driver.h"
#include "codegen/GpuPipeline.h"
#include "codegen/Registration.h"

#include "kiln-trainer-link.h"
#include "kiln/Npy.h"
#include "kiln/Emit.h"
#include "kiln/Version.h"
#include "kiln/kiln.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>

#include "llvm/Config/llvm-config.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

namespace cl = llvm::cl;

namespace {

const char *kOverview =
    "kilnc: the kiln driver\n\n"
    "  kilnc compile FILE.mlir [--emit=STAGE] [-o OUT]   kiln IR to linalg, LLVM, asm, objects\n"
    "  kilnc FILE.mlir [--emit=STAGE] [-o OUT]           the same (the older form)\n"
    "  kilnc compile MODEL --emit=obj -o M.o --header M.h --prefix M\n"
    "                                                    an embeddable object, weights inside\n"
    "  kilnc compile MODEL --emit=obj -o M.o --header M.h --prefix M --weights-file M.kw\n"
    "                                                    the same, weights read at init\n"
    "  kilnc compile MODEL --emit=exe --train --optimizer adam --loss mse -o TRAIN\n"
    "                                                    a standalone trainer (docs/AOT.md)\n"
    "  kilnc compile MODEL --emit=exe -o PREDICT         a standalone predict program\n"
    "      [--target-cpu=native|x86-64|x86-64-v2|x86-64-v3|x86-64-v4|CPU] [--opt-level=0-3]\n"
    "      [--target-triple=TRIPLE]                      the CPU the code is built for\n"
    "  kilnc summary MODEL                               Keras' model summary\n"
    "  kilnc predict MODEL --input X.npy --output Y.npy  run the model (kilnc predict --help)\n"
    "  kilnc fit MODEL --x X.npy --y Y.npy --output T.h5 train it (kilnc fit --help)\n"
    "  kilnc evaluate MODEL --x X.npy --y Y.npy          loss and metrics (kilnc evaluate --help)\n"
    "  kilnc --version                                   kiln, ABI and LLVM versions\n"
    "\nMODEL is a Keras .h5 (tf.keras 2.x, Keras 3 legacy h5, or kiln's), a Keras 3 .keras\n"
    "archive, a TensorFlow.js model.json (weight shards next to it), or --config model.json\n"
    "--weights weights.h5.\n";

const char *kSummaryHelp =
    "usage: kilnc summary MODEL.h5|MODEL.keras|TFJS_MODEL.json\n"
    "       kilnc summary --config MODEL.json [--weights WEIGHTS.h5]\n\n"
    "Prints Keras' model summary: layers, output shapes, parameter counts.\n";

const char *kPredictHelp =
    "usage: kilnc predict MODEL --input X.npy [--input X2.npy ...] --output Y.npy [...]\n"
    "                     [--batch-size N] [--device cpu|gpu]\n"
    "       (MODEL: MODEL.h5, MODEL.keras, a TensorFlow.js model.json, or\n"
    "        --config MODEL.json --weights WEIGHTS.h5)\n\n"
    "Runs the model on the .npy inputs (batch first; one --input per model input, in the\n"
    "model's input order) and writes float32 .npy outputs (one --output per model output).\n"
    "  --batch-size N   samples per compiled call (default 32, as Keras)\n"
    "  --device D       where to run: cpu (default) or gpu (NVIDIA: kiln's PTX kernels through\n"
    "                   the CUDA driver; an error where there is no usable GPU)\n";

const char *kFitHelp =
    "usage: kilnc fit MODEL --x X.npy [--x X2.npy ...] --y Y.npy [--y Y2.npy ...] --output OUT\n"
    "                 [--epochs N] [--batch-size N] [--optimizer NAME] [--loss NAME]\n"
    "                 [--metrics NAME[,NAME...]] [--learning-rate LR] [--no-shuffle]\n"
    "                 [--validation-split F] [--history HISTORY.csv] [--seed N] [--verbose 0|1|2]\n"
    "                 [--terminate-on-nan]\n"
    "       (MODEL: MODEL.h5, MODEL.keras, or --config MODEL.json [--weights WEIGHTS.h5])\n\n"
    "Trains the model on the .npy data (one --x per model input, one --y per output, in the\n"
    "model's order) and saves it, compiled and with the optimizer's state, to OUT: a Keras\n"
    "HDF5 file (OUT.h5) or a Keras 3 archive (OUT.keras).\n"
    "The optimizer, loss and metrics come from the file's training_config unless given; with\n"
    "no --optimizer the saved optimizer state carries on (a resumed fit continues exactly).\n"
    "  --epochs N             passes over the data (default 1)\n"
    "  --batch-size N         samples per optimizer step (default 32, as Keras)\n"
    "  --optimizer NAME       sgd, adam, adamw, rmsprop, adagrad, adadelta, adamax, nadam, ftrl\n"
    "                         with Keras' defaults (a fresh optimizer state)\n"
    "  --loss NAME            a Keras loss name, e.g. categorical_crossentropy, mse\n"
    "  --metrics LIST         comma-separated (repeatable), e.g. accuracy\n"
    "  --learning-rate LR     replaces the optimizer's learning rate (and any schedule)\n"
    "  --no-shuffle           keep the sample order in every epoch\n"
    "  --validation-split F   hold out the last fraction F of the samples for validation\n"
    "  --history FILE         write the per-epoch logs in Keras' CSVLogger format\n"
    "  --seed N               seed the shuffling\n"
    "  --terminate-on-nan     stop after a batch whose loss is NaN or infinite and save the\n"
    "                         model as it is (Keras' TerminateOnNaN); without it such a loss\n"
    "                         is an error and nothing is written\n"
    "  --verbose 0|1|2        0 silent, 1 progress (default), 2 one line per epoch\n";

const char *kEvaluateHelp =
    "usage: kilnc evaluate MODEL --x X.npy [--x ...] --y Y.npy [--y ...] [--batch-size N]\n"
    "                      [--loss NAME] [--metrics LIST]\n"
    "       (MODEL: MODEL.h5, MODEL.keras, or --config MODEL.json --weights WEIGHTS.h5)\n\n"
    "Prints the loss and each metric over the data, one 'name: value' line each. The loss\n"
    "and metrics come from the file's training_config unless given.\n";
/// `kilnc --version`: the release, the ABI version of generated objects, the LLVM built against.
void printVersion(llvm::raw_ostream &os) {
  os << "kilnc (kiln) " KILN_VERSION_STRING "\n"
     << "generated C ABI version " << KILN_ABI_VERSION << "\n"
     << "LLVM and MLIR " LLVM_VERSION_STRING "\n";
}

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The options shared by summary and predict.
struct ModelArgs {
  std::string model, config, weights;
  std::vector<std::string> inputs, outputs;
  int64_t batchSize = 32;
  std::string device = "cpu";
  bool help = false;
};

/// `--flag=v` or `--flag v`: the value (advancing `i` past a separate one).
std::string flagValue(int argc, char **argv, int &i, const std::string &flag) {
  std::string arg = argv[i];
  if (arg.size() > flag.size() && arg[flag.size()] == '=')
    return arg.substr(flag.size() + 1);
  if (i + 1 >= argc)
    throw UsageError(flag + " needs a value");
  return argv[++i];
}

/// Whether `arg` is `flag`, alone or as `flag=value`.
bool is(const std::string &arg, const std::string &flag) {
  return arg == flag || arg.rfind(flag + "=", 0) == 0;
}

ModelArgs parseModelArgs(int argc, char **argv, bool predict) {
  ModelArgs a;
  auto value = [&](int &i, const std::string &flag) { return flagValue(argc, argv, i, flag); };
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h")
      a.help = true;
    else if (is(arg, "--config"))
      a.config = value(i, "--config");
    else if (is(arg, "--weights"))
      a.weights = value(i, "--weights");
    else if (predict && is(arg, "--input"))
      a.inputs.push_back(value(i, "--input"));
    else if (predict && is(arg, "--output"))
      a.outputs.push_back(value(i, "--output"));
    else if (predict && is(arg, "--batch-size")) {
      std::string v = value(i, "--batch-size");
      char *end = nullptr;
      long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end || n <= 0)
        throw UsageError("--batch-size must be a positive integer, got '" + v + "'");
      a.batchSize = n;
    } else if (predict && is(arg, "--device"))
      a.device = value(i, "--device");
    else if (!arg.empty() && arg[0] == '-')
      throw UsageError("unknown option '" + arg + "'");
    else if (a.model.empty())
      a.model = arg;
    else
      throw UsageError("unexpected argument '" + arg + "' (one model file)");
  }
  if (a.help)
    return a;
  if (!a.model.empty() && !a.config.empty())
    throw UsageError("give a model file or --config/--weights, not both");
  if (a.model.empty() && a.config.empty())
    throw UsageError("no model given (a .h5 or .keras file, or --config and --weights)");
  if (!a.weights.empty() && a.config.empty())
    throw UsageError("--weights needs --config (a weights-only file has no model config)");
  if (predict && a.config.size() && a.weights.empty())
    throw UsageError("predict needs weights: add --weights WEIGHTS.h5");
  return a;
}

kiln::Model loadModel(const ModelArgs &a) {
  if (!a.model.empty())
    return kiln::load_model(a.model, {.compile = false});
  if (a.weights.empty()) {
    std::ifstream in(a.config);
    if (!in)
      throw kiln::Error("", a.config + ": cannot open");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return kiln::model_from_json(text);
  }
  return kiln::load_model(a.config, a.weights);
}

int runSummary(int argc, char **argv) {
  ModelArgs a = parseModelArgs(argc, argv, /*predict=*/false);
  if (a.help) {
    std::cout << kSummaryHelp;
    return 0;
  }
  loadModel(a).summary(std::cout);
  return 0;
}

int runPredict(int argc, char **argv) {
  ModelArgs a = parseModelArgs(argc, argv, /*predict=*/true);
  if (a.help) {
    std::cout << kPredictHelp;
    return 0;
  }
  if (a.device != "cpu" && a.device != "gpu")
    throw UsageError("--device must be cpu or gpu, got '" + a.device + "'");
  kiln::Model model = loadModel(a);
  model.set_device(a.device);
  size_t nIn = model.inputs().size(), nOut = model.outputs().size();
  if (a.inputs.size() != nIn)
    throw UsageError("the model has " + std::to_string(nIn) + " input(s); give --input " +
                     std::to_string(nIn) + " time(s), got " + std::to_string(a.inputs.size()));
  if (a.outputs.size() != nOut)
    throw UsageError("the model has " + std::to_string(nOut) + " output(s); give --output " +
                     std::to_string(nOut) + " time(s), got " + std::to_string(a.outputs.size()));
  std::vector<kiln::Array> xs;
  for (size_t i = 0; i < nIn; ++i) {
    kiln::Array x = kiln::loadNpy(a.inputs[i]);
    auto want = model.inputs()[i].shape();
    bool ok = x.shape.size() == want.size();
    for (size_t d = 1; ok && d < want.size(); ++d)
      ok = x.shape[d] == want[d];
    if (!ok)
      throw kiln::Error(model.inputs()[i].name(),
                        a.inputs[i] + ": shape " + kiln::Array::shapeString(x.shape) +
                            " does not match the model input " +
                            kiln::Array::shapeString(want));
    xs.push_back(std::move(x));
  }
  kiln::PredictOptions options;
  options.batch_size = a.batchSize;
  std::vector<kiln::Array> ys = model.predict(xs, options);
  for (size_t i = 0; i < nOut; ++i)
    kiln::saveNpy(a.outputs[i], ys[i]);
  return 0;
}

/// The options of fit and evaluate.
struct TrainArgs {
  std::string model, config, weights, output, optimizer, loss, history;
  std::vector<std::string> xs, ys, metrics;
  bool metricsGiven = false, shuffle = true, help = false, terminateOnNaN = false;
  int64_t batchSize = 32, epochs = 1;
  std::optional<double> learningRate;
  double validationSplit = 0.0;
  std::optional<uint64_t> seed;
  int verbose = 1;
};

int64_t positiveInt(const std::string &flag, const std::string &v, bool allowZero = false) {
  char *end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end || n < (allowZero ? 0 : 1))
    throw UsageError(flag + " must be a " + (allowZero ? "non-negative" : "positive") +
                     " integer, got '" + v + "'");
  return n;
}

double realNumber(const std::string &flag, const std::string &v) {
  char *end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end || !std::isfinite(d))
    throw UsageError(flag + " must be a number, got '" + v + "'");
  return d;
}

TrainArgs parseTrainArgs(int argc, char **argv, bool fit) {
  TrainArgs a;
  auto value = [&](int &i, const std::string &flag) { return flagValue(argc, argv, i, flag); };
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h")
      a.help = true;
    else if (is(arg, "--config"))
      a.config = value(i, "--config");
    else if (is(arg, "--weights"))
      a.weights = value(i, "--weights");
    else if (is(arg, "--x"))
      a.xs.push_back(value(i, "--x"));
    else if (is(arg, "--y"))
      a.ys.push_back(value(i, "--y"));
    else if (is(arg, "--batch-size"))
      a.batchSize = positiveInt("--batch-size", value(i, "--batch-size"));
    else if (is(arg, "--loss"))
      a.loss = value(i, "--loss");
    else if (is(arg, "--metrics")) {
      a.metricsGiven = true;
      std::string list = value(i, "--metrics");
      size_t start = 0;
      while (start <= list.size()) {
        size_t comma = list.find(',', start);
        std::string m = list.substr(start, comma == std::string::npos ? std::string::npos
                                                                      : comma - start);
        if (!m.empty())
          a.metrics.push_back(m);
        if (comma == std::string::npos)
          break;
        start = comma + 1;
      }
    } else if (fit && is(arg, "--output"))
      a.output = value(i, "--output");
    else if (fit && is(arg, "--epochs"))
      a.epochs = positiveInt("--epochs", value(i, "--epochs"));
    else if (fit && is(arg, "--optimizer"))
      a.optimizer = value(i, "--optimizer");
    else if (fit && is(arg, "--learning-rate")) {
      a.learningRate = realNumber("--learning-rate", value(i, "--learning-rate"));
      if (!(*a.learningRate > 0))
        throw UsageError("--learning-rate must be positive");
    } else if (fit && arg == "--no-shuffle")
      a.shuffle = false;
    else if (fit && is(arg, "--validation-split")) {
      a.validationSplit = realNumber("--validation-split", value(i, "--validation-split"));
      if (!(a.validationSplit >= 0 && a.validationSplit < 1))
        throw UsageError("--validation-split must be in [0, 1)");
    } else if (fit && arg == "--terminate-on-nan")
      a.terminateOnNaN = true;
    else if (fit && is(arg, "--history"))
      a.history = value(i, "--history");
    else if (fit && is(arg, "--seed"))
      a.seed = uint64_t(positiveInt("--seed", value(i, "--seed"), /*allowZero=*/true));
    else if (fit && is(arg, "--verbose")) {
      std::string v = value(i, "--verbose");
      if (v != "0" && v != "1" && v != "2")
        throw UsageError("--verbose must be 0, 1 or 2, got '" + v + "'");
      a.verbose = v[0] - '0';
    } else if (!arg.empty() && arg[0] == '-')
      throw UsageError("unknown option '" + arg + "'");
    else if (a.model.empty())
      a.model = arg;
    else
      throw UsageError("unexpected argument '" + arg + "' (one model file)");
  }
  if (a.help)
    return a;
  if (!a.model.empty() && !a.config.empty())
    throw UsageError("give a model file or --config/--weights, not both");
  if (a.model.empty() && a.config.empty())
    throw UsageError("no model given (a .h5 or .keras file, or --config and --weights)");
  if (!a.weights.empty() && a.config.empty())
    throw UsageError("--weights needs --config (a weights-only file has no model config)");
  if (!fit && a.config.size() && a.weights.empty())
    throw UsageError("evaluate needs weights: add --weights WEIGHTS.h5");
  if (a.xs.empty())
    throw UsageError("no input data: give --x X.npy (once per model input)");
  if (a.ys.empty())
    throw UsageError("no targets: give --y Y.npy (once per model output)");
  if (fit && a.output.empty())
    throw UsageError("no --output: where should the trained model go (e.g. --output "
                     "trained.h5)?");
  return a;
}

/// Loads the model and compiles it from the file's training_config with the command line's
/// choices on top.
kiln::Model loadCompiled(const TrainArgs &a) {
  kiln::Model model = [&] {
    if (!a.model.empty())
      return kiln::load_model(a.model);
    ModelArgs m;
    m.config = a.config;
    m.weights = a.weights;
    return loadModel(m);
  }();
  bool compiled = model.impl && [&] {
    try {
      model.metrics_names();
      return true;
    } catch (const kiln::Error &) {
      return false;
    }
  }();
  if (compiled && a.optimizer.empty() && a.loss.empty() && !a.metricsGiven) {
    if (a.learningRate) {
      model.optimizer().learning_rate = *a.learningRate;
      model.optimizer().schedule.reset();
    }
    return model;
  }
  nlohmann::json config = compiled ? kiln::training_config(model) : nlohmann::json::object();
  std::string from = a.model.empty() ? a.config : a.model;
  if (!a.optimizer.empty())
    config["optimizer_config"] = {{"class_name", a.optimizer},
                                  {"config", nlohmann::json::object()}};
  if (!a.loss.empty())
    config["loss"] = a.loss;
  if (a.metricsGiven)
    config["metrics"] = a.metrics;
  if (!config.contains("loss"))
    throw UsageError("no loss: " + from + " has no training_config; give --loss (e.g. --loss "
                     "categorical_crossentropy)");
  if (!config.contains("optimizer_config"))
    throw UsageError("no optimizer: " + from + " has no training_config; give --optimizer "
                     "(e.g. --optimizer adam)");
  if (a.learningRate)
    config["optimizer_config"]["config"]["learning_rate"] = *a.learningRate;
  kiln::compile_from_training_config(model, config, /*keep_optimizer_state=*/a.optimizer.empty());
  return model;
}

/// Reads one .npy per model input or output, checking the count.
std::vector<kiln::Array> loadArrays(const std::vector<std::string> &paths, size_t want,
                                    const char *what, const char *flag) {
  if (paths.size() != want)
    throw UsageError("the model has " + std::to_string(want) + " " + what + "(s); give " + flag +
                     " " + std::to_string(want) + " time(s), got " +
                     std::to_string(paths.size()));
  std::vector<kiln::Array> out;
  for (const std::string &p : paths)
    out.push_back(kiln::loadNpy(p));
  return out;
}

/// Keras' CSVLogger: `epoch,<sorted keys>`, one row per epoch ending in "\r\n" as Python's
/// csv module ends them. The whole file is rewritten through a temporary file and a rename
/// after every epoch, so a reader never sees half a row.
class HistoryCsv : public kiln::Callback {
public:
  explicit HistoryCsv(std::string path) : path(std::move(path)) {}
  void on_epoch_end(int epoch, kiln::Logs &logs) override {
    if (keys.empty())
      for (const auto &[k, v] : logs)
        keys.push_back(k); // std::map: sorted as Python sorts str keys
    text += std::to_string(epoch);
    for (const std::string &k : keys) {
      auto it = logs.find(k);
      text += "," + (it == logs.end() ? std::string("NA")
                                      : kiln::callbacks::python_float_repr(it->second));
    }
    text += "\r\n";
    std::string header = "epoch";
    for (const std::string &k : keys)
      header += "," + k;
    std::string err;
    if (mlir::failed(mlir::kiln::writeFileAtomically(path, header + "\r\n" + text, err)))
      throw kiln::Error("", "--history: " + err);
  }

private:
  std::string path, text;
  std::vector<std::string> keys;
};

int runFit(int argc, char **argv) {
  TrainArgs a = parseTrainArgs(argc, argv, /*fit=*/true);
  if (a.help) {
    std::cout << kFitHelp;
    return 0;
  }
  kiln::Model model = loadCompiled(a);
  std::vector<kiln::Array> xs = loadArrays(a.xs, model.inputs().size(), "input", "--x");
  std::vector<kiln::Array> ys = loadArrays(a.ys, model.outputs().size(), "output", "--y");
  kiln::FitOptions options;
  options.batch_size = a.batchSize;
  options.epochs = int(a.epochs);
  options.verbose = a.verbose;
  options.shuffle = a.shuffle;
  options.seed = a.seed;
  options.validation_split = a.validationSplit;
  if (!a.history.empty())
    options.callbacks.push_back(std::make_shared<HistoryCsv>(a.history));
  if (a.terminateOnNaN)
    options.callbacks.push_back(std::make_shared<kiln::callbacks::TerminateOnNaN>());
  model.fit(xs, ys, options);
  model.save(a.output);
  return 0;
}

int runEvaluate(int argc, char **argv) {
  TrainArgs a = parseTrainArgs(argc, argv, /*fit=*/false);
  if (a.help) {
    std::cout << kEvaluateHelp;
    return 0;
  }
  kiln::Model model = loadCompiled(a);
  std::vector<kiln::Array> xs = loadArrays(a.xs, model.inputs().size(), "input", "--x");
  std::vector<kiln::Array> ys = loadArrays(a.ys, model.outputs().size(), "output", "--y");
  kiln::EvaluateOptions options;
  options.batch_size = a.batchSize;
  std::vector<double> scores = model.evaluate(xs, ys, options);
  std::vector<std::string> names = model.metrics_names();
  for (size_t i = 0; i < scores.size() && i < names.size(); ++i)
    std::cout << names[i] << ": " << kiln::callbacks::python_float_repr(scores[i]) << "\n";
  return 0;
}

/// A C identifier from a Keras name.
std::string cName(const std::string &name, const std::string &fallback) {
  std::string out;
  for (char c : name)
    out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0])))
    return fallback;
  return out;
}

struct CompileArgs {
  std::string input, output, emit, header, prefix, dumpDir, cc, weightsFile;
  mlir::kiln::PipelineOptions options;
  /// --train: the compile() choices (as `kilnc fit` takes them).
  bool train = false;
  TrainArgs training;
};

/// `kilnc compile MODEL --emit=exe --train`: the steps fit compiles through the JIT, compiled
/// to an object with the same pipeline, linked with the runtime's fit loop (TrainerMain.cpp).
int compileTrainer(const CompileArgs &a) {
  using namespace mlir::kiln;
  // Bad names (optimizer, loss, metric) fail here, before anything is written.
  kiln::Model model = loadCompiled(a.training);
  std::vector<std::vector<int64_t>> targets = kiln::default_target_shapes(model);
  std::unique_ptr<mlir::MLIRContext> context = [] {
    mlir::DialectRegistry registry;
    registerAllKilnDialects(registry);
    auto ctx = std::make_unique<mlir::MLIRContext>(registry);
    ctx->disableMultithreading();
    return ctx;
  }();
  mlir::OwningOpRef<mlir::ModuleOp> module = kiln::trainingMLIR(model, targets, *context);
  PipelineOptions options = a.options;
  // As fit's JIT compiles them (frontend/lib/Predict.cpp, compileModule): same code, same bits.
  options.checkedAllocations = true;
  options.planMemory = false;
  std::string err;
  if (mlir::failed(lowerToStage(*module, Stage::LLVMDialect, options)))
    return 1;
  mlir::FailureOr<std::string> wrappers = trainerWrappers(*module, err);
  if (mlir::failed(wrappers)) {
    llvm::errs() << "kilnc: error: " << err << "\n";
    return 1;
  }
  mlir::FailureOr<std::string> object = translateModule(*module, Stage::Obj, options);
  if (mlir::failed(object))
    return 1;
  kiln::TrainerParts parts = kiln::trainer_parts(model, targets);
  // kiln's libraries next to this kilnc (<bin>/../lib in the build tree, the install tree's
  // library folder), then the system's.
  std::string self = llvm::sys::fs::getMainExecutable(nullptr, (void *)&compileTrainer);
  llvm::SmallString<256> bin(llvm::sys::path::parent_path(self));
  std::vector<std::string> libraries;
  for (llvm::StringRef name : llvm::split(KILN_TRAINER_KILN_LIBS, ';')) {
    std::string found;
    for (llvm::StringRef rel : {llvm::StringRef("../lib"),
                                llvm::StringRef(KILN_TRAINER_LIBDIR_FROM_BIN)}) {
      llvm::SmallString<256> path(bin);
      llvm::sys::path::append(path, rel, name);
      if (found.empty() && llvm::sys::fs::exists(path))
        found = path.str().str();
    }
    if (found.empty()) {
      llvm::errs() << "kilnc: error: cannot find " << name << " next to " << self
                   << " (in ../lib or " << KILN_TRAINER_LIBDIR_FROM_BIN
                   << "): the trainer's runtime is not installed\n";
      return 1;
    }
    libraries.push_back(found);
  }
  for (llvm::StringRef lib : llvm::split(KILN_TRAINER_SYSTEM_LIBS, ';'))
    if (!lib.empty())
      libraries.push_back(lib.str());
  for (llvm::StringRef flag : llvm::split(KILN_TRAINER_LINK_FLAGS, ';'))
    if (!flag.empty())
      libraries.push_back(flag.str());
  if (mlir::failed(linkTrainerExecutable(a.cc, *object, *wrappers, parts.description,
                                         parts.data, libraries, a.output, err))) {
    llvm::errs() << "kilnc: error: " << err << "\n";
    return 1;
  }
  return 0;
}

/// `kilnc compile MODEL.h5|.keras`: the model with its weights baked in. Stages up to linalg
/// print the `@predict` module (weights as arguments); later ones are the embeddable unit.
int compileModel(const CompileArgs &a) {
  using namespace mlir::kiln;
  bool exe = a.emit == "exe";
  bool gpu = a.options.device == Device::GPU;
  std::optional<Stage> stage = exe ? Stage::Obj : parseStage(a.emit);
  std::string prefix = exe ? "kiln_model" : a.prefix;
  if (!isValidPrefix(prefix)) {
    llvm::errs() << "kilnc: error: --prefix '" << prefix << "' is not a C identifier\n";
    return 1;
  }
  if (!a.header.empty() && *stage != Stage::Obj) {
    llvm::errs() << "kilnc: error: --header goes with --emit=obj\n";
    return 1;
  }
  if (!a.weightsFile.empty() && (exe || gpu || *stage <= Stage::Linalg || *stage == Stage::Ptx)) {
    llvm::errs() << "kilnc: error: --weights-file goes with --emit=obj (or llvm-dialect, "
                    "llvm-ir, asm) on the CPU\n";
    return 1;
  }
  if (!a.weightsFile.empty() && (a.weightsFile == a.output || a.weightsFile == a.header)) {
    llvm::errs() << "kilnc: error: --weights-file must differ from -o and --header\n";
    return 1;
  }
  kiln::Model model = kiln::load_model(a.input, {.compile = false});
  std::vector<kiln::Array> weights = model.get_weights();

  mlir::DialectRegistry registry;
  registerAllKilnDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  context.printOpOnDiagnostic(false);
  mlir::OwningOpRef<mlir::ModuleOp> module = kiln::toMLIR(model, context);

  PipelineOptions options = a.options;
  // Device memory is not planned: the GPU code allocates through kiln's runtime.
  options.planMemory = !gpu;
  std::string text;
  if (*stage == Stage::Ptx) {
    mlir::FailureOr<std::string> ptx = mlir::failure();
    if (mlir::failed(lowerToStage(*module, Stage::LLVMDialect, options)) ||
        mlir::failed(ptx = extractPtx(*module)) ||
        mlir::failed(writeFileAtomically(a.output, *ptx, text))) {
      if (!text.empty())
        llvm::errs() << "kilnc: error: " << text << "\n";
      return 1;
    }
    return 0;
  }
  if (*stage <= Stage::Linalg) {
    if (mlir::failed(lowerToStage(*module, *stage, options)))
      return 1;
    llvm::raw_string_ostream os(text);
    module->print(os);
  }

  AotModel aot;
  aot.prefix = prefix;
  aot.modelName = model.name();
  aot.gpu = gpu;
  aot.externalWeights = !a.weightsFile.empty();
  auto ins = model.inputs(), outs = model.outputs();
  for (size_t i = 0; i < ins.size(); ++i)
    aot.inputs.push_back({ins.size() == 1 ? "x" : "x" + std::to_string(i), ins[i].shape(), {}});
  for (size_t i = 0; i < outs.size(); ++i)
    aot.outputs.push_back({outs.size() == 1 ? "y" : "y" + std::to_string(i), outs[i].shape(), {}});
  for (size_t i = 0; i < weights.size(); ++i)
    aot.weights.push_back({"weight" + std::to_string(i), weights[i].shape, weights[i].ptr()});

  WorkspacePlan plan;
  if (*stage > Stage::Linalg) {
    if (mlir::failed(lowerToStage(*module, Stage::LLVMDialect, options)))
      return 1;
    mlir::FailureOr<WorkspacePlan> read =
        gpu ? mlir::FailureOr<WorkspacePlan>(WorkspacePlan{}) : readWorkspacePlan(*module);
    if (mlir::failed(read) || mlir::failed(embedModel(*module, aot)))
      return 1;
    plan = *read;
    if (*stage == Stage::LLVMDialect) {
      llvm::raw_string_ostream os(text);
      module->print(os);
    } else {
      mlir::FailureOr<std::string> translated = translateModule(*module, *stage, options);
      if (mlir::failed(translated))
        return 1;
      text = std::move(*translated);
    }
  }

  std::string err;
  if (exe) {
    if (ins.size() != 1 || outs.size() != 1) {
      llvm::errs() << "kilnc: error: --emit=exe supports models with one input and one output "
                      "so far; this one has "
                   << ins.size() << " and " << outs.size() << " (use --emit=obj)\n";
      return 1;
    }
    if (mlir::failed(
            linkPredictExecutable(a.cc, text, emitHeader(aot, plan), a.output, err, gpu))) {
      llvm::errs() << "kilnc: error: " << err << "\n";
      return 1;
    }
  } else {
    // The blob, the object, the header: each atomically; a failure removes the earlier ones.
    std::vector<std::string> written;
    auto write = [&](const std::string &path, llvm::StringRef contents) {
      if (mlir::failed(writeFileAtomically(path, contents, err)))
        return false;
      if (path != "-")
        written.push_back(path);
      return true;
    };
    if ((aot.externalWeights && !write(a.weightsFile, weightsBlob(aot))) ||
        !write(a.output, text) ||
        (!a.header.empty() && !write(a.header, emitHeader(aot, plan)))) {
      for (const std::string &path : written)
        llvm::sys::fs::remove(path);
      llvm::errs() << "kilnc: error: " << err << "\n";
      return 1;
    }
  }
  if (*stage > Stage::Linalg && a.output != "-" && !gpu)
    llvm::errs() << "kilnc: workspace " << plan.bytes(1) << " bytes for batch 1 ("
                 << plan.buffers << " buffers, " << plan.naiveBytes(1)
                 << " bytes if each had its own)\n";
  return 0;
}

int runCompile(int argc, char **argv) {
  cl::OptionCategory category("kilnc options");
  cl::opt<std::string> input(cl::Positional,
                             cl::desc("<kiln-dialect .mlir, or a Keras .h5/.keras model>"),
                             cl::init("-"), cl::cat(category));
  cl::opt<std::string> output("o", cl::desc("Output file ('-' for stdout)"),
                              cl::value_desc("file"), cl::init("-"), cl::cat(category));
  cl::opt<std::string> emit("emit",
                            cl::desc("What to produce: kiln, linalg, llvm-dialect, llvm-ir, "
                                     "asm, obj, exe (Keras models), ptx (--device gpu)"),
                            cl::init("llvm-dialect"), cl::cat(category));
  cl::opt<std::string> header("header",
                              cl::desc("With a Keras model and --emit=obj: write the object's "
                                       "C header here"),
                              cl::value_desc("file"), cl::cat(category));
  cl::opt<std::string> prefix("prefix",
                              cl::desc("C prefix of the object's symbols (<prefix>_predict)"),
                              cl::init("model"), cl::cat(category));
  cl::opt<std::string> weightsFile(
      "weights-file",
      cl::desc("With a Keras model and --emit=obj: leave the weights out of the object and "
               "write them to FILE (the header gains <prefix>_init)"),
      cl::value_desc("file"), cl::cat(category));
  cl::opt<std::string> dumpDir("dump-ir-after-all",
                               cl::desc("Write the IR after every pass to DIR/NNN-<pass>.mlir"),
                               cl::value_desc("dir"), cl::cat(category));
  cl::opt<bool> planMemory("plan-memory",
                           cl::desc("For .mlir input: place buffers in a workspace argument "
                                    "(Keras models always do)"),
                           cl::init(false), cl::cat(category));
  cl::opt<std::string> cc("cc", cl::desc("C compiler that links --emit=exe"),
                          cl::init("clang-22"), cl::cat(category));
  cl::opt<bool> noVectorize("no-vectorize",
                            cl::desc("Lower matmul and conv to plain loops (for comparison)"),
                            cl::init(false), cl::cat(category));
  cl::opt<bool> noFusion("no-fusion",
                         cl::desc("No producer-consumer fusion: every op its own loop nest "
                                  "(to measure what fusion saves)"),
                         cl::init(false), cl::cat(category));
  cl::opt<unsigned> optLevel("O", cl::desc("LLVM optimization level (0-3; as --opt-level)"),
                             cl::Prefix, cl::init(3), cl::cat(category));
  cl::opt<unsigned> optLevelLong("opt-level", cl::desc("LLVM optimization level, 0-3 (default 3)"),
                                 cl::init(3), cl::cat(category));
  cl::opt<std::string> targetCpu(
      "target-cpu",
      cl::desc("CPU the code is compiled for: native (this machine, the default), x86-64, "
               "x86-64-v2, x86-64-v3, x86-64-v4, or any LLVM CPU name (skylake-avx512, znver4)"),
      cl::init("native"), cl::cat(category));
  cl::opt<std::string> targetTriple(
      "target-triple",
      cl::desc("Cross-compile for this target triple (e.g. aarch64-linux-gnu); default: this "
               "machine's. Needs a --target-cpu of that target"),
      cl::cat(category));
  cl::opt<std::string> device("device",
                              cl::desc("Where the generated code runs: cpu, or gpu (NVIDIA, "
                                       "PTX kernels; docs/GPU.md)"),
                              cl::init("cpu"), cl::cat(category));
  cl::opt<std::string> gpuChip("gpu-chip",
                               cl::desc("With --device gpu: the chip the PTX targets (sm_90; "
                                        "sm_80 PTX also runs on later chips)"),
                               cl::init("sm_90"), cl::cat(category));
  cl::opt<bool> train("train",
                      cl::desc("With --emit=exe: a standalone trainer (the compiled train step "
                               "and the runtime's fit loop) instead of a predict program"),
                      cl::cat(category));
  cl::opt<std::string> optimizer("optimizer",
                                 cl::desc("With --train: the optimizer (adam, sgd, rmsprop...); "
                                          "default: the model file's training_config"),
                                 cl::cat(category));
  cl::opt<std::string> loss("loss",
                            cl::desc("With --train: the loss (categorical_crossentropy, mse...); "
                                     "default: the model file's training_config"),
                            cl::cat(category));
  cl::list<std::string> metrics("metrics", cl::desc("With --train: metrics (accuracy, mae...)"),
                                cl::CommaSeparated, cl::cat(category));
  cl::opt<std::string> learningRate("learning-rate",
                                    cl::desc("With --train: the optimizer's learning rate"),
                                    cl::cat(category));
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, kOverview);

  if (device != "cpu" && device != "gpu") {
    llvm::errs() << "kilnc: error: --device must be cpu or gpu, got '" << device << "'\n";
    return 1;
  }
  if (emit == "ptx" && device != "gpu") {
    llvm::errs() << "kilnc: error: --emit=ptx needs --device gpu\n";
    return 1;
  }
  if (!llvm::StringRef(gpuChip).starts_with("sm_")) {
    llvm::errs() << "kilnc: error: --gpu-chip must name an NVIDIA chip such as sm_90, got '"
                 << gpuChip << "'\n";
    return 1;
  }
  llvm::StringRef in(input);
  bool isModel = in.ends_with(".h5") || in.ends_with(".keras");
  std::optional<mlir::kiln::Stage> stage = mlir::kiln::parseStage(emit);
  if (!stage && !(isModel && emit == "exe")) {
    llvm::errs() << "kilnc: error: unknown --emit stage '" << emit
                 << "' (expected kiln, linalg, llvm-dialect, llvm-ir, asm, obj, ptx"
                 << (isModel ? ", exe" : "; exe needs a Keras model") << ")\n";
    return 1;
  }
  unsigned level = optLevelLong.getNumOccurrences() ? optLevelLong : optLevel;
  if (level > 3) {
    llvm::errs() << "kilnc: error: --opt-level must be 0, 1, 2 or 3, got " << level << "\n";
    return 1;
  }
  mlir::kiln::PipelineOptions options;
  options.tileAndVectorize = !noVectorize;
  options.fusion = !noFusion;
  options.optLevel = level;
  options.targetCpu = targetCpu;
  options.targetTriple = targetTriple;
  if (device == "cpu") {
    // Checked before any work: an unknown CPU or triple is one line, and no output.
    std::string err;
    if (!mlir::kiln::createTargetMachine(options, err)) {
      llvm::errs() << "kilnc: error: " << err
                   << (llvm::StringRef(err).starts_with("unknown CPU")
                           ? " (give native, x86-64, x86-64-v2, x86-64-v3, x86-64-v4 or an "
                             "LLVM CPU name such as skylake-avx512)"
                           : "")
                   << "\n";
      return 1;
    }
    if (emit == "exe" && !mlir::kiln::isHostTriple(targetTriple)) {
      llvm::errs() << "kilnc: error: --emit=exe links a program for this machine; "
                      "--target-triple goes with --emit=obj, asm or llvm-ir\n";
      return 1;
    }
  }
  options.dumpIRDir = dumpDir;
  if (device == "gpu") {
    options.device = mlir::kiln::Device::GPU;
    options.gpuChip = gpuChip;
    if (planMemory) {
      llvm::errs() << "kilnc: error: --plan-memory is for the CPU: GPU code allocates device "
                      "memory through kiln's runtime\n";
      return 1;
    }
  }
  if (isModel) {
    if (emit == "exe" && output == "-") {
      llvm::errs() << "kilnc: error: --emit=exe needs -o FILE\n";
      return 1;
    }
    CompileArgs a{input, output, emit, header, prefix, dumpDir, cc, weightsFile, options};
    try {
      if (train) {
        if (emit != "exe" || device != "cpu" || !header.empty() || !weightsFile.empty()) {
          llvm::errs() << "kilnc: error: --train goes with --emit=exe on the CPU (no --header, "
                          "--weights-file or --device gpu)\n";
          return 1;
        }
        a.train = true;
        a.training.model = input;
        a.training.optimizer = optimizer;
        a.training.loss = loss;
        a.training.metrics.assign(metrics.begin(), metrics.end());
        a.training.metricsGiven = metrics.getNumOccurrences() > 0;
        if (learningRate.getNumOccurrences())
          a.training.learningRate = realNumber("--learning-rate", learningRate);
        return compileTrainer(a);
      }
      if (optimizer.getNumOccurrences() || loss.getNumOccurrences() ||
          metrics.getNumOccurrences() || learningRate.getNumOccurrences()) {
        llvm::errs() << "kilnc: error: --optimizer, --loss, --metrics and --learning-rate go "
                        "with --emit=exe --train\n";
        return 1;
      }
      return compileModel(a);
    } catch (const std::exception &e) {
      llvm::errs() << "kilnc compile: error: " << e.what() << "\n";
      return 1;
    }
  }
  if (!weightsFile.empty()) {
    llvm::errs() << "kilnc: error: --weights-file needs a Keras model (.h5 or .keras): a .mlir "
                    "module has no weights\n";
    return 1;
  }
  if (train) {
    llvm::errs() << "kilnc: error: --train needs a Keras model (.h5 or .keras)\n";
    return 1;
  }
  if (!header.empty()) {
    llvm::errs() << "kilnc: error: --header needs a Keras model (.h5 or .keras): a .mlir "
                    "module has no weights to bake in\n";
    return 1;
  }
  options.planMemory = planMemory;
  return mlir::failed(mlir::kiln::compileFile(input, output, *stage, options)) ? 1 : 0;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  // Replaces LLVM's printer, so that `kilnc compile --version` says the same.
  llvm::cl::SetVersionPrinter(printVersion);
  std::string sub = argc > 1 ? argv[1] : "";
  if (sub == "--version") {
    printVersion(llvm::outs());
    return 0;
  }
  try {
    if (sub == "summary")
      return runSummary(argc, argv);
    if (sub == "predict")
      return runPredict(argc, argv);
    if (sub == "plot" || sub == "plot-history")
      return kiln::utils::plot_main(argc, argv);
    if (sub == "fit")
      return runFit(argc, argv);
    if (sub == "evaluate")
      return runEvaluate(argc, argv);
  } catch (const UsageError &e) {
    llvm::errs() << "kilnc " << sub << ": error: " << e.what() << " (see kilnc " << sub
                 << " --help)\n";
    return 1;
  } catch (const std::exception &e) {
    llvm::errs() << "kilnc " << sub << ": error: " << e.what() << "\n";
    return 1;
  }
  if (sub == "compile") {
    // `kilnc compile ARGS` is `kilnc ARGS`: drop the word and parse as before.
    std::vector<char *> args(argv, argv + argc);
    args.erase(args.begin() + 1);
    return runCompile(int(args.size()), args.data());
  }
  return runCompile(argc, argv);
}
