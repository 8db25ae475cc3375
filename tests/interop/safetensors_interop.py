#!/usr/bin/env python3
"""Interop of msl checkpoints with other safetensors readers and writers.

    safetensors_interop.py --msl PATH/TO/msl [--keep DIR]

1. msl saves a checkpoint holding every dtype, a 0-d number of each kind and a string;
   the NumPy reader below (written from the format's specification,
   https://huggingface.co/docs/safetensors) reads it and checks every value, and so does
   Python's `safetensors` package where it is installed.
2. The NumPy writer below writes a file the way PyTorch exports a model (names
   `fc1.weight`, Linear weights stored (out, in), `__metadata__` {"format": "pt"}), and
   `safetensors.numpy.save_file` writes another where installed; msl loads each with
   `like=`, `names=` and `transpose=` and prints values that are checked here.

Exits 0 when all checks pass, 1 on a failure, 77 (ctest's SKIP_RETURN_CODE) when neither
NumPy nor safetensors can be imported.
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    np = None
try:
    import safetensors.numpy as st_numpy
except ImportError:
    st_numpy = None

# ---------------------------------------------------------------- the format, from its spec

# safetensors dtype -> NumPy dtype (BF16 has none: its raw bits are read as uint16).
DTYPES = {
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "I16": "int16", "U16": "uint16",
    "I32": "int32", "U32": "uint32", "I64": "int64", "U64": "uint64",
    "F16": "float16", "BF16": "uint16", "F32": "float32", "F64": "float64",
}


def read_safetensors(path):
    """({name: ndarray}, metadata): checks what the spec requires of a file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError("header length beyond the end of the file")
    if (8 + n) % 8 != 0:
        raise ValueError("the data buffer does not start 8-byte aligned")
    header_bytes = data[8:8 + n]
    if not header_bytes.startswith(b"{"):
        raise ValueError("the header does not start with '{'")
    pairs = json.loads(header_bytes.decode("utf-8"), object_pairs_hook=lambda kv: kv)
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate keys")
    header = dict(pairs)
    metadata = dict(header.pop("__metadata__", []) or [])
    if not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError("a metadata value is not a string")
    buf = data[8 + n:]
    spans, out = [], {}
    for name, entry in header.items():
        entry = dict(entry)
        if set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"{name}: fields {sorted(entry)}")
        dt = np.dtype(DTYPES[entry["dtype"]])
        shape = tuple(entry["shape"])
        begin, end = entry["data_offsets"]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not 0 <= begin <= end <= len(buf) or end - begin != count * dt.itemsize:
            raise ValueError(f"{name}: bad data_offsets {begin, end}")
        spans.append((begin, end))
        out[name] = np.frombuffer(buf[begin:end], dtype=dt.newbyteorder("<")).reshape(shape)
    pos = 0
    for begin, end in sorted(spans):
        if begin != pos:
            raise ValueError("overlap or gap in the data buffer")
        pos = end
    if pos != len(buf):
        raise ValueError("bytes after the last tensor")
    return out, metadata


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: (safetensors dtype, ndarray)} in the order given."""
    header, chunks, pos = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, array) in tensors.items():
        raw = np.ascontiguousarray(array).astype(np.dtype(DTYPES[dtype]).newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [pos, pos + len(raw)]}
        chunks.append(raw)
        pos += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


# ---------------------------------------------------------------- the checks

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what)


def run_msl(msl, program, workdir, name):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(program)
    r = subprocess.run([msl, "run", path], capture_output=True, text=True, timeout=120, cwd=workdir)
    if r.returncode != 0:
        FAILURES.append(f"msl {name} exited {r.returncode}: {r.stderr}")
        print(r.stderr)
    return r.stdout


SAVE_PROGRAM = """
class Dense:
    w: Tensor
    b: Tensor
