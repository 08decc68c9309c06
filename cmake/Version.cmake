# kiln's versions: the release comes from project(kiln VERSION ...) in the top-level
# CMakeLists.txt, the only place it is written; the ABI version of generated code is set here
# (docs/Versioning.md says when it changes). Both reach C and C++ through the generated
# kiln/Version.h, which kilnc, the AOT headers and the installed package all read.

# The version of the C ABI of objects made by `kilnc compile --emit=obj` (<PREFIX>_ABI_VERSION).
set(KILN_ABI_VERSION 1)

configure_file(${CMAKE_CURRENT_LIST_DIR}/Version.h.in
  ${PROJECT_BINARY_DIR}/include/kiln/Version.h @ONLY)
include_directories(${PROJECT_BINARY_DIR}/include)
