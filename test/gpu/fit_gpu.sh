#!/bin/bash
# fit_gpu.sh - the oracle training runs of test/golden_fit (KilnFitGoldenTest) with
# compile({.device = "gpu"}): the whole train step (forward, loss, gradients, optimizer
# update) runs as kiln's PTX kernels. Exits 77 (ctest SKIP) with a message where no GPU is.
#
#   fit_gpu.sh GPU_INFO FIT_GOLDEN_TEST [gtest args...]
set -u
info=$1 test=$2
shift 2
if ! "$info" >/dev/null 2>&1; then
  echo "SKIPPED: gpu_fit_golden: no GPU or NVIDIA driver here ($("$info" 2>&1 | head -1))"
  exit 77
fi
"$info"
KILN_TEST_DEVICE=gpu exec "$test" "$@"
