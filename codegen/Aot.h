//===- Aot.h - ahead-of-time objects: baked weights, a plain C entry point, its header -===//
#ifndef KILN_CODEGEN_AOT_H
#define KILN_CODEGEN_AOT_H

#include "codegen/Pipelines.h"
#include "kiln/Version.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::kiln {

/// kiln's version, written into every generated header (project(kiln VERSION) in CMake).
inline constexpr const char *kKilnVersion = KILN_VERSION_STRING;
/// The version of the generated C ABI (cmake/Version.cmake; docs/Versioning.md says what
/// changes it).
inline constexpr int kAotAbiVersion = KILN_ABI_VERSION;

/// One array of a model's interface or weights. A batch dimension is -1.
struct AotArray {
  std::string name;
  std::vector<int64_t> shape;
  const float *data = nullptr; // weights only; must outlive embedModel
};

/// What embedModel needs to know of the model behind a `@predict` module.
struct AotModel {
  /// C identifier that prefixes every exported symbol and macro (`<prefix>_predict`).
  std::string prefix;
  std::string modelName;
  std::vector<AotArray> inputs, outputs;
  /// In `@predict`'s argument order (Keras' get_weights()).
  std::vector<AotArray> weights;
  /// `@predict` was lowered for the GPU (codegen/GpuPipeline.h): no workspace (device
  /// buffers come from the runtime, `<prefix>_workspace_size` returns 0), and the entry
  /// point checks the device first and reports device failures (kiln_gpu.h's status codes).
  bool gpu = false;
  /// The weights are not baked in: the object reads them from a blob (weightsBlob) that the
  /// embedder passes to `<prefix>_init` before the first `<prefix>_predict`.
  bool externalWeights = false;
};

/// The weights blob of `--weights-file`: a 64-byte header (kWeightsMagic, format version,
/// ABI version, weightsFingerprint, array count, payload bytes), then each weight in
/// get_weights() order as little-endian float32, every array starting on a 64-byte boundary.
inline constexpr char kWeightsMagic[8] = {'K', 'I', 'L', 'N', 'W', 'G', 'T', '\0'};
inline constexpr uint32_t kWeightsFormatVersion = 1;
inline constexpr int64_t kWeightsHeaderBytes = 64;

/// A hash (FNV-1a, 64 bits) of the weights' count and shapes: a blob fits an object only if
/// both come from models with the same weight shapes. The values do not enter it, so a blob
/// of retrained weights fits the same object.
uint64_t weightsFingerprint(const AotModel &model);
/// The bytes of the blob: header and payload, as described above.
std::string weightsBlob(const AotModel &model);
/// Byte offset of each weight in the blob.
std::vector<int64_t> weightOffsets(const AotModel &model, int64_t &totalBytes);

/// The static memory plan of `@predict`, from the `kiln.memory_plan` module attribute.
struct WorkspacePlan {
  /// Workspace bytes: the maximum over these `a * batch + b` terms.
  std::vector<std::pair<int64_t, int64_t>> ends;
  /// The sum of all intermediate buffers (what allocating each separately would hold at once).
  std::pair<int64_t, int64_t> naive{0, 0};
  int64_t buffers = 0;
  int64_t bytes(int64_t batch) const;
  int64_t naiveBytes(int64_t batch) const { return naive.first * batch + naive.second; }
};

/// Whether `prefix` is a usable C identifier (letters, digits, '_', not starting with a digit).
bool isValidPrefix(StringRef prefix);

/// Reads the plan kiln-plan-memory recorded for `func`.
FailureOr<WorkspacePlan> readWorkspacePlan(ModuleOp module, StringRef func = "predict");

/// Turns `module` — `@predict` lowered to the LLVM dialect with PipelineOptions::planMemory —
/// into an embeddable unit: the weights become read-only globals, and two functions are
/// exported with a plain C signature,
///   int <prefix>_predict(const float *x0, ..., float *y0, ..., int64_t batch, void *workspace);
///   int64_t <prefix>_workspace_size(int64_t batch);
/// every other symbol becomes internal, so that several models link into one program.
/// With `model.externalWeights` a third one,
///   int <prefix>_init(const void *weights, int64_t size);
/// checks a weights blob and keeps a pointer to it (an 8-byte internal global).
LogicalResult embedModel(ModuleOp module, const AotModel &model);

/// The C99 header declaring what embedModel exports, with shapes, sizes and version macros.
std::string emitHeader(const AotModel &model, const WorkspacePlan &plan);

/// The C source of the standalone predict program (`--emit=exe`), for a model compiled with
/// prefix `kiln_model` whose header is `kiln_model.h`.
StringRef predictDriverSource();

/// The C source of kiln's CUDA runtime shim (runtime/gpu/CudaRuntime.c) and its header
/// (kiln_gpu.h), which `--emit=exe --device gpu` compiles into the program.
StringRef gpuRuntimeSource();
StringRef gpuRuntimeHeader();

/// Compiles `driverSource` with `compiler` (a C compiler such as clang-22 or cc) and links it
/// with the object `objectBytes` into the executable `outputPath`, written atomically.
/// `header` is the object's header (kiln_model.h). Errors go to `err`.
/// With `gpu`, the CUDA runtime shim is compiled in too and the program links libdl.
LogicalResult linkPredictExecutable(StringRef compiler, StringRef objectBytes, StringRef header,
                                    StringRef outputPath, std::string &err, bool gpu = false);

/// C source of the packed entry points a standalone trainer calls,
///   void kiln_trainer_grad_step(void **args);  (and _apply_step, _eval_step)
/// over the `_mlir_ciface_` functions of `module` (the training steps lowered to the LLVM
/// dialect), each argument a pointer to a pointer to a memref descriptor as ExecutionEngine
/// packs them.
FailureOr<std::string> trainerWrappers(ModuleOp module, std::string &err);
/// Links the standalone trainer (`--emit=exe --train`): the steps' object, the wrappers, the
/// model's description and data (embedded as read-only data), and `libraries` (the runtime's
/// trainer main and libraries, kiln-trainer-link.h), into `outputPath`, written atomically.
LogicalResult linkTrainerExecutable(StringRef compiler, StringRef objectBytes,
                                    StringRef wrappers, StringRef description, StringRef data,
                                    ArrayRef<std::string> libraries, StringRef outputPath,
                                    std::string &err);

} // namespace mlir::kiln

#endif // KILN_CODEGEN_AOT_H
