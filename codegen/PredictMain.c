/* PredictMain.c - the standalone predict program of `kilnc compile --emit=exe`.
 *
 * kilnc compiles the model into an object with the prefix kiln_model, writes its header
 * kiln_model.h next to this file and links the two with a C compiler. C99, libc, libm and
 * POSIX threads only: the binary runs on a machine with no kiln, LLVM or MLIR.
 */
#define _POSIX_C_SOURCE 200809L
#include "kiln_model.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if KILN_MODEL_NUM_INPUTS != 1 || KILN_MODEL_NUM_OUTPUTS != 1
#error "the predict program supports models with one input and one output"
#endif

static const char *prog = "predict";

static void die(const char *fmt, const char *arg) {
  fprintf(stderr, "%s: error: ", prog);
  fprintf(stderr, fmt, arg);
  fputc('\n', stderr);
  exit(1);
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: %s --input X.npy|IMAGES-idx3-ubyte --output Y.npy [--top-k K]\n"
          "       [--batch-size N] [--threads N] [--no-scale]\n\n"
          "Runs the compiled model (kiln " KILN_MODEL_KILN_VERSION ") on every row of the input.\n"
          "  --input FILE      float32 .npy (C order, batch first), or an uncompressed IDX file\n"
          "                    (unsigned bytes are scaled by 1/255 as kiln's datasets do,\n"
          "                    unless --no-scale; IDX float32 is read as is)\n"
          "  --output FILE     float32 .npy of the outputs (optional with --top-k)\n"
          "  --top-k K         print the K highest-scoring classes of each row\n"
          "  --batch-size N    rows per call (default 32)\n"
          "  --threads N       calls running at once, each with its own workspace (default 1)\n",
          prog);
}

/* ---- input ---------------------------------------------------------------------------- */

static unsigned char *readFile(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f)
    die("cannot open '%s'", path);
  size_t cap = 1 << 20, n = 0;
  unsigned char *data = malloc(cap);
  for (;;) {
    if (!data)
      die("out of memory reading '%s'", path);
    n += fread(data + n, 1, cap - n, f);
    if (n < cap)
      break;
    cap *= 2;
    data = realloc(data, cap);
  }
  if (ferror(f))
    die("cannot read '%s'", path);
  fclose(f);
  *size = n;
  return data;
}

