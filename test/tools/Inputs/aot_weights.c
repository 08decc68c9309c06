/* aot_weights.c X.npy BLOB OTHER_BLOB OUT.raw: the --weights-file object (prefix ext) against
 * the baked one (prefix baked) of the same model. Checks ext_init's refusals (NULL, a short
 * size, a damaged header, another model's blob) and predict before init, then runs both
 * objects on every row of X.npy (float32, C order) and requires bitwise equal outputs.
 * Writes the baked object's outputs to OUT.raw (raw float32) for comparison with other paths. */
#include "baked.h"
#include "ext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *readAll(const char *path, long *size) {
  FILE *f = fopen(path, "rb");
  unsigned char *data;
  if (!f || fseek(f, 0, SEEK_END) != 0 || (*size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fprintf(stderr, "cannot read %s\n", path);
    exit(1);
  }
  data = malloc((size_t)*size + 1);
  if (!data || fread(data, 1, (size_t)*size, f) != (size_t)*size) {
    fprintf(stderr, "cannot read %s\n", path);
    exit(1);
  }
  fclose(f);
  return data;
}

static void expect(int got, int want, const char *what) {
  if (got != want) {
    fprintf(stderr, "%s: status %d, want %d\n", what, got, want);
    exit(1);
  }
  printf("%s: %d\n", what, got);
}

int main(int argc, char **argv) {
  long npySize, blobSize, otherSize;
  unsigned char *npy, *blob, *other, *damaged;
  const float *x;
  float *y1, *y2;
  void *ws;
  int64_t rows, headerLen;
  FILE *out;
  if (argc != 5) {
    fprintf(stderr, "usage: aot_weights X.npy BLOB OTHER_BLOB OUT.raw\n");
    return 2;
  }
  npy = readAll(argv[1], &npySize);
  if (npySize < 10 || memcmp(npy, "\x93NUMPY", 6) != 0 || npy[6] != 1) {
    fprintf(stderr, "%s: not a version-1 .npy file\n", argv[1]);
    return 1;
  }
  headerLen = npy[8] | (npy[9] << 8);
  x = (const float *)(npy + 10 + headerLen);
  rows = (npySize - 10 - headerLen) / (4 * BAKED_INPUT_SAMPLE_SIZE);
  blob = readAll(argv[2], &blobSize);
  other = readAll(argv[3], &otherSize);
  y1 = malloc(sizeof(float) * rows * BAKED_OUTPUT_SAMPLE_SIZE);
  y2 = malloc(sizeof(float) * rows * EXT_OUTPUT_SAMPLE_SIZE);
  ws = malloc((size_t)(baked_workspace_size(rows) > ext_workspace_size(rows)
                           ? baked_workspace_size(rows) : ext_workspace_size(rows)));
  if (!y1 || !y2 || !ws)
    return 1;

  expect(blobSize == EXT_WEIGHTS_FILE_BYTES, 1, "blob size matches the header");
  expect(ext_predict(x, y2, rows, ws), EXT_STATUS_NOT_INITIALIZED, "predict before init");
  expect(ext_init(NULL, blobSize), EXT_STATUS_BAD_WEIGHTS, "init NULL");
  expect(ext_init(blob, blobSize - 1), EXT_STATUS_BAD_WEIGHTS, "init short size");
  expect(ext_init(other, otherSize), EXT_STATUS_BAD_WEIGHTS, "init another model's blob");
  damaged = malloc((size_t)blobSize);
  memcpy(damaged, blob, (size_t)blobSize);
  damaged[16] ^= 1; /* the fingerprint */
  expect(ext_init(damaged, blobSize), EXT_STATUS_BAD_WEIGHTS, "init wrong fingerprint");
  memcpy(damaged, blob, (size_t)blobSize);
  damaged[12] ^= 1; /* the ABI version */
  expect(ext_init(damaged, blobSize), EXT_STATUS_BAD_WEIGHTS, "init wrong ABI version");
  expect(ext_predict(x, y2, rows, ws), EXT_STATUS_NOT_INITIALIZED, "predict after refusals");
  expect(ext_init(blob, blobSize), EXT_STATUS_OK, "init");

  expect(baked_predict(x, y1, rows, ws), BAKED_STATUS_OK, "baked predict");
  expect(ext_predict(x, y2, rows, ws), EXT_STATUS_OK, "file predict");
  if (memcmp(y1, y2, sizeof(float) * rows * BAKED_OUTPUT_SAMPLE_SIZE) != 0) {
    fprintf(stderr, "the outputs differ\n");
    return 1;
  }
  printf("bitwise equal over %lld rows\n", (long long)rows);
  out = fopen(argv[4], "wb");
  if (!out || fwrite(y1, sizeof(float), (size_t)(rows * BAKED_OUTPUT_SAMPLE_SIZE), out) !=
                  (size_t)(rows * BAKED_OUTPUT_SAMPLE_SIZE) || fclose(out) != 0)
    return 1;
  free(npy), free(blob), free(other), free(damaged), free(y1), free(y2), free(ws);
  return 0;
}
