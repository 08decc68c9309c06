/* classify.c - classify Fashion-MNIST test images with a kiln model compiled ahead of time.
 *
 * The model is one object file and one header, made by
 *
 *   kilnc compile model.h5 --emit=obj -o fashion.o --header fashion.h --prefix fashion
 *
 * and linked with a plain C compiler (zlib reads the .gz data set files):
 *
 *   cc -std=c99 classify.c fashion.o -lz -lm -o classify
 *   ./classify /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz \
 *              /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz [--output y.npy]
 *
 * It prints the first predictions and the accuracy; --output writes every output row as a
 * float32 .npy file. C99 with no framework: the model's memory is one workspace this
 * program allocates once (its size comes from fashion_workspace_size).
 */
#include "fashion.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const char *const kClasses[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                         "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* Reads a whole (gzip or plain) file; returns NULL on failure. */
static unsigned char *readAll(const char *path, size_t *size) {
  gzFile f = gzopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 1 << 20, n = 0;
  unsigned char *data = malloc(cap);
  for (;;) {
    int got = gzread(f, data + n, (unsigned)(cap - n));
    if (got < 0) {
      free(data);
      gzclose(f);
      return NULL;
    }
    n += (size_t)got;
    if (n < cap)
      break;
    cap *= 2;
    data = realloc(data, cap);
  }
  gzclose(f);
  *size = n;
  return data;
}

static uint32_t be32(const unsigned char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int writeNpy(const char *path, const float *y, long rows, long cols) {
  char dict[128];
  int len = sprintf(dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%ld, %ld), }",
                    rows, cols);
  int pad = (64 - (10 + len + 1) % 64) % 64;
  unsigned headerLen = (unsigned)(len + pad + 1);
  unsigned char magic[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                             (unsigned char)(headerLen & 0xff), (unsigned char)(headerLen >> 8)};
  FILE *f = fopen(path, "wb");
  if (!f)
    return 1;
  fwrite(magic, 1, sizeof magic, f);
  fwrite(dict, 1, (size_t)len, f);
  for (int i = 0; i < pad; ++i)
    fputc(' ', f);
  fputc('\n', f);
  fwrite(y, sizeof(float), (size_t)(rows * cols), f);
  return fclose(f) != 0;
}

int main(int argc, char **argv) {
  if (argc != 3 && !(argc == 5 && strcmp(argv[3], "--output") == 0)) {
    fprintf(stderr, "usage: %s IMAGES-idx3-ubyte[.gz] LABELS-idx1-ubyte[.gz] [--output Y.npy]\n",
            argv[0]);
    return 2;
  }
  size_t imageBytes, labelBytes;
  unsigned char *images = readAll(argv[1], &imageBytes);
  unsigned char *labels = readAll(argv[2], &labelBytes);
  if (!images || !labels || imageBytes < 16 || labelBytes < 8 || be32(images) != 0x803 ||
      be32(labels) != 0x801) {
    fprintf(stderr, "%s: cannot read the IDX files %s and %s\n", argv[0], argv[1], argv[2]);
    return 1;
  }
  long n = (long)be32(images + 4);
  long pixels = (long)be32(images + 8) * (long)be32(images + 12);
  if (pixels != FASHION_INPUT_SAMPLE_SIZE || (long)be32(labels + 4) != n ||
      imageBytes < 16 + (size_t)(n * pixels) || labelBytes < 8 + (size_t)n) {
    fprintf(stderr, "%s: the images do not fit the model (%ld values per image, want %d)\n",
            argv[0], pixels, FASHION_INPUT_SAMPLE_SIZE);
    return 1;
  }

  /* Pixels in [0, 1], as the model was trained. */
  float *x = malloc(sizeof(float) * (size_t)(n * pixels));
  float *y = malloc(sizeof(float) * (size_t)(n * FASHION_OUTPUT_SAMPLE_SIZE));
  for (long i = 0; i < n * pixels; ++i)
    x[i] = images[16 + i] / 255.0f;

  /* One workspace for the largest batch serves every call. */
  const long batch = 100;
  void *workspace = malloc((size_t)fashion_workspace_size(batch));
  printf("model: kiln %s, ABI %d; workspace %lld bytes for a batch of %ld (%lld for batch 1)\n",
         FASHION_KILN_VERSION, FASHION_ABI_VERSION, (long long)fashion_workspace_size(batch),
         batch, (long long)FASHION_WORKSPACE_BYTES_BATCH1);
  for (long i = 0; i < n; i += batch) {
    long rows = n - i < batch ? n - i : batch;
    if (fashion_predict(x + i * pixels, y + i * FASHION_OUTPUT_SAMPLE_SIZE, rows, workspace) !=
        FASHION_STATUS_OK) {
      fprintf(stderr, "%s: fashion_predict refused its arguments\n", argv[0]);
      return 1;
    }
  }

  long correct = 0;
  for (long i = 0; i < n; ++i) {
    const float *row = y + i * FASHION_OUTPUT_SAMPLE_SIZE;
    int best = 0;
    for (int c = 1; c < FASHION_OUTPUT_SAMPLE_SIZE; ++c)
      if (row[c] > row[best])
        best = c;
    correct += best == labels[8 + i];
    if (i < 5)
      printf("image %ld: %s (%.3f), label %s\n", i, kClasses[best], row[best],
             kClasses[labels[8 + i]]);
  }
  printf("accuracy: %.4f on %ld images\n", (double)correct / (double)n, n);
  if (argc == 5 && writeNpy(argv[4], y, n, FASHION_OUTPUT_SAMPLE_SIZE)) {
    fprintf(stderr, "%s: cannot write %s\n", argv[0], argv[4]);
    return 1;
  }
  free(workspace);
  free(x);
  free(y);
  free(images);
  free(labels);
  return 0;
}
