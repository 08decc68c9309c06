/* PredictBench.c - times a kilnc object's model_predict (prefix `model`, one input, one output)
 * on random inputs: batch-1 latency and throughput at larger batches, medians of repeated
 * calls after a warm-up. The same source times a CPU object and a --device gpu one (whose
 * calls include the host<->device copies and end synchronized).
 * usage: predict_bench LABEL [BATCH...] */
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
  const char *label = argc > 1 ? argv[1] : "model";
  long batches[16] = {1, 256, 4096};
  int nb = 3;
  if (argc > 2)
    for (nb = 0; nb + 2 < argc && nb < 16; ++nb)
      batches[nb] = atol(argv[nb + 2]);
  for (int k = 0; k < nb; ++k) {
    long batch = batches[k];
    float *x = malloc(sizeof(float) * batch * MODEL_INPUT_SAMPLE_SIZE);
    float *y = malloc(sizeof(float) * batch * MODEL_OUTPUT_SAMPLE_SIZE);
    void *ws = malloc((size_t)model_workspace_size(batch) + 1);
    srand(1);
    for (long i = 0; i < batch * MODEL_INPUT_SAMPLE_SIZE; ++i)
      x[i] = (float)(rand() / (double)RAND_MAX);
    int reps = batch <= 1 ? 200 : batch <= 256 ? 50 : 10;
    double times[200];
    for (int w = 0; w < 3; ++w)
      if (model_predict(x, y, batch, ws) != 0) {
        fprintf(stderr, "%s: model_predict failed\n", label);
        return 1;
      }
    for (int r = 0; r < reps; ++r) {
      double t0 = now();
      model_predict(x, y, batch, ws);
      times[r] = now() - t0;
    }
    qsort(times, reps, sizeof *times, cmp);
    double med = times[reps / 2];
    printf("%-22s batch %5ld: median %9.1f us/call, %10.0f samples/s (%d calls)\n", label, batch,
           med * 1e6, batch / med, reps);
    free(x);
    free(y);
    free(ws);
  }
  return 0;
}
