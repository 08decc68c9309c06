/* GpuInfo.c - kiln-gpu-info: says whether kiln's CUDA runtime finds a GPU, and which.
 * Exit status 0 with a GPU, 77 without one (ctest's skip code), so scripts can probe first. */
#include "kiln_gpu.h"

#include <stdio.h>

int main(void) {
  char text[512];
  kiln_gpu_set_quiet(1);
  if (kiln_gpu_describe(text, sizeof text) != KILN_GPU_OK) {
    printf("no GPU: %s\n", text);
    return 77;
  }
  printf("GPU 0: %s\n", text);
  return 0;
}
