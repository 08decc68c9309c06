/* CudaRuntime.c - the mgpu* host functions of MLIR's gpu-to-llvm lowering, on the CUDA driver
 * API opened with dlopen at run time (see runtime/include/kiln/kiln_gpu.h).
 *
 * C99 with POSIX threads and libdl; no CUDA header or library is needed to build it: the few
 * driver types are opaque pointers and integers, declared here. kilnc compiles this file into
 * every --device gpu program. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kiln_gpu.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef unsigned long long CUdeviceptr;

enum { CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
       CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76 };
enum { CU_JIT_INFO_LOG_BUFFER = 3, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4,
       CU_JIT_ERROR_LOG_BUFFER = 5, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
       CU_JIT_OPTIMIZATION_LEVEL = 7 };
enum { CU_STREAM_NON_BLOCKING = 1, CU_EVENT_DEFAULT = 0 };
enum { CUDA_ERROR_OUT_OF_MEMORY = 2 };

/* The driver entry points kiln uses, by their exported (versioned) names. */
#define KILN_CUDA_FUNCTIONS(X)                                                                 \
  X(cuInit, "cuInit", (unsigned))                                                             \
  X(cuDriverGetVersion, "cuDriverGetVersion", (int *))                                        \
  X(cuDeviceGetCount, "cuDeviceGetCount", (int *))                                            \
  X(cuDeviceGet, "cuDeviceGet", (CUdevice *, int))                                            \
  X(cuDeviceGetName, "cuDeviceGetName", (char *, int, CUdevice))                              \
  X(cuDeviceGetAttribute, "cuDeviceGetAttribute", (int *, int, CUdevice))                     \
  X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", (CUcontext *, CUdevice))            \
  X(cuCtxSetCurrent, "cuCtxSetCurrent", (CUcontext))                                          \
  X(cuGetErrorString, "cuGetErrorString", (CUresult, const char **))                          \
  X(cuModuleLoadData, "cuModuleLoadData", (CUmodule *, const void *))                         \
  X(cuModuleLoadDataEx, "cuModuleLoadDataEx",                                                 \
    (CUmodule *, const void *, unsigned, int *, void **))                                     \
  X(cuModuleUnload, "cuModuleUnload", (CUmodule))                                             \
  X(cuModuleGetFunction, "cuModuleGetFunction", (CUfunction *, CUmodule, const char *))       \
  X(cuLaunchKernel, "cuLaunchKernel",                                                         \
    (CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,        \
     CUstream, void **, void **))                                                             \
  X(cuStreamCreate, "cuStreamCreate", (CUstream *, unsigned))                                 \
  X(cuStreamDestroy, "cuStreamDestroy_v2", (CUstream))                                        \
  X(cuStreamSynchronize, "cuStreamSynchronize", (CUstream))                                   \
  X(cuStreamWaitEvent, "cuStreamWaitEvent", (CUstream, CUevent, unsigned))                    \
  X(cuEventCreate, "cuEventCreate", (CUevent *, unsigned))                                    \
  X(cuEventDestroy, "cuEventDestroy_v2", (CUevent))                                           \
  X(cuEventSynchronize, "cuEventSynchronize", (CUevent))                                      \
  X(cuEventRecord, "cuEventRecord", (CUevent, CUstream))                                      \
  X(cuMemAlloc, "cuMemAlloc_v2", (CUdeviceptr *, size_t))                                     \
  X(cuMemGetInfo, "cuMemGetInfo_v2", (size_t *, size_t *))                                    \
  X(cuMemFree, "cuMemFree_v2", (CUdeviceptr))                                                 \
  X(cuMemcpyAsync, "cuMemcpyAsync", (CUdeviceptr, CUdeviceptr, size_t, CUstream))             \
  X(cuMemsetD32Async, "cuMemsetD32Async", (CUdeviceptr, unsigned, size_t, CUstream))          \
  X(cuMemsetD16Async, "cuMemsetD16Async", (CUdeviceptr, unsigned short, size_t, CUstream))

