#!/usr/bin/python3
"""npy_close.py GOT.npy WANT: exits 1 unless GOT matches WANT within 1e-5 * max(1, max|WANT|).
WANT is a .npy file, or FILE.io.h5:DATASET (the expected outputs make_keras_files.py wrote)."""
import sys

import numpy as np

got = np.load(sys.argv[1])
if ".h5:" in sys.argv[2]:
    import h5py
    path, name = sys.argv[2].rsplit(":", 1)
    want = h5py.File(path, "r")[name][()]
else:
    want = np.load(sys.argv[2])
if got.dtype != np.float32 or got.shape != want.shape:
    sys.exit(f"got {got.dtype}{got.shape}, want float32{want.shape}")
err = float(np.abs(got - want).max())
bound = 1e-5 * max(1.0, float(np.abs(want).max()))
if err > bound:
    sys.exit(f"max error {err} over {bound}")
print(f"close: max error {err:.3g}")
