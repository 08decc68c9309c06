# Installing kiln: tools, public headers, libraries, the CMake package (kilnConfig.cmake with
# the targets kiln::kiln and kiln::runtime), kiln-runtime.pc for pkg-config, and the Debian
# package (`cpack -G DEB`). Included at the end of the top-level CMakeLists.txt, when every
# target exists; scripts/check-install.sh proves the result (ctest -L install).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(KILN_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/kiln)
# The two compile-driver headers that the seed CNN example includes as "codegen/...": they need
# MLIR's headers only, and live apart so that <prefix>/include stays kiln/ alone.
set(KILN_INSTALL_COMPILER_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR}/kiln/compiler)

# kiln::runtime is KilnRuntimeIO: arrays, .npy/IDX, data sets, kiln/Version.h. No LLVM, no MLIR.
set_target_properties(KilnRuntimeIO PROPERTIES EXPORT_NAME runtime OUTPUT_NAME kiln-runtime)
add_library(kiln::runtime ALIAS KilnRuntimeIO)

# kiln::gpu_runtime is the CUDA shim that objects compiled with --device gpu call (C99, libdl and
# pthreads; the driver is opened at run time). Its header is included as "kiln_gpu.h".
set_target_properties(KilnGpuRuntime PROPERTIES EXPORT_NAME gpu_runtime)
add_library(kiln::gpu_runtime ALIAS KilnGpuRuntime)

# kiln::kiln is everything a C++ program needs for the builder, the compiler, the JIT and
# fit/evaluate/predict.
add_library(KilnAll INTERFACE)
set_target_properties(KilnAll PROPERTIES EXPORT_NAME kiln)
target_link_libraries(KilnAll INTERFACE KilnFrontend KilnCodegen KilnPasses KilnIR KilnRuntimeIO)
target_include_directories(KilnAll INTERFACE
  $<INSTALL_INTERFACE:${KILN_INSTALL_COMPILER_INCLUDEDIR}>)
add_library(kiln::kiln ALIAS KilnAll)