#define KILN_DECLARE(field, symbol, params) CUresult (*field) params;
static struct {
  KILN_CUDA_FUNCTIONS(KILN_DECLARE)
} cu;
#undef KILN_DECLARE

static pthread_once_t initOnce = PTHREAD_ONCE_INIT;
static pthread_mutex_t errorLock = PTHREAD_MUTEX_INITIALIZER;
static int initStatus = KILN_GPU_UNAVAILABLE;
static int stickyStatus = KILN_GPU_OK;
static int quiet = 0;
static char errorMessage[512];
static CUdevice device;
static CUcontext context;
static char deviceText[256];

/* Records the first failure and prints it once. */
static void fail(int status, const char *format, ...) {
  pthread_mutex_lock(&errorLock);
  if (stickyStatus == KILN_GPU_OK) {
    va_list args;
    va_start(args, format);
    vsnprintf(errorMessage, sizeof errorMessage, format, args);
    va_end(args);
    stickyStatus = status;
    if (!quiet)
      fprintf(stderr, "kiln: GPU: %s\n", errorMessage);
  }
  pthread_mutex_unlock(&errorLock);
}

static const char *errorName(CUresult r) {
  const char *s = NULL;
  if (cu.cuGetErrorString && cu.cuGetErrorString(r, &s) == 0 && s)
    return s;
  return "unknown CUDA error";
}

static void initialize(void) {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fail(KILN_GPU_UNAVAILABLE,
         "no NVIDIA GPU driver: cannot load libcuda.so.1 (%s); code compiled with "
         "--device gpu needs one",
         dlerror());
    return;
  }
#define KILN_LOAD(field, symbol, params)                                                       \
  *(void **)&cu.field = dlsym(lib, symbol);                                                   \
  if (!cu.field) {                                                                             \
    fail(KILN_GPU_UNAVAILABLE, "libcuda.so.1 lacks %s: the NVIDIA driver is too old", symbol); \
    return;                                                                                    \
  }
  KILN_CUDA_FUNCTIONS(KILN_LOAD)
#undef KILN_LOAD
  CUresult r = cu.cuInit(0);
  if (r != 0) {
    fail(KILN_GPU_UNAVAILABLE, "cuInit failed: %s (no usable NVIDIA GPU?)", errorName(r));
    return;
  }
  int count = 0;
  if ((r = cu.cuDeviceGetCount(&count)) != 0 || count < 1) {
    fail(KILN_GPU_UNAVAILABLE, "no NVIDIA GPU found (%s)", r ? errorName(r) : "0 devices");
    return;
  }
  if ((r = cu.cuDeviceGet(&device, 0)) != 0 ||
      (r = cu.cuDevicePrimaryCtxRetain(&context, device)) != 0) {
    fail(KILN_GPU_UNAVAILABLE, "cannot open GPU 0: %s", errorName(r));
    return;
  }
  char name[128] = "?";
  int major = 0, minor = 0, driver = 0;
  cu.cuDeviceGetName(name, sizeof name, device);
  cu.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
  cu.cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
  cu.cuDriverGetVersion(&driver);
  snprintf(deviceText, sizeof deviceText, "%s, compute capability %d.%d, CUDA driver %d.%d",
           name, major, minor, driver / 1000, driver % 1000 / 10);
  initStatus = KILN_GPU_OK;
}

/* Sets up the driver on first use and makes the primary context current on this thread.
 * Returns 0 when CUDA calls may be made. */
static int ready(void) {
  static __thread int current = 0;
  pthread_once(&initOnce, initialize);
  if (initStatus != KILN_GPU_OK || stickyStatus != KILN_GPU_OK)
    return 0;
  if (!current) {
    CUresult r = cu.cuCtxSetCurrent(context);
    if (r != 0) {
      fail(KILN_GPU_ERROR, "cuCtxSetCurrent failed: %s", errorName(r));
      return 0;
    }
    current = 1;
  }
  return 1;
}

static int check(CUresult r, const char *what) {
  if (r == 0)
    return 1;
  fail(KILN_GPU_ERROR, "%s failed: %s", what, errorName(r));
  return 0;
}

