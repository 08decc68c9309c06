/* EmbedLatency.c - batch-1 latency of a kilnc object (prefix `model`, one input, one output)
 * called from plain C: `embed_latency CALLS` prints the median and the 10th/90th percentiles of
 * CALLS single-sample model_predict calls (after 100 untimed ones) in microseconds, as
 * `us_median=... us_p10=... us_p90=...` on one line. Built by bench/aot_latency.py with `cc`
 * alone against the object: what an embedding product would do. */
#define _POSIX_C_SOURCE 199309L
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  long calls = argc > 1 ? atol(argv[1]) : 10000;
  if (calls < 10) {
    fprintf(stderr, "usage: embed_latency CALLS (at least 10)\n");
    return 2;
  }
  float x[MODEL_INPUT_SAMPLE_SIZE], y[MODEL_OUTPUT_SAMPLE_SIZE];
  void *ws = malloc((size_t)model_workspace_size(1) + 1);
  double *times = malloc(sizeof(double) * (size_t)calls);
  if (!ws || !times)
    return 1;
  srand(1);
  for (long i = 0; i < MODEL_INPUT_SAMPLE_SIZE; ++i)
    x[i] = (float)(rand() / (double)RAND_MAX);
  for (int w = 0; w < 100; ++w)
    if (model_predict(x, y, 1, ws) != 0) {
      fprintf(stderr, "embed_latency: model_predict failed\n");
      return 1;
    }
  for (long r = 0; r < calls; ++r) {
    double t0 = now();
    model_predict(x, y, 1, ws);
    times[r] = now() - t0;
  }
  qsort(times, (size_t)calls, sizeof *times, cmp);
  printf("us_median=%.3f us_p10=%.3f us_p90=%.3f\n", times[calls / 2] * 1e6,
         times[calls / 10] * 1e6, times[calls * 9 / 10] * 1e6);
  free(ws);
  free(times);
  return 0;
}
