/* TwoInTwoOut.c - a predict program for a model with two inputs and two outputs (the golden
 * case functional_shared_concat), linked with a `kilnc --emit=obj --device gpu` object whose
 * prefix is `model` and with kiln's GPU runtime: the --emit=exe driver takes one of each.
 * usage: two_in_two_out X0.npy X1.npy Y0.npy Y1.npy (float32, C order, batch first) */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *readNpy(const char *path, long sample, long *rows) {
  FILE *f = fopen(path, "rb");
  unsigned char head[10];
  if (!f || fread(head, 1, 10, f) != 10 || memcmp(head, "\x93NUMPY", 6)) {
    fprintf(stderr, "%s: not a .npy file\n", path);
    exit(1);
  }
  long headerLen = head[8] | head[9] << 8;
  char header[1024] = "";
  if (headerLen >= (long)sizeof header || fread(header, 1, (size_t)headerLen, f) != (size_t)headerLen ||
      !strstr(header, "<f4") || strstr(header, "True")) {
    fprintf(stderr, "%s: need float32 C-order data\n", path);
    exit(1);
  }
  long start = ftell(f);
  fseek(f, 0, SEEK_END);
  long n = (ftell(f) - start) / 4;
  fseek(f, start, SEEK_SET);
  float *data = malloc((size_t)n * 4 + 4);
  if (!data || fread(data, 4, (size_t)n, f) != (size_t)n || n % sample) {
    fprintf(stderr, "%s: cannot read %ld floats in rows of %ld\n", path, n, sample);
    exit(1);
  }
  fclose(f);
  *rows = n / sample;
  return data;
}

static void writeNpy(const char *path, const float *y, long rows, long sample) {
  char header[128];
  int len = snprintf(header, sizeof header,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%ld, %ld), }", rows, sample);
  while ((len + 11) % 64)
    header[len++] = ' ';
  header[len - 1] = '\n';
  FILE *f = fopen(path, "wb");
  unsigned char magic[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(len & 255),
                             (unsigned char)(len >> 8)};
  if (!f || fwrite(magic, 1, 10, f) != 10 || fwrite(header, 1, (size_t)len, f) != (size_t)len ||
      fwrite(y, 4, (size_t)(rows * sample), f) != (size_t)(rows * sample) || fclose(f)) {
    fprintf(stderr, "%s: cannot write\n", path);
    exit(1);
  }
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s X0.npy X1.npy Y0.npy Y1.npy\n", argv[0]);
    return 2;
  }
  long rows0, rows1;
  float *x0 = readNpy(argv[1], MODEL_INPUT0_SAMPLE_SIZE, &rows0);
  float *x1 = readNpy(argv[2], MODEL_INPUT1_SAMPLE_SIZE, &rows1);
  if (rows0 != rows1) {
    fprintf(stderr, "the inputs have %ld and %ld rows\n", rows0, rows1);
    return 1;
  }
  float *y0 = calloc((size_t)(rows0 * MODEL_OUTPUT0_SAMPLE_SIZE) + 1, 4);
  float *y1 = calloc((size_t)(rows0 * MODEL_OUTPUT1_SAMPLE_SIZE) + 1, 4);
  int status = model_predict(x0, x1, y0, y1, rows0, NULL);
  if (status != MODEL_STATUS_OK) {
    fprintf(stderr, "model_predict failed with status %d\n", status);
    return 1;
  }
  writeNpy(argv[3], y0, rows0, MODEL_OUTPUT0_SAMPLE_SIZE);
  writeNpy(argv[4], y1, rows0, MODEL_OUTPUT1_SAMPLE_SIZE);
  return 0;
}