int kiln_gpu_init(void) {
  pthread_once(&initOnce, initialize);
  return initStatus;
}

int kiln_gpu_status(void) {
  pthread_mutex_lock(&errorLock);
  int s = stickyStatus;
  pthread_mutex_unlock(&errorLock);
  return s;
}

const char *kiln_gpu_error_message(void) { return errorMessage; }

int kiln_gpu_describe(char *buf, int size) {
  int s = kiln_gpu_init();
  if (buf && size > 0)
    snprintf(buf, (size_t)size, "%s", s == KILN_GPU_OK ? deviceText : errorMessage);
  return s;
}

void kiln_gpu_set_quiet(int q) { quiet = q; }

/* ---- Modules ------------------------------------------------------------------------------
 * Generated code loads its kernel modules from global constructors, before main: loading is
 * deferred to the first function lookup, so that a program that never runs predict on the GPU
 * (or runs where there is none) never touches the driver. */

typedef struct KilnModule {
  const void *image;
  int jit;      /* PTX text to compile with the driver's JIT */
  int optLevel; /* for the JIT */
  pthread_mutex_t lock;
  CUmodule module;
} KilnModule;

static KilnModule *newModule(const void *image, int jit, int optLevel) {
  KilnModule *m = calloc(1, sizeof *m);
  if (!m)
    return NULL;
  m->image = image;
  m->jit = jit;
  m->optLevel = optLevel;
  pthread_mutex_init(&m->lock, NULL);
  return m;
}

void *mgpuModuleLoad(void *data, size_t size) {
  (void)size;
  return newModule(data, 0, 0);
}

void *mgpuModuleLoadJIT(void *data, int optLevel) { return newModule(data, 1, optLevel); }

void mgpuModuleUnload(void *handle) {
  KilnModule *m = handle;
  if (!m)
    return;
  /* At exit the context may be gone already; unload only while the device is healthy. */
  if (m->module && initStatus == KILN_GPU_OK && kiln_gpu_status() == KILN_GPU_OK)
    cu.cuModuleUnload(m->module);
  pthread_mutex_destroy(&m->lock);
  free(m);
}

void *mgpuModuleGetFunction(void *handle, const char *name) {
  KilnModule *m = handle;
  if (!m || !ready())
    return NULL;
  pthread_mutex_lock(&m->lock);
  if (!m->module) {
    CUresult r;
    if (m->jit) {
      char log[4096] = "";
      int options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                       CU_JIT_OPTIMIZATION_LEVEL};
      void *values[] = {log, (void *)(uintptr_t)sizeof log,
                        (void *)(uintptr_t)(m->optLevel < 0 ? 0 : m->optLevel > 4 ? 4 : m->optLevel)};
      r = cu.cuModuleLoadDataEx(&m->module, m->image, 3, options, values);
      if (r != 0)
        fail(KILN_GPU_ERROR, "loading the kernels' PTX failed: %s%s%s", errorName(r),
             log[0] ? ": " : "", log);
    } else {
      r = cu.cuModuleLoadData(&m->module, m->image);
      check(r, "cuModuleLoadData");
    }
    if (r != 0)
      m->module = NULL;
  }
  CUfunction f = NULL;
  if (m->module && !check(cu.cuModuleGetFunction(&f, m->module, name), "cuModuleGetFunction"))
    f = NULL;
  pthread_mutex_unlock(&m->lock);
  return f;
}

/* ---- Profile (KILN_GPU_PROFILE=1): wall time of each kernel, waited for one at a time, by
 * kernel (first-launch order) and grid size; the 25 costliest are printed at exit. */

typedef struct KernelTime {
  const void *function;
  long grid, block, calls;
  double seconds;
} KernelTime;
static int profiling = -1;
static KernelTime profile[1024];
static int profileSize;
static pthread_mutex_t profileLock = PTHREAD_MUTEX_INITIALIZER;

static double nowSeconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int byTime(const void *a, const void *b) {
  double x = ((const KernelTime *)a)->seconds, y = ((const KernelTime *)b)->seconds;
  return x < y ? 1 : x > y ? -1 : 0;
}