model = Dense(w=arange(6.0).reshape(2, 3), b=tensor([0.5, -1.5]))
tree = {
    "model": model,
    "opt": {"m": [tensor([1.0, 2.0], dtype=f16), tensor([3.0], dtype=bf16)]},
    "f64": tensor([1e-300, 2.5], dtype=f64),
    "i32": tensor([-7, 2147483647], dtype=i32),
    "i64": tensor([[-9223372036854775807, 5]]),
    "u8": tensor([0, 255], dtype=u8),
    "u32": tensor([4294967295, 1], dtype=u32),
    "mask": tensor([True, False, True]),
    "epoch": 3, "lr": 0.125, "done": False,
    "name": "mlp",
}
save_checkpoint(argv[1], tree)
print("saved")
"""


def check_msl_file(path, read, who):
    tensors, metadata = read(path)
    expect = {
        "model.w": ("float32", np.arange(6.0).reshape(2, 3)),
        "model.b": ("float32", [0.5, -1.5]),
        "opt.m.0": ("float16", [1.0, 2.0]),
        "f64": ("float64", [1e-300, 2.5]),
        "i32": ("int32", [-7, 2147483647]),
        "i64": ("int64", [[-9223372036854775807, 5]]),
        "u8": ("uint8", [0, 255]),
        "u32": ("uint32", [4294967295, 1]),
        "mask": ("bool", [True, False, True]),
        "epoch": ("int64", 3),
        "lr": ("float64", 0.125),
        "done": ("bool", False),
    }
    for name, (dtype, value) in expect.items():
        got = tensors.get(name)
        check(got is not None, f"{who}: no tensor {name}")
        if got is None:
            continue
        check(str(got.dtype) == dtype, f"{who}: {name} has dtype {got.dtype}, expected {dtype}")
        check(got.shape == np.shape(value) and np.array_equal(got, np.asarray(value, dtype=dtype)),
              f"{who}: {name} = {got!r}, expected {value!r}")
    if "opt.m.1" in tensors or who == "numpy reader":
        bf16 = tensors.get("opt.m.1")
        # bfloat16 3.0 is 0x4040; safetensors.numpy may not support BF16 at all.
        if bf16 is not None:
            check(bf16.view(np.uint16).tolist() == [0x4040], f"{who}: opt.m.1 bits {bf16!r}")
    check(metadata == {"name": "mlp"}, f"{who}: metadata {metadata}")
    extra = set(tensors) - set(expect) - {"opt.m.1"}
    check(not extra, f"{who}: unexpected tensors {extra}")


LOAD_PROGRAM = """
class Dense:
    w: Tensor
    b: Tensor
class MLP:
    l1: Dense
    l2: Dense
like = {"model": MLP(l1=Dense(w=zeros((3, 4)), b=zeros(4)), l2=Dense(w=zeros((4, 2)), b=zeros(2))), "step": 0}
names = {"fc1.weight": "model.l1.w", "fc1.bias": "model.l1.b", "fc2.weight": "model.l2.w", "fc2.bias": "model.l2.b"}
for path in argv[1:]:
    c = load_checkpoint(path, like=like, names=names, transpose=["model.l1.w", "model.l2.w"])
    m = c["model"]
    print(c["step"], m.l1.w.shape, m.l2.w.shape)
    print(m.l1.w.tolist())
    print(m.l1.b.tolist(), m.l2.b.tolist())
    print(m.l2.w.tolist())
    x = tensor([[1.0, 2.0, 3.0]])
    print((relu(x @ m.l1.w + m.l1.b) @ m.l2.w + m.l2.b).tolist())