static uint32_t bigEndian32(const unsigned char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Reads `path` as .npy (float32) or IDX into rows of `sampleSize` floats; returns the rows. */
static float *readInput(const char *path, int noScale, int64_t *rows) {
  static const int64_t want[] = KILN_MODEL_INPUT_SHAPE;
  const int64_t sampleSize = KILN_MODEL_INPUT_SAMPLE_SIZE;
  size_t size;
  unsigned char *data = readFile(path, &size);
  float *out = NULL;
  if (size >= 10 && memcmp(data, "\x93NUMPY", 6) == 0) {
    size_t start = 10, headerLen = (size_t)data[8] | (size_t)data[9] << 8;
    if (data[6] != 1) { /* versions 2 and 3: a 4-byte header length */
      if (size < 12)
        die("'%s': truncated .npy header", path);
      start = 12;
      headerLen = (size_t)data[8] | (size_t)data[9] << 8 | (size_t)data[10] << 16 |
                  (size_t)data[11] << 24;
    }
    if (start + headerLen > size)
      die("'%s': truncated .npy header", path);
    char *header = malloc(headerLen + 1);
    memcpy(header, data + start, headerLen);
    header[headerLen] = 0;
    if (!strstr(header, "'descr': '<f4'"))
      die("'%s': expected float32 data ('<f4')", path);
    if (strstr(header, "'fortran_order': True"))
      die("'%s': Fortran-order arrays are not supported", path);
    char *shape = strstr(header, "'shape': (");
    if (!shape)
      die("'%s': no shape in the .npy header", path);
    shape += strlen("'shape': (");
    int64_t dims[16];
    int rank = 0;
    while (*shape && *shape != ')') {
      if (rank == 16)
        die("'%s': too many dimensions", path);
      char *end;
      dims[rank++] = strtoll(shape, &end, 10);
      if (end == shape)
        die("'%s': bad shape in the .npy header", path);
      shape = end;
      while (*shape == ',' || *shape == ' ')
        ++shape;
    }
    free(header);
    int ok = rank == KILN_MODEL_INPUT_RANK;
    for (int d = 1; ok && d < rank; ++d)
      ok = dims[d] == want[d];
    if (!ok)
      die("'%s': the array's shape does not match the model input", path);
    *rows = dims[0];
    if ((size_t)(start + headerLen) + (size_t)(*rows * sampleSize) * 4 > size)
      die("'%s': truncated data", path);
    out = malloc((size_t)(*rows * sampleSize) * 4 + 1);
    memcpy(out, data + start + headerLen, (size_t)(*rows * sampleSize) * 4);
  } else if (size >= 4 && data[0] == 0 && data[1] == 0 &&
             (data[2] == 0x08 || data[2] == 0x0D)) {
    int rank = data[3];
    size_t start = 4 + 4 * (size_t)rank;
    if (rank < 1 || size < start)
      die("'%s': bad IDX header", path);
    int64_t n = bigEndian32(data + 4), per = 1;
    for (int d = 1; d < rank; ++d)
      per *= bigEndian32(data + 4 + 4 * d);
    if (per != sampleSize)
      die("'%s': the IDX rows do not have the model input's number of values", path);
    size_t elem = data[2] == 0x08 ? 1 : 4;
    if (start + (size_t)(n * per) * elem > size)
      die("'%s': truncated data", path);
    out = malloc((size_t)(n * per) * 4 + 1);
    const unsigned char *p = data + start;
    for (int64_t i = 0; i < n * per; ++i) {
      if (elem == 1) {
        out[i] = noScale ? (float)p[i] : (float)p[i] / 255.0f;
      } else {
        uint32_t bits = bigEndian32(p + 4 * i);
        memcpy(&out[i], &bits, 4);
      }
    }
    *rows = n;
  } else {
    die("'%s': neither a .npy nor an uncompressed IDX file (gunzip .gz files first)", path);
  }
  free(data);
  return out;
}

/* ---- output --------------------------------------------------------------------------- */

static void writeNpy(const char *path, const float *y, int64_t rows) {
  static const int64_t shape[] = KILN_MODEL_OUTPUT_SHAPE;
  char dict[256], tmp[4096];
  int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld,",
                     (long long)rows);
  for (int d = 1; d < KILN_MODEL_OUTPUT_RANK; ++d)
    len += snprintf(dict + len, sizeof dict - len, "%s%lld", d > 1 ? ", " : " ",
                    (long long)shape[d]);
  len += snprintf(dict + len, sizeof dict - len, "), }");
  int total = 10 + len + 1;
  int pad = (64 - total % 64) % 64;
  snprintf(tmp, sizeof tmp, "%s.tmp-predict", path);
  FILE *f = fopen(tmp, "wb");
  if (!f)
    die("cannot write '%s'", path);
  unsigned short headerLen = (unsigned short)(len + pad + 1);
  unsigned char magic[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(headerLen & 0xff),
                             (unsigned char)(headerLen >> 8)};
  fwrite(magic, 1, 10, f);
  fwrite(dict, 1, (size_t)len, f);
  for (int i = 0; i < pad; ++i)
    fputc(' ', f);
  fputc('\n', f);
  fwrite(y, 4, (size_t)(rows * KILN_MODEL_OUTPUT_SAMPLE_SIZE), f);
  if (ferror(f) | fclose(f)) {
    remove(tmp);
    die("cannot write '%s'", path);
  }
  if (rename(tmp, path) != 0) {
    remove(tmp);
    die("cannot write '%s'", path);
  }
}

/* ---- running -------------------------------------------------------------------------- */

struct Job {
  const float *x;
  float *y;
  int64_t begin, end, batchSize;
  int status;
};

