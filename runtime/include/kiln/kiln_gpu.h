/* kiln_gpu.h - kiln's CUDA runtime shim: the CUDA driver loaded at run time, device status.
 *
 * Code that kilnc generates for --device gpu calls the mgpu* functions that MLIR's gpu-to-llvm
 * lowering emits (module load, kernel launch, streams, device memory, copies); kiln's runtime
 * (runtime/gpu/CudaRuntime.c) implements them on the CUDA driver API, which it opens with
 * dlopen("libcuda.so.1") on first use. Nothing links against CUDA: a program built with it
 * starts on any machine, and only asking for the GPU fails where there is none.
 *
 * Errors: the first failure (no driver, no device, a failed launch or copy) is recorded and
 * printed once to stderr with a "kiln: GPU: " prefix; later calls become no-ops and
 * kiln_gpu_status() reports it. The error is sticky, like a CUDA context error.
 *
 * Threads: every function may be called from any thread. All work runs on device 0 through
 * its primary context.
 */
#ifndef KILN_GPU_H
#define KILN_GPU_H

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes (also the generated <prefix>_predict's codes 2 and 3 on the GPU). */
#define KILN_GPU_OK 0
/* No usable GPU: libcuda.so.1 missing, cuInit failed, or no device. */
#define KILN_GPU_UNAVAILABLE 2
/* A CUDA call failed after the device was set up (launch, copy, allocation). */
#define KILN_GPU_ERROR 3

/* Loads the driver and sets up device 0 once; returns KILN_GPU_OK or KILN_GPU_UNAVAILABLE
 * (the reason is printed once, and kept for kiln_gpu_error_message). */
int kiln_gpu_init(void);

/* KILN_GPU_OK while no CUDA call has failed, else the sticky status of the first failure. */
int kiln_gpu_status(void);

/* The first failure in words ("" when none). The string lives as long as the program. */
const char *kiln_gpu_error_message(void);

/* Writes "<device name>, compute capability X.Y, driver N" into buf (NUL-terminated,
 * truncated to size). Returns kiln_gpu_init()'s status. */
int kiln_gpu_describe(char *buf, int size);

/* Stops printing failures to stderr (they are still recorded); for callers that report
 * kiln_gpu_error_message() themselves. */
void kiln_gpu_set_quiet(int quiet);

/* Resident buffers: host buffers whose contents stay in device memory between calls (a
 * model's weights and optimizer slots during fit). Once `host` (exactly `bytes` long) is
 * registered, generated code that copies it in reads a device mirror instead (uploaded on the
 * first use), and generated code that copies a result into it writes only the mirror: the
 * host copy is stale until kiln_gpu_resident_sync(). Registering a buffer again does nothing.
 * Returns kiln_gpu_status(). */
int kiln_gpu_resident_add(void *host, unsigned long long bytes);

/* Copies every mirror that is newer than its host buffer back to the host and makes the host
 * copies authoritative again (the next use uploads them): call it before host code reads or
 * writes the buffers. Returns kiln_gpu_status(). */
int kiln_gpu_resident_sync(void);

/* kiln_gpu_resident_sync(), then forgets every resident buffer and frees the mirrors. The JIT
 * calls it when it frees a module, whose constants' addresses may be reused. */
int kiln_gpu_resident_clear(void);

/* Called by generated code for each constant it copies in (address, bytes as integers). */
void kiln_gpu_resident_constant(unsigned long long host, unsigned long long bytes);

#ifdef __cplusplus
}
#endif

#endif /* KILN_GPU_H */
