#!/usr/bin/env python3
"""Writes the checkpoint files the tests of this folder read (run from this folder).

torch_mlp.safetensors is laid out as PyTorch's `safetensors.torch.save_file(model.state_dict())`
writes an MLP 2 -> 3 -> 1: names `fc1.weight`, Linear weights stored (out, in), metadata
{"format": "pt"}, tensors sorted by name. The others are corrupt on purpose. Written with
the NumPy writer of tests/interop/safetensors_interop.py (from the format's spec).
"""
import json
import struct

import numpy as np


def write(path, tensors, metadata=None, header_patch=None):
    header, chunks, pos = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, a) in tensors.items():
        raw = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [pos, pos + len(raw)]}
        chunks.append(raw)
        pos += len(raw)
    if header_patch:
        header_patch(header)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


f32 = np.float32
write("torch_mlp.safetensors", {
    "fc1.bias": ("F32", np.array([0.5, -0.5, 1.0], f32)),
    "fc1.weight": ("F32", np.array([[1, 2], [3, 4], [5, 6]], f32)),
    "fc2.bias": ("F32", np.array([0.25], f32)),
    "fc2.weight": ("F32", np.array([[1, -1, 2]], f32)),
}, {"format": "pt"})


def overlap(h):
    h["b"]["data_offsets"] = [4, 12]


write("overlap.safetensors", {"a": ("F32", np.zeros(2, f32)), "b": ("F32", np.zeros(2, f32))}, None, overlap)