static void *runJob(void *arg) {
  struct Job *job = arg;
  void *ws = malloc((size_t)kiln_model_workspace_size(job->batchSize) + 1);
  job->status = ws ? KILN_MODEL_STATUS_OK : -1;
  for (int64_t i = job->begin; ws && i < job->end && job->status == 0; i += job->batchSize) {
    int64_t n = job->end - i < job->batchSize ? job->end - i : job->batchSize;
    job->status = kiln_model_predict(job->x + i * KILN_MODEL_INPUT_SAMPLE_SIZE,
                                     job->y + i * KILN_MODEL_OUTPUT_SAMPLE_SIZE, n, ws);
  }
  free(ws);
  return NULL;
}

static long positive(const char *flag, const char *value) {
  char *end;
  errno = 0;
  long v = strtol(value, &end, 10);
  if (!*value || *end || v <= 0 || errno)
    die("%s must be a positive integer", flag);
  return v;
}

int main(int argc, char **argv) {
  prog = argv[0];
  const char *input = NULL, *output = NULL;
  long topK = 0, batchSize = 32, threads = 1;
  int noScale = 0;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--no-scale")) {
      noScale = 1;
      continue;
    }
    if (!v)
      die("%s needs a value", a);
    if (!strcmp(a, "--input"))
      input = v;
    else if (!strcmp(a, "--output"))
      output = v;
    else if (!strcmp(a, "--top-k"))
      topK = positive(a, v);
    else if (!strcmp(a, "--batch-size"))
      batchSize = positive(a, v);
    else if (!strcmp(a, "--threads"))
      threads = positive(a, v);
    else
      die("unknown option '%s' (see --help)", a);
    ++i;
  }
  if (!input)
    die("%s", "no --input given (see --help)");
  if (!output && !topK)
    die("%s", "give --output, --top-k, or both (see --help)");

  int64_t rows;
  float *x = readInput(input, noScale, &rows);
  float *y = calloc((size_t)(rows * KILN_MODEL_OUTPUT_SAMPLE_SIZE) + 1, sizeof(float));
  if (!y)
    die("%s", "out of memory");
  if (threads > rows)
    threads = rows > 0 ? (long)rows : 1;
  struct Job *jobs = calloc((size_t)threads, sizeof *jobs);
  pthread_t *ids = calloc((size_t)threads, sizeof *ids);
  int64_t per = (rows + threads - 1) / threads;
  for (long t = 0; t < threads; ++t) {
    int64_t begin = t * per, end = begin + per < rows ? begin + per : rows;
    jobs[t] = (struct Job){x, y, begin, end, batchSize, 0};
    if (t > 0 && pthread_create(&ids[t], NULL, runJob, &jobs[t]) != 0)
      die("%s", "cannot start a thread");
  }
  runJob(&jobs[0]);
  for (long t = 1; t < threads; ++t)
    pthread_join(ids[t], NULL);
  for (long t = 0; t < threads; ++t)
    if (jobs[t].status == 1)
      die("%s", "the compiled model refused its arguments");
    else if (jobs[t].status != 0)
      die("%s", jobs[t].status == 2   ? "no usable GPU (see the message above)"
                : jobs[t].status == 3 ? "the GPU code failed (see the message above)"
                                      : "out of memory");

  if (topK) {
    long k = topK < KILN_MODEL_OUTPUT_SAMPLE_SIZE ? topK : KILN_MODEL_OUTPUT_SAMPLE_SIZE;
    for (int64_t i = 0; i < rows; ++i) {
      const float *row = y + i * KILN_MODEL_OUTPUT_SAMPLE_SIZE;
      printf("%lld:", (long long)i);
      unsigned char used[KILN_MODEL_OUTPUT_SAMPLE_SIZE] = {0};
      for (long j = 0; j < k; ++j) {
        int best = -1;
        for (int c = 0; c < KILN_MODEL_OUTPUT_SAMPLE_SIZE; ++c)
          if (!used[c] && (best < 0 || row[c] > row[best]))
            best = c;
        used[best] = 1;
        printf(" %d (%.4f)", best, row[best]);
      }
      printf("\n");
    }
  }
  if (output)
    writeNpy(output, y, rows);
  free(x);
  free(y);
  free(jobs);
  free(ids);
  return 0;
}
