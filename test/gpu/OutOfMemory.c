/* OutOfMemory.c - a device allocation the GPU cannot satisfy gives kiln's clear error (the
 * size asked for, the device's free and total memory) and no crash; later GPU calls become
 * no-ops that report the same sticky error. Exits 77 (ctest SKIP) where no GPU is present.
 * usage: kiln-gpu-oom-test */
#include "kiln_gpu.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The runtime's mgpu* functions, as the generated code calls them. */
void *mgpuMemAlloc(uint64_t bytes, void *stream, int8_t isHostShared);
void mgpuMemFree(void *ptr, void *stream);
void mgpuMemcpy(void *dst, void *src, size_t bytes, void *stream);
void *mgpuStreamCreate(void);
void mgpuStreamSynchronize(void *stream);

static int failures = 0;

static void expect(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "FAIL: %s\n", what);
    ++failures;
  }
}

int main(void) {
  kiln_gpu_set_quiet(1);
  if (kiln_gpu_init() != KILN_GPU_OK) {
    printf("SKIP: no GPU here: %s\n", kiln_gpu_error_message());
    return 77;
  }
  char device[256];
  kiln_gpu_describe(device, sizeof device);
  printf("GPU: %s\n", device);

  /* A small allocation works and leaves the status clean. */
  void *small = mgpuMemAlloc(1 << 20, NULL, 0);
  expect(small != NULL, "a 1 MiB allocation succeeds");
  expect(kiln_gpu_status() == KILN_GPU_OK, "the status is OK after it");
  mgpuMemFree(small, NULL);

  /* 1 TiB: more than any GPU has. */
  const uint64_t huge = (uint64_t)1 << 40;
  void *p = mgpuMemAlloc(huge, NULL, 0);
  const char *msg = kiln_gpu_error_message();
  printf("message: %s\n", msg);
  expect(p == NULL, "the 1 TiB allocation returns NULL");
  expect(kiln_gpu_status() == KILN_GPU_ERROR, "the status is KILN_GPU_ERROR");
  expect(strstr(msg, "out of GPU memory allocating 1099511627776 bytes (1048576.0 MiB)") !=
             NULL,
         "the message names the size");
  expect(strstr(msg, " MiB free on ") != NULL && strstr(msg, " MiB of ") != NULL,
         "the message gives the free and total memory");
  expect(strstr(msg, device) != NULL, "the message names the device");

  /* What the generated code does next (copy into the buffer, synchronize, free it) must not
   * crash: the runtime has recorded the error and does nothing more. */
  float host[4] = {1, 2, 3, 4};
  void *stream = mgpuStreamCreate();
  mgpuMemcpy(p, host, sizeof host, stream);
  mgpuStreamSynchronize(stream);
  mgpuMemFree(p, stream);
  expect(strstr(kiln_gpu_error_message(), "out of GPU memory") != NULL,
         "the first error stays the one reported");

  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("OK\n");
  return 0;
}