static void printProfile(void) {
  double total = 0;
  long calls = 0;
  for (int i = 0; i < profileSize; ++i)
    total += profile[i].seconds, calls += profile[i].calls;
  qsort(profile, (size_t)profileSize, sizeof *profile, byTime);
  fprintf(stderr, "kiln: GPU profile: %ld launches of %d kernels, %.3f ms in all\n", calls,
          profileSize, 1e3 * total);
  for (int i = 0; i < profileSize && i < 25; ++i)
    fprintf(stderr, "kiln: GPU profile: %8.3f ms %6ld calls  grid %6ld x block %4ld  kernel %p\n",
            1e3 * profile[i].seconds, profile[i].calls, profile[i].grid, profile[i].block,
            profile[i].function);
}

void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                      intptr_t blockX, intptr_t blockY, intptr_t blockZ, int32_t smem,
                      void *stream, void **params, void **extra, size_t paramsCount) {
  (void)paramsCount;
  if (!function || !ready())
    return;
  if (gridX <= 0 || gridY <= 0 || gridZ <= 0)
    return; /* an empty loop nest (a zero-sized buffer): nothing to launch */
  if (profiling < 0) {
    const char *env = getenv("KILN_GPU_PROFILE");
    profiling = env && *env && *env != '0';
    if (profiling)
      atexit(printProfile);
  }
  double start = 0;
  if (profiling) {
    cu.cuStreamSynchronize((CUstream)stream);
    start = nowSeconds();
  }
  check(cu.cuLaunchKernel((CUfunction)function, (unsigned)gridX, (unsigned)gridY,
                          (unsigned)gridZ, (unsigned)blockX, (unsigned)blockY, (unsigned)blockZ,
                          (unsigned)smem, (CUstream)stream, params, extra),
        "cuLaunchKernel");
  if (profiling) {
    cu.cuStreamSynchronize((CUstream)stream);
    double spent = nowSeconds() - start;
    pthread_mutex_lock(&profileLock);
    int i = 0;
    while (i < profileSize && (profile[i].function != function || profile[i].grid != gridX))
      ++i;
    if (i == profileSize && profileSize < 1024)
      profile[profileSize++] = (KernelTime){function, (long)gridX, (long)blockX, 0, 0.0};
    if (i < profileSize)
      profile[i].calls += 1, profile[i].seconds += spent;
    pthread_mutex_unlock(&profileLock);
  }
}

/* ---- Streams and events -----------------------------------------------------------------
 * The generated host code creates a stream around every allocation, copy and launch and
 * destroys it after synchronizing. Streams are therefore pooled: "destroyed" streams (whose work
 * the caller has waited for, or which later work may follow in order) wait in a small free list
 * for the next create. */

#define KILN_STREAM_POOL 64
static pthread_mutex_t streamLock = PTHREAD_MUTEX_INITIALIZER;
static CUstream streamPool[KILN_STREAM_POOL];
static int streamPoolSize;

void *mgpuStreamCreate(void) {
  CUstream s = NULL;
  pthread_mutex_lock(&streamLock);
  if (streamPoolSize > 0)
    s = streamPool[--streamPoolSize];
  pthread_mutex_unlock(&streamLock);
  if (s)
    return s;
  if (ready() && !check(cu.cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), "cuStreamCreate"))
    s = NULL;
  return s;
}

void mgpuStreamDestroy(void *stream) {
  if (!stream)
    return;
  pthread_mutex_lock(&streamLock);
  int pooled = streamPoolSize < KILN_STREAM_POOL;
  if (pooled)
    streamPool[streamPoolSize++] = (CUstream)stream;
  pthread_mutex_unlock(&streamLock);
  if (!pooled && ready())
    check(cu.cuStreamDestroy((CUstream)stream), "cuStreamDestroy");
}

static void releaseStreamBlocks(void *stream);

