#!/usr/bin/env bash
# Runs one libFuzzer target for a while: scripts/fuzz.sh TARGET SECONDS [libFuzzer args...]
# TARGET is npy, idx, keras_json, h5 or ir. New inputs go to build-asan/fuzz-work/TARGET/corpus
# (the committed seeds in fuzz/corpus/TARGET are read, never written); crashes are written to
# build-asan/fuzz-work/TARGET/ as crash-*, to be minimized and copied to fuzz/regressions/TARGET.
# scripts/fuzz.sh --ci runs every target once over its seeds and regressions (ctest -L fuzz).
# scripts/fuzz.sh --merge TARGET adds to fuzz/corpus/TARGET the fewest inputs of
# build-asan/fuzz-work/TARGET/corpus that cover the edges the seeds do not (-set_cover_merge=1,
# edges only: -use_counters=0), named by their SHA-1; commit them.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--merge" ] && [ $# -eq 2 ]; then
  ASAN_OPTIONS=detect_leaks=0
  [ "$2" = h5 ] && ASAN_OPTIONS="$ASAN_OPTIONS:allocator_may_return_null=1"
  export ASAN_OPTIONS
  exec build-asan/bin/kiln-fuzz-"$2" -set_cover_merge=1 -use_counters=0 -malloc_limit_mb=1024 \
    fuzz/corpus/"$2" build-asan/fuzz-work/"$2"/corpus
fi
if [ "${1:-}" = "--ci" ]; then
  cmake --build build-asan --target kiln-fuzz-npy kiln-fuzz-idx kiln-fuzz-keras_json \
    kiln-fuzz-h5 kiln-fuzz-ir
  cd build-asan && exec ctest --output-on-failure -L fuzz
fi
if [ $# -lt 2 ]; then
  echo "usage: scripts/fuzz.sh TARGET SECONDS [libFuzzer args...] | scripts/fuzz.sh --ci" >&2
  exit 2
fi
target=$1 seconds=$2
shift 2
if [ ! -f build-asan/build.ninja ]; then
  echo "fuzz.sh: no build-asan/: run scripts/sanitize.sh first (it configures KILN_FUZZ=ON)" >&2
  exit 1
fi
cmake --build build-asan --target "kiln-fuzz-$target"
work=build-asan/fuzz-work/$target
mkdir -p "$work/corpus"
seeds=(fuzz/corpus/"$target")
[ -d fuzz/regressions/"$target" ] && seeds+=(fuzz/regressions/"$target")
dict=()
[ -f fuzz/dicts/"$target".dict ] && dict=(-dict=fuzz/dicts/"$target".dict)
export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-22/bin/llvm-symbolizer
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# libhdf5 (not instrumented) mallocs whatever size a corrupt header names and handles the NULL.
[ "$target" = h5 ] && ASAN_OPTIONS="$ASAN_OPTIONS:allocator_may_return_null=1"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan.supp:print_suppressions=0}"
exec build-asan/bin/kiln-fuzz-"$target" "$work/corpus" "${seeds[@]}" \
  -max_total_time="$seconds" -artifact_prefix="$work/" -rss_limit_mb=2048 -malloc_limit_mb=1024 \
  -timeout=10 -print_final_stats=1 "${dict[@]}" "$@"
