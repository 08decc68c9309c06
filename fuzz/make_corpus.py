#!/usr/bin/python3
"""Writes the fuzz seed corpora under fuzz/corpus/<target>/ from kiln's test inputs (run once;
the output is committed). Small files only: the fuzzer mutates them, it does not need many."""
import glob, gzip, io, json, os, re, shutil, struct
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")


def target(name):
    """The seed directory of `name`, emptied of the seeds written before. Inputs the fuzzer found
    and `-set_cover_merge=1` added (named by their SHA-1) are kept."""
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if not re.fullmatch(r"[0-9a-f]{40}", f):
            os.remove(os.path.join(d, f))
    return d


def npy():
    d = target("npy")
    for f in glob.glob(os.path.join(ROOT, "test/files/Inputs/*.npy")):
        shutil.copy(f, d)
    arrays = {
        "f2": np.arange(6, dtype="<f2").reshape(2, 3),
        "f8be": np.linspace(-1, 1, 4).astype(">f8"),
        "i1": np.array([-3, 0, 7], dtype="i1"),
        "u2": np.arange(4, dtype="<u2").reshape(2, 2, 1),
        "i8": np.array([1 << 40, -5], dtype="<i8"),
        "b1": np.array([True, False, True]),
        "scalar": np.float32(2.5),
        "empty": np.zeros((0, 3), dtype="<f4"),
        "nan": np.array([np.nan, np.inf, -np.inf], dtype="<f4"),
    }
    for k, a in arrays.items():
        np.save(os.path.join(d, k + ".npy"), a)
    # Format versions 2.0 and 3.0 (4-byte header length).
    for major in (2, 3):
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.arange(3, dtype="<f4"), version=(major, 0))
        open(os.path.join(d, "v%d.npy" % major), "wb").write(buf.getvalue())


def idx_bytes(code, dtype, a):
    head = bytes([0, 0, code, a.ndim]) + b"".join(struct.pack(">I", n) for n in a.shape)
    return head + a.astype(dtype).tobytes()


def idx():
    d = target("idx")
    cases = {
        "ubyte3": (0x08, ">u1", np.arange(2 * 3 * 3).reshape(2, 3, 3)),
        "labels": (0x08, ">u1", np.array([1, 2, 9])),
        "byte": (0x09, ">i1", np.array([-1, 5])),
        "short": (0x0B, ">i2", np.array([[-300, 2], [3, 4]])),
        "int": (0x0C, ">i4", np.array([1 << 20, -7])),
        "float": (0x0D, ">f4", np.array([0.5, -1.5, np.nan])),
        "double": (0x0E, ">f8", np.array([[1.25]])),
    }
    for k, (code, dt, a) in cases.items():
        data = idx_bytes(code, dt, a)
        open(os.path.join(d, k + ".idx"), "wb").write(data)
    data = idx_bytes(0x08, ">u1", np.arange(16).reshape(1, 4, 4))
    open(os.path.join(d, "ubyte3.idx.gz"), "wb").write(gzip.compress(data, mtime=0))
    # Two concatenated gzip members.
    open(os.path.join(d, "two_members.gz"), "wb").write(
        gzip.compress(data[:9], mtime=0) + gzip.compress(data[9:], mtime=0))


def keras_json():
    d = target("keras_json")
    shutil.copy(os.path.join(ROOT, "test/files/Inputs/keras2_mlp_config.json"), d)
    for f in sorted(glob.glob(os.path.join(ROOT, "test/golden/*/model.json"))):
        cfg = json.load(open(f))
        name = os.path.basename(os.path.dirname(f))
        json.dump(cfg, open(os.path.join(d, name + ".json"), "w"), separators=(",", ":"))


def h5():
    d = target("h5")
    for f in glob.glob(os.path.join(ROOT, "test/files/Inputs/*.h5")):
        if not f.endswith(".io.h5") and os.path.getsize(f) <= 32 << 10:
            shutil.copy(f, d)
    shutil.copy(os.path.join(ROOT, "test/files/Inputs/keras3_mlp.keras"), d)


def ir():
    d = target("ir")
    n = 0
    for f in sorted(glob.glob(os.path.join(ROOT, "test/ir/*.mlir")) +
                    glob.glob(os.path.join(ROOT, "test/passes/*.mlir"))):
        text = open(f).read()
        base = os.path.splitext(os.path.basename(f))[0]
        for i, chunk in enumerate(re.split(r"^// -----\s*$", text, flags=re.M)):
            body = "\n".join(l for l in chunk.splitlines()
                             if not l.lstrip().startswith(("// RUN", "// CHECK", "// expected")))
            if body.strip():
                open(os.path.join(d, "%s_%02d.mlir" % (base, i)), "w").write(body.strip() + "\n")
                n += 1


if __name__ == "__main__":
    npy(); idx(); keras_json(); h5(); ir()
