#!/bin/sh
# embed_test.sh KILNC MAKE_MODEL EXAMPLE_DIR GOLDEN_DIR WORK_DIR PYTHON: the embedded C example
# end to end. Saves the seed CNN (test/golden/seed_cnn32 weights) with kiln's API, compiles it
# with kilnc to fashion.o + fashion.h, builds examples/embed/classify.c with `cc` alone, runs it
# on the 10,000 Fashion-MNIST test images and checks every output against the JIT's predict
# within 1e-5 * max(1, max|y|).
set -eu
KILNC=$1 MAKE_MODEL=$2 EXAMPLE=$3 GOLDEN=$4 WORK=$5 PYTHON=$6
DATA=${KILN_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
CC=${CC:-cc}
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK"
"$MAKE_MODEL" "$GOLDEN" .
"$KILNC" compile model.h5 --emit=obj -o fashion.o --header fashion.h --prefix fashion
"$CC" -std=c99 -pedantic -Wall -Wextra -Werror -I. "$EXAMPLE/classify.c" fashion.o -lz -lm \
  -o classify
./classify "$DATA/t10k-images-idx3-ubyte.gz" "$DATA/t10k-labels-idx1-ubyte.gz" --output c_y.npy
"$PYTHON" "$(dirname "$0")/../tools/Inputs/npy_close.py" c_y.npy jit_y.npy
echo "fashion.o: $(wc -c < fashion.o) bytes"
