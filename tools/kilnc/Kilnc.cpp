//===- Kilnc.cpp - the kiln driver: compile kiln IR; summary and predict on Keras files -===//
#include "codegen/Aot.h"
#include "codegen/Driver.h"
#include "codegen/GpuPipeline.h"
#include "codegen/Registration.h"

#include "kiln/Npy.h"
#include "kiln/Emit.h"
#include "kiln/Version.h"
#include "kiln/kiln.h"

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>

#include "llvm/Config/llvm-config.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

namespace cl = llvm::cl;

namespace {

const char *kOverview =
    "kilnc: the kiln driver\n\n"
    "  kilnc compile FILE.mlir [--emit=STAGE] [-o OUT]   kiln IR to linalg, LLVM, asm, objects\n"
    "  kilnc FILE.mlir [--emit=STAGE] [-o OUT]           the same (the older form)\n"
    "  kilnc compile MODEL --emit=obj -o M.o --header M.h --prefix M\n"
    "                                                    an embeddable object, weights inside\n"
    "  kilnc compile MODEL --emit=exe -o PREDICT         a standalone predict program\n"
    "  kilnc summary MODEL                               Keras' model summary\n"
    "  kilnc predict MODEL --input X.npy --output Y.npy  run the model (kilnc predict --help)\n"
    "  kilnc --version                                   kiln, ABI and LLVM versions\n"
    "\nMODEL is a Keras .h5 (tf.keras 2.x, Keras 3 legacy h5, or kiln's), a Keras 3 .keras\n"
    "archive, or --config model.json --weights weights.h5.\n";

const char *kSummaryHelp =
    "usage: kilnc summary MODEL.h5|MODEL.keras\n"
    "       kilnc summary --config MODEL.json [--weights WEIGHTS.h5]\n\n"
    "Prints Keras' model summary: layers, output shapes, parameter counts.\n";

const char *kPredictHelp =
    "usage: kilnc predict MODEL --input X.npy [--input X2.npy ...] --output Y.npy [...]\n"
    "                     [--batch-size N] [--device cpu]\n"
    "       (MODEL: MODEL.h5, MODEL.keras, or --config MODEL.json --weights WEIGHTS.h5)\n\n"
    "Runs the model on the .npy inputs (batch first; one --input per model input, in the\n"
    "model's input order) and writes float32 .npy outputs (one --output per model output).\n"
    "  --batch-size N   samples per compiled call (default 32, as Keras)\n"
    "  --device cpu     where to run; cpu is the only device predict supports so far\n";

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

ModelArgs parseModelArgs(int argc, char **argv, bool predict) {
  ModelArgs a;
  auto value = [&](int &i, const std::string &flag) -> std::string {
    std::string arg = argv[i];
    if (arg.size() > flag.size() && arg[flag.size()] == '=')
      return arg.substr(flag.size() + 1);
    if (i + 1 >= argc)
      throw UsageError(flag + " needs a value");
    return argv[++i];
  };
  auto is = [](const std::string &arg, const std::string &flag) {
    return arg == flag || arg.rfind(flag + "=", 0) == 0;
  };
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
    return kiln::load_model(a.model);
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
  if (a.device == "gpu")
    throw UsageError("--device gpu: kiln's GPU predict path is not available yet; use "
                     "--device cpu");
  if (a.device != "cpu")
    throw UsageError("--device must be cpu or gpu, got '" + a.device + "'");
  kiln::Model model = loadModel(a);
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
  std::string input, output, emit, header, prefix, dumpDir, cc;
  mlir::kiln::PipelineOptions options;
};

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
  kiln::Model model = kiln::load_model(a.input);
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
    if (mlir::failed(writeFileAtomically(a.output, text, err)) ||
        (!a.header.empty() &&
         mlir::failed(writeFileAtomically(a.header, emitHeader(aot, plan), err)))) {
      if (!a.header.empty() && a.output != "-")
        llvm::sys::fs::remove(a.output);
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
  cl::opt<unsigned> optLevel("O", cl::desc("LLVM optimization level (0-3)"), cl::Prefix,
                             cl::init(3), cl::cat(category));
  cl::opt<std::string> device("device",
                              cl::desc("Where the generated code runs: cpu, or gpu (NVIDIA, "
                                       "PTX kernels; docs/GPU.md)"),
                              cl::init("cpu"), cl::cat(category));
  cl::opt<std::string> gpuChip("gpu-chip",
                               cl::desc("With --device gpu: the chip the PTX targets (sm_90; "
                                        "sm_80 PTX also runs on later chips)"),
                               cl::init("sm_90"), cl::cat(category));
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
  mlir::kiln::PipelineOptions options;
  options.tileAndVectorize = !noVectorize;
  options.optLevel = std::min(optLevel.getValue(), 3u);
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
    CompileArgs a{input, output, emit, header, prefix, dumpDir, cc, options};
    try {
      return compileModel(a);
    } catch (const std::exception &e) {
      llvm::errs() << "kilnc compile: error: " << e.what() << "\n";
      return 1;
    }
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
