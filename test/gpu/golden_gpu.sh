#!/bin/bash
# golden_gpu.sh - every golden predict case (test/golden/) compiled with
# `kilnc compile --device gpu` and run on the GPU, compared with Keras' outputs within
# atol * max(1, max|y|).
#
#   golden_gpu.sh build KILNC MAKE_MODELS GOLDEN_DIR OUT   build OUT/<case>/ (programs, inputs)
#   golden_gpu.sh run OUT PYTHON [KILNC]                   run them here and compare; with
#                                                          KILNC also `kilnc predict --device gpu`
#                                                          (the JIT path) on the .npy cases
#   golden_gpu.sh all KILNC MAKE_MODELS GPU_INFO GOLDEN_DIR OUT PYTHON
#                                                          build; run where a GPU is (else exit 77)
#
# `build` and `run` are split so that the programs, which need only libc, libm, libdl and the
# NVIDIA driver, can be built on one machine and run on another with a GPU.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
cc=${CC:-clang-22}
fashion=${KILN_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}

build() {
  local kilnc=$1 make=$2 golden=$3 out=$4 failed=0
  mkdir -p "$out"
  local cases=$(cd "$golden" && ls -d */ | tr -d / )
  "$make" "$out" $cases || return 1
  if [ -f "$fashion/t10k-images-idx3-ubyte.gz" ]; then
    gunzip -c "$fashion/t10k-images-idx3-ubyte.gz" > "$out/t10k-images-idx3-ubyte"
  fi
  for c in $cases; do
    local d="$out/$c" json="$golden/$c/case.json"
    rm -rf "$d" # a case's files from an earlier run (another input count) must not count
    mkdir -p "$d"
    mv "$out/$c.h5" "$d/model.h5"
    cp "$golden/$c"/y*.npy "$json" "$d/"
    cp "$golden/$c"/x*.npy "$d/" 2>/dev/null
    grep -q '"kiln_skip"' "$json" &&
      { echo "SKIP $c: $(grep -o '"kiln_skip": "[^"]*"' "$json")"; rm -rf "$d"; continue; }
    grep -q '"x_source"' "$json" && [ ! -f "$out/t10k-images-idx3-ubyte" ] &&
      { echo "SKIP $c: Fashion-MNIST is not installed"; rm -rf "$d"; continue; }
    local nin=$(ls "$d"/x*.npy 2>/dev/null | wc -l)
    if [ "$nin" -le 1 ]; then
      for chip in sm_90 sm_80; do
        "$kilnc" compile "$d/model.h5" --device gpu --gpu-chip $chip --emit=exe \
          -o "$d/predict_$chip" || { echo "FAIL $c: kilnc ($chip)"; failed=1; }
      done
    else
      # Several inputs and outputs: the object, its header and a small C driver.
      "$kilnc" compile "$d/model.h5" --device gpu --emit=obj -o "$d/model.o" \
        --header "$d/model.h" --prefix model &&
        "$cc" -std=c99 -O2 -I"$d" -I"$src/runtime/include/kiln" "$here/TwoInTwoOut.c" \
          "$d/model.o" "$src/runtime/gpu/CudaRuntime.c" -o "$d/predict_sm_90" -lm -ldl -pthread ||
        { echo "FAIL $c: kilnc/cc"; failed=1; }
      rm -f "$d/model.o"
    fi
  done
  return $failed
}

run() {
  local out=$1 python=$2 kilnc=${3:-} failed=0
  for d in "$out"/*/; do
    local c=$(basename "$d")
    if [ -n "$kilnc" ] && ls "$d"/x*.npy >/dev/null 2>&1; then
      local args=() i=0
      for x in "$d"/x*.npy; do
        args+=(--input "$x" --output "$d/got$i.npy")
        i=$((i + 1))
      done
      rm -f "$d"/got*.npy
      if "$kilnc" predict "$d/model.h5" "${args[@]}" --device gpu --batch-size 256 \
        2> "$d/err_jit"; then
        "$python" "$here/compare_golden.py" "$d" "$c (kilnc predict --device gpu)" || failed=1
      else
        echo "FAIL $c (kilnc predict --device gpu): $(head -c 300 "$d/err_jit")"
        failed=1
      fi
    fi
    for exe in "$d"/predict_*; do
      local chip=${exe##*predict_}
      rm -f "$d"/got*.npy
      if [ -f "$d/x0.npy" ] && [ -f "$d/x1.npy" ]; then
        "$exe" "$d/x0.npy" "$d/x1.npy" "$d/got0.npy" "$d/got1.npy" 2> "$d/err_$chip"
      elif [ -f "$d/x.npy" ]; then
        "$exe" --input "$d/x.npy" --output "$d/got0.npy" --batch-size 256 2> "$d/err_$chip"
      else
        "$exe" --input "$out/t10k-images-idx3-ubyte" --output "$d/got0.npy" --batch-size 256 \
          2> "$d/err_$chip"
      fi
      local rc=$?
      if [ $rc -ne 0 ]; then
        echo "FAIL $c ($chip): exit $rc: $(head -c 300 "$d/err_$chip")"
        failed=1
        continue
      fi
      "$python" "$here/compare_golden.py" "$d" "$c ($chip)" || failed=1
    done
  done
  return $failed
}

case "${1:-}" in
build) shift; build "$@" ;;
run) shift; run "$@" ;;
all)
  shift
  kilnc=$1 make=$2 info=$3 golden=$4 out=$5 python=$6
  build "$kilnc" "$make" "$golden" "$out" || exit 1
  "$info"
  rc=$?
  if [ $rc -eq 77 ]; then
    echo "SKIPPED: the GPU programs were built, but there is no GPU here to run them"
    exit 77
  fi
  [ $rc -eq 0 ] || exit 1
  run "$out" "$python" "$kilnc" ;;
*) sed -n '2,11p' "$0"; exit 2 ;;
esac