void mgpuStreamSynchronize(void *stream) {
  if (ready() && check(cu.cuStreamSynchronize((CUstream)stream), "running the GPU kernels"))
    releaseStreamBlocks(stream);
}

void mgpuStreamWaitEvent(void *stream, void *event) {
  if (event && ready())
    check(cu.cuStreamWaitEvent((CUstream)stream, (CUevent)event, 0), "cuStreamWaitEvent");
}

void *mgpuEventCreate(void) {
  CUevent e = NULL;
  if (ready() && !check(cu.cuEventCreate(&e, CU_EVENT_DEFAULT), "cuEventCreate"))
    e = NULL;
  return e;
}

void mgpuEventDestroy(void *event) {
  if (event && ready())
    check(cu.cuEventDestroy((CUevent)event), "cuEventDestroy");
}

void mgpuEventSynchronize(void *event) {
  if (event && ready())
    check(cu.cuEventSynchronize((CUevent)event), "cuEventSynchronize");
}

void mgpuEventRecord(void *event, void *stream) {
  if (event && ready())
    check(cu.cuEventRecord((CUevent)event, (CUstream)stream), "cuEventRecord");
}

/* ---- Memory -------------------------------------------------------------------------------
 * Plain device allocations (cuMemAlloc), never managed memory. The stream argument orders
 * nothing here: cuMemAlloc is synchronous.
 *
 * A model's code allocates and frees the same buffer sizes on every call (inputs, weights,
 * intermediates), and cuMemAlloc/cuMemFree cost tens of microseconds each (cuMemFree also
 * synchronizes the device). Freed blocks are kept, by exact size, for the next allocation of
 * that size; up to KILN_GPU_CACHE_BYTES are kept. On an allocation failure the cache is
 * released and the allocation tried once more.
 *
 * A call's operations run in order on one stream (kiln-gpu-async-chain), so a block is freed
 * while kernels that use it may still be queued. Such a block remembers its stream: only that
 * stream (whose later work runs after them) may take it again until the stream is
 * synchronized, which makes it free for every stream. */

#define KILN_GPU_CACHE_BYTES ((size_t)2 << 30)
typedef struct CachedBlock {
  CUdeviceptr ptr;
  size_t bytes;
  void *stream; /* the stream whose queued work may still use a freed block, or NULL */
  struct CachedBlock *next;
} CachedBlock;
static pthread_mutex_t cacheLock = PTHREAD_MUTEX_INITIALIZER;
static CachedBlock *cacheFree;   /* blocks waiting for reuse */
static CachedBlock *cacheLive;   /* blocks handed out (to know their size when freed) */
static size_t cachedBytes;

static void releaseCache(void) {
  pthread_mutex_lock(&cacheLock);
  CachedBlock *b = cacheFree;
  cacheFree = NULL;
  cachedBytes = 0;
  pthread_mutex_unlock(&cacheLock);
  while (b) {
    CachedBlock *next = b->next;
    cu.cuMemFree(b->ptr);
    free(b);
    b = next;
  }
}

