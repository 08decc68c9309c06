# Hardening builds: KILN_SANITIZE (ASan/UBSan over kiln's own code) and KILN_FUZZ (libFuzzer targets).
#
# The shared libMLIR/libLLVM and the code the JIT emits are not instrumented; kiln's libraries,
# tools and tests are. vptr and function checks are left off: both compare type information across
# the boundary into the uninstrumented libMLIR and the JIT's code, where they report false errors.
set(KILN_SANITIZE "" CACHE STRING
  "Sanitizers for kiln's own code, as -fsanitize takes them (e.g. address,undefined)")
option(KILN_FUZZ "Build the libFuzzer targets in fuzz/ (clang only; implies address)" OFF)

set(_kiln_sanitize "${KILN_SANITIZE}")
if(KILN_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "KILN_FUZZ needs clang (libFuzzer): configure with clang++-22")
  endif()
  if(NOT _kiln_sanitize MATCHES "address")
    string(JOIN "," _kiln_sanitize address ${_kiln_sanitize})
  endif()
  # Coverage for every kiln library the fuzz targets link; the libFuzzer main is linked into
  # the fuzz targets alone (fuzz/CMakeLists.txt).
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

if(_kiln_sanitize)
  message(STATUS "kiln: sanitizers ${_kiln_sanitize}")
  add_compile_options(-fsanitize=${_kiln_sanitize} -fno-omit-frame-pointer -g1)
  if(_kiln_sanitize MATCHES "undefined")
    add_compile_options(-fno-sanitize=vptr,function -fno-sanitize-recover=undefined)
  endif()
  add_link_options(-fsanitize=${_kiln_sanitize})
  # Tests read this to pick smaller sizes where a full-size run is too slow under the sanitizers.
  add_compile_definitions(KILN_SANITIZED=1)
endif()
