#!/usr/bin/python3
"""same_bytes.py A B...: exits 1 unless every file holds the same float32 values bit for bit.
A .npy file is compared by its data (float32); any other file is raw float32."""
import sys

import numpy as np


def load(path):
    if path.endswith(".npy"):
        a = np.load(path)
        if a.dtype != np.float32:
            sys.exit(f"{path}: {a.dtype}, want float32")
        return a.reshape(-1)
    return np.fromfile(path, dtype=np.float32)


first = load(sys.argv[1])
for path in sys.argv[2:]:
    other = load(path)
    if other.shape != first.shape or other.tobytes() != first.tobytes():
        diff = np.abs(other - first).max() if other.shape == first.shape else "shape"
        sys.exit(f"{path} differs from {sys.argv[1]} ({diff})")
print(f"bitwise equal: {len(sys.argv) - 1} files, {first.size} values")
