#!/bin/sh
# check_object_deps.sh OBJECT: an embeddable object may need symbols from libc and libm only,
# and no allocator (the workspace comes from the caller). Compares `nm -u` with the symbols
# the system's libc and libm define.
set -eu
OBJ=$1
LIBDIR=$(dirname "$(cc -print-file-name=libc.so.6)")
[ -e "$LIBDIR/libc.so.6" ] || LIBDIR=/lib/$(cc -dumpmachine)
DEFINED=$(mktemp)
trap 'rm -f "$DEFINED"' EXIT
nm -D --defined-only "$LIBDIR/libc.so.6" "$LIBDIR/libm.so.6" 2>/dev/null |
  awk 'NF == 3 { sub(/@.*/, "", $3); print $3 }' | sort -u > "$DEFINED"
status=0
for sym in $(nm -u "$OBJ" | awk '{ print $NF }'); do
  case $sym in
  malloc | calloc | realloc | free | aligned_alloc | posix_memalign | memalign)
    echo "$OBJ: calls the allocator: $sym"; status=1 ;;
  esac
  grep -qx "$sym" "$DEFINED" || { echo "$OBJ: needs $sym, which is not in libc or libm"; status=1; }
done
echo "$OBJ needs: $(nm -u "$OBJ" | awk '{ print $NF }' | tr '\n' ' ')"
exit $status