void *mgpuMemAlloc(uint64_t bytes, void *stream, int8_t isHostShared) {
  if (isHostShared) {
    fail(KILN_GPU_ERROR, "host-shared (managed) allocations are not supported");
    return NULL;
  }
  if (!ready() || bytes == 0)
    return NULL;
  pthread_mutex_lock(&cacheLock);
  CachedBlock **link = &cacheFree, *b = NULL;
  for (; *link; link = &(*link)->next)
    if ((*link)->bytes == bytes && (!(*link)->stream || (*link)->stream == stream)) {
      b = *link;
      *link = b->next;
      cachedBytes -= b->bytes;
      break;
    }
  pthread_mutex_unlock(&cacheLock);
  if (!b) {
    CUdeviceptr p = 0;
    CUresult r = bytes > (uint64_t)SIZE_MAX ? CUDA_ERROR_OUT_OF_MEMORY
                                            : cu.cuMemAlloc(&p, (size_t)bytes);
    if (r == CUDA_ERROR_OUT_OF_MEMORY && cachedBytes > 0) {
      releaseCache(); /* blocks kept for reuse: give them back, then try once more */
      r = cu.cuMemAlloc(&p, (size_t)bytes);
    }
    if (r == CUDA_ERROR_OUT_OF_MEMORY) {
      /* What the device has left says whether a smaller batch would fit. */
      size_t freeBytes = 0, totalBytes = 0;
      if (cu.cuMemGetInfo(&freeBytes, &totalBytes) == 0)
        fail(KILN_GPU_ERROR,
             "out of GPU memory allocating %llu bytes (%.1f MiB): %.1f MiB of %.1f MiB free on "
             "%s (a smaller batch needs less)",
             (unsigned long long)bytes, bytes / 1048576.0, freeBytes / 1048576.0,
             totalBytes / 1048576.0, deviceText);
      else
        fail(KILN_GPU_ERROR, "out of GPU memory allocating %llu bytes (%.1f MiB) on %s",
             (unsigned long long)bytes, bytes / 1048576.0, deviceText);
      return NULL;
    }
    if (r != 0) {
      fail(KILN_GPU_ERROR, "cuMemAlloc of %llu bytes (device memory) failed: %s",
           (unsigned long long)bytes, errorName(r));
      return NULL;
    }
    b = malloc(sizeof *b);
    if (!b) {
      cu.cuMemFree(p);
      fail(KILN_GPU_ERROR, "out of host memory for the device-memory bookkeeping");
      return NULL;
    }
    b->ptr = p;
    b->bytes = (size_t)bytes;
    b->stream = NULL;
  }
  pthread_mutex_lock(&cacheLock);
  b->next = cacheLive;
  cacheLive = b;
  pthread_mutex_unlock(&cacheLock);
  return (void *)(uintptr_t)b->ptr;
}

/* The stream's work is done: the blocks freed on it may go to any stream. */
static void releaseStreamBlocks(void *stream) {
  pthread_mutex_lock(&cacheLock);
  for (CachedBlock *b = cacheFree; b; b = b->next)
    if (b->stream == stream)
      b->stream = NULL;
  pthread_mutex_unlock(&cacheLock);
}

void mgpuMemFree(void *ptr, void *stream) {
  if (!ptr || !ready())
    return;
  CUdeviceptr p = (CUdeviceptr)(uintptr_t)ptr;
  pthread_mutex_lock(&cacheLock);
  CachedBlock **link = &cacheLive, *b = NULL;
  for (; *link; link = &(*link)->next)
    if ((*link)->ptr == p) {
      b = *link;
      *link = b->next;
      break;
    }
  int keep = b && cachedBytes + b->bytes <= KILN_GPU_CACHE_BYTES;
  if (keep) {
    b->stream = stream;
    b->next = cacheFree;
    cacheFree = b;
    cachedBytes += b->bytes;
  }
  pthread_mutex_unlock(&cacheLock);
  if (!keep) {
    check(cu.cuMemFree(p), "cuMemFree");
    free(b);
  }
}

/* ---- Resident buffers (kiln_gpu.h) ---------------------------------------------------------
 * A short list: a model has tens of weights and slots. `deviceValid`: the mirror holds the
 * buffer's contents; `deviceNewer`: the host copy is stale. Generated code copies whole
 * arguments in and whole results out, so a copy matches an entry by its exact range. */

typedef struct Resident {
  char *host;
  size_t bytes;
  CUdeviceptr mirror;
  int deviceValid, deviceNewer;
  struct Resident *next;
} Resident;
static pthread_mutex_t residentLock = PTHREAD_MUTEX_INITIALIZER;
static Resident *residents;

static Resident *findResident(const void *host, size_t bytes) {
  for (Resident *r = residents; r; r = r->next)
    if (r->host == (const char *)host && r->bytes == bytes)
      return r;
  return NULL;
}

static int ensureMirror(Resident *r) {
  if (r->mirror)
    return 1;
  CUresult e = cu.cuMemAlloc(&r->mirror, r->bytes);
  if (e != 0) {
    r->mirror = 0;
    fail(KILN_GPU_ERROR, "cuMemAlloc of %llu bytes (a resident weight's device copy) failed: %s",
         (unsigned long long)r->bytes, errorName(e));
    return 0;
  }
  return 1;
}