# The libraries name their include folders by absolute source paths, which an installed package
# cannot use: keep those for the build tree and point the installed targets at <prefix>/include.
function(kiln_relocatable_includes target)
  get_target_property(dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
  set(wrapped "")
  if(dirs)
    foreach(dir IN LISTS dirs)
      if(dir MATCHES "^\\$<")
        list(APPEND wrapped "${dir}")
      else()
        list(APPEND wrapped "$<BUILD_INTERFACE:${dir}>")
      endif()
    endforeach()
  endif()
  list(APPEND wrapped "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
  set_property(TARGET ${target} PROPERTY INTERFACE_INCLUDE_DIRECTORIES "${wrapped}")
endfunction()

set(KILN_INSTALLED_LIBRARIES
  KilnRuntimeIO KilnRuntimeExec KilnRuntimeTrain KilnGpuRuntime KilnFrontend KilnCodegen KilnPasses
  KilnIR)
foreach(lib IN LISTS KILN_INSTALLED_LIBRARIES)
  kiln_relocatable_includes(${lib})
endforeach()
target_include_directories(KilnGpuRuntime INTERFACE
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/kiln>)

# libMLIR.so lives in /usr/lib/llvm-22/lib, outside the loader's path: the installed tools keep
# the folders of the libraries they link as their RUNPATH (the build tree's own is dropped).
set_target_properties(kilnc kiln-opt PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)
install(TARGETS kilnc kiln-opt kiln-gpu-info RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The main of the standalone trainers that `kilnc compile --emit=exe --train` links.
install(TARGETS KilnTrainerMain ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS ${KILN_INSTALLED_LIBRARIES} KilnAll EXPORT kilnTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Public headers: the C++ API, the runtime, and the generated version header.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/frontend/include/kiln ${PROJECT_SOURCE_DIR}/runtime/include/kiln
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/include/kiln/Version.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/kiln)
install(FILES ${PROJECT_SOURCE_DIR}/codegen/Driver.h ${PROJECT_SOURCE_DIR}/codegen/Pipelines.h
  DESTINATION ${KILN_INSTALL_COMPILER_INCLUDEDIR}/codegen)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/AOT.md
  ${PROJECT_SOURCE_DIR}/docs/GPU.md ${PROJECT_SOURCE_DIR}/docs/Versioning.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The CMake package: kilnConfig.cmake finds the dependencies, kilnTargets.cmake defines the
# targets. 0.x releases break compatibility at every minor version, hence SameMinorVersion.
install(EXPORT kilnTargets NAMESPACE kiln:: DESTINATION ${KILN_INSTALL_CMAKEDIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/kilnConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/kilnConfig.cmake
  INSTALL_DESTINATION ${KILN_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/kilnConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/kilnConfig.cmake
  ${PROJECT_BINARY_DIR}/cmake/kilnConfigVersion.cmake
  DESTINATION ${KILN_INSTALL_CMAKEDIR})

# pkg-config, for Makefiles: kiln-runtime and kiln-gpu-runtime (kiln::kiln needs MLIR's CMake
# package).
# The prefix is found from the .pc file's own place, so the file works under any prefix.
file(RELATIVE_PATH KILN_PC_TO_PREFIX
  /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
string(REGEX REPLACE "/$" "" KILN_PC_TO_PREFIX "${KILN_PC_TO_PREFIX}")
get_target_property(KILN_RUNTIME_LIBNAME KilnRuntimeIO OUTPUT_NAME)
configure_file(${CMAKE_CURRENT_LIST_DIR}/kiln-runtime.pc.in
  ${PROJECT_BINARY_DIR}/cmake/kiln-runtime.pc @ONLY)
get_target_property(KILN_GPU_RUNTIME_LIBNAME KilnGpuRuntime OUTPUT_NAME)
if(NOT KILN_GPU_RUNTIME_LIBNAME)
  set(KILN_GPU_RUNTIME_LIBNAME KilnGpuRuntime)
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/kiln-gpu-runtime.pc.in
  ${PROJECT_BINARY_DIR}/cmake/kiln-gpu-runtime.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/cmake/kiln-runtime.pc
  ${PROJECT_BINARY_DIR}/cmake/kiln-gpu-runtime.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The install check: install to a temporary prefix, build examples/ against it as a separate
# project, run it, and check that a kiln::runtime program links no LLVM or MLIR. Label
# `install` (exclude with `ctest -LE install`).
# A sanitizer or fuzzer build installs instrumented libraries that only link with the same
# flags, so the check belongs to the normal build (which CI runs first).
if(NOT KILN_SANITIZE AND NOT KILN_FUZZ)
  add_test(NAME install-check
    COMMAND ${PROJECT_SOURCE_DIR}/scripts/check-install.sh ${PROJECT_BINARY_DIR})
  set_tests_properties(install-check PROPERTIES LABELS "install" TIMEOUT 600)
endif()

# The Debian package: `cpack -G DEB` in the build folder gives kiln_<version>_amd64.deb.
# Depends lists the Debian 12 packages of the shared libraries kilnc and kiln-opt load
# (readelf -d, then dpkg -S); the -dev packages are what find_package(kiln) needs to build
# against kiln::kiln.
set(CPACK_PACKAGE_NAME kiln)
set(CPACK_PACKAGE_VENDOR kiln)
set(CPACK_PACKAGE_CONTACT "kiln <kiln@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "Keras-style model compiler on MLIR/LLVM 22: kilnc, kiln-opt, C++ API and C runtime")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
  "libmlir-22 (>= 1:22.1.0), libllvm22 (>= 1:22.1.0), libhdf5-103-1, libzip4, zlib1g, libsz2, libcurl4, libssl3, libstdc++6 (>= 12), libgcc-s1, libc6 (>= 2.34)")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS
  "clang-22 | c-compiler, libmlir-22-dev, mlir-22-tools, llvm-22-dev, libhdf5-dev, libzip-dev, nlohmann-json3-dev, zlib1g-dev, pkgconf")
# --device gpu code opens the NVIDIA driver (libcuda.so.1) at run time, if there is one.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libcuda1")
include(CPack)
