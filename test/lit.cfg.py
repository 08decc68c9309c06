# lit configuration for kiln's FileCheck tests (one folder per stage).
import os
import subprocess

import lit.formats
from lit.llvm import llvm_config

config.name = "kiln"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.kiln_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "golden", "unit", "e2e", "files"]
config.environment["FILECHECK_OPTS"] = "-enable-var-scope"

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.kiln_tools_dir, append_path=True)
llvm_config.add_tool_substitutions(["kiln-opt", "kilnc"], [config.kiln_tools_dir])

# "gpu" where kiln's runtime finds a usable NVIDIA GPU (kiln-gpu-info exits 0): tests of the
# no-GPU error say UNSUPPORTED: gpu.
_gpu_info = os.path.join(config.kiln_tools_dir, "kiln-gpu-info")
if os.path.exists(_gpu_info) and subprocess.run([_gpu_info], capture_output=True).returncode == 0:
    config.available_features.add("gpu")