int kiln_gpu_resident_add(void *host, unsigned long long bytes) {
  if (!host || !bytes || !ready())
    return kiln_gpu_status();
  pthread_mutex_lock(&residentLock);
  if (!findResident(host, (size_t)bytes)) {
    Resident *r = calloc(1, sizeof *r);
    if (r) {
      r->host = host;
      r->bytes = (size_t)bytes;
      r->next = residents;
      residents = r;
    }
  }
  pthread_mutex_unlock(&residentLock);
  return kiln_gpu_status();
}

/* Generated code (kiln-gpu-host-buffers) registers each constant it copies in; a constant
 * never changes, so its mirror stays valid. */
void kiln_gpu_resident_constant(unsigned long long host, unsigned long long bytes) {
  kiln_gpu_resident_add((void *)(uintptr_t)host, bytes);
}

int kiln_gpu_resident_sync(void) {
  if (!ready())
    return kiln_gpu_status();
  pthread_mutex_lock(&residentLock);
  for (Resident *r = residents; r; r = r->next) {
    if (r->deviceNewer &&
        !check(cu.cuMemcpyAsync((CUdeviceptr)(uintptr_t)r->host, r->mirror, r->bytes, NULL),
               "copying a resident weight back to the host"))
      break;
    r->deviceNewer = 0;
    r->deviceValid = 0;
  }
  check(cu.cuStreamSynchronize(NULL), "copying resident weights back to the host");
  pthread_mutex_unlock(&residentLock);
  return kiln_gpu_status();
}

int kiln_gpu_resident_clear(void) {
  kiln_gpu_resident_sync();
  pthread_mutex_lock(&residentLock);
  Resident *r = residents;
  residents = NULL;
  pthread_mutex_unlock(&residentLock);
  while (r) {
    Resident *next = r->next;
    if (r->mirror && initStatus == KILN_GPU_OK)
      cu.cuMemFree(r->mirror);
    free(r);
    r = next;
  }
  return kiln_gpu_status();
}

void mgpuMemcpy(void *dst, void *src, size_t bytes, void *stream) {
  if (!bytes || !ready())
    return;
  CUdeviceptr d = (CUdeviceptr)(uintptr_t)dst, s = (CUdeviceptr)(uintptr_t)src;
  if (residents) {
    pthread_mutex_lock(&residentLock);
    Resident *r;
    if ((r = findResident(src, bytes))) { /* an argument in: from its mirror */
      if (ensureMirror(r) && !r->deviceValid &&
          check(cu.cuMemcpyAsync(r->mirror, s, bytes, (CUstream)stream),
                "uploading a resident weight"))
        r->deviceValid = 1;
      s = r->mirror;
    } else if ((r = findResident(dst, bytes))) { /* a result out: into its mirror */
      if (ensureMirror(r))
        r->deviceValid = r->deviceNewer = 1;
      d = r->mirror;
    }
    pthread_mutex_unlock(&residentLock);
    if (!d || !s)
      return;
  }
  check(cu.cuMemcpyAsync(d, s, bytes, (CUstream)stream), "cuMemcpyAsync");
}

void mgpuMemset32(void *dst, unsigned value, size_t count, void *stream) {
  if (count && ready())
    check(cu.cuMemsetD32Async((CUdeviceptr)(uintptr_t)dst, value, count, (CUstream)stream),
          "cuMemsetD32Async");
}

void mgpuMemset16(void *dst, unsigned short value, size_t count, void *stream) {
  if (count && ready())
    check(cu.cuMemsetD16Async((CUdeviceptr)(uintptr_t)dst, value, count, (CUstream)stream),
          "cuMemsetD16Async");
}

void mgpuSetDefaultDevice(int32_t ordinal) {
  if (ordinal != 0)
    fail(KILN_GPU_ERROR, "only GPU 0 is supported so far (asked for %d)", (int)ordinal);
}