"""


def torch_style(rng):
    """The state dict of a PyTorch MLP 3 -> 4 -> 2 (Linear weights (out, in)), in float32."""
    fc1_w = rng.integers(-4, 5, size=(4, 3)).astype(np.float32) / 4
    fc1_b = rng.integers(-4, 5, size=(4,)).astype(np.float32) / 4
    fc2_w = rng.integers(-4, 5, size=(2, 4)).astype(np.float32) / 4
    fc2_b = rng.integers(-4, 5, size=(2,)).astype(np.float32) / 4
    return {"fc1.weight": fc1_w, "fc1.bias": fc1_b, "fc2.weight": fc2_w, "fc2.bias": fc2_b,
            "step": np.array(41, dtype=np.int64)}


def expected_lines(sd):
    x = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    w1, w2 = sd["fc1.weight"].T, sd["fc2.weight"].T
    y = np.maximum(x @ w1 + sd["fc1.bias"], 0) @ w2 + sd["fc2.bias"]
    py = lambda a: repr([float(v) for v in a]) if a.ndim == 1 else repr([[float(v) for v in r] for r in a])
    return [f"{int(sd['step'])} (3, 4) (4, 2)", py(w1), f"{py(sd['fc1.bias'])} {py(sd['fc2.bias'])}", py(w2), py(y)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--msl", required=True)
    ap.add_argument("--keep", help="a folder to write into (kept) instead of a temporary one")
    args = ap.parse_args()
    args.msl = os.path.abspath(args.msl)
    if np is None:
        # The reader and writer of this script need NumPy (safetensors' numpy API does too).
        print("SKIP: numpy is not importable")
        return 77
    workdir = args.keep or tempfile.mkdtemp(prefix="msl-st-interop-")
    os.makedirs(workdir, exist_ok=True)

    # 1. msl writes, the others read.
    saved = os.path.join(workdir, "from_msl.safetensors")
    out = run_msl(args.msl, SAVE_PROGRAM.replace("argv[1]", repr(saved)), workdir, "save.msl")
    check(out.strip() == "saved", f"save.msl printed {out!r}")
    if os.path.exists(saved):
        check_msl_file(saved, read_safetensors, "numpy reader")
        if st_numpy is not None:
            def read_with_lib(p):
                from safetensors import safe_open
                with safe_open(p, framework="numpy") as f:
                    meta = f.metadata() or {}
                tensors = {}
                try:
                    tensors = st_numpy.load_file(p)
                except Exception:  # older versions cannot read BF16 into NumPy
                    with safe_open(p, framework="numpy") as f:
                        tensors = {k: f.get_tensor(k) for k in f.keys() if k != "opt.m.1"}
                return tensors, meta
            check_msl_file(saved, read_with_lib, "safetensors")
        else:
            print("note: safetensors is not installed; only the NumPy reader was used")

    # 2. The others write, msl reads.
    rng = np.random.default_rng(0)
    sd = torch_style(rng)
    files = [os.path.join(workdir, "numpy_writer.safetensors")]
    write_safetensors(files[0], {k: ("I64" if v.dtype == np.int64 else "F32", v) for k, v in sd.items()}, {"format": "pt"})
    if st_numpy is not None:
        files.append(os.path.join(workdir, "safetensors_lib.safetensors"))
        st_numpy.save_file(sd, files[1], metadata={"format": "pt"})
    # The NumPy writer's file must pass the NumPy reader too.
    back, meta = read_safetensors(files[0])
    check(meta == {"format": "pt"} and all(np.array_equal(back[k], v) for k, v in sd.items()), "numpy writer/reader round trip")
    # The file's "step" is not renamed: it is like's "step".
    program = LOAD_PROGRAM.replace("argv[1:]", repr(files))
    out = run_msl(args.msl, program, workdir, "load.msl").splitlines()
    want = expected_lines(sd) * len(files)
    check(out == want, "load.msl printed:\n" + "\n".join(out) + "\nexpected:\n" + "\n".join(want))

    if FAILURES:
        print(f"{len(FAILURES)} failure(s); files in {workdir}")
        return 1
    if not args.keep:
        shutil.rmtree(workdir)
    print("ok:", "numpy reader/writer" + (" and safetensors" if st_numpy is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
