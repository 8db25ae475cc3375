#!/usr/bin/env python3
"""Resuming an example from a checkpoint written mid-epoch gives bit for bit the run that
was never interrupted (issue 5, Deliver 3): the same printed losses and the same final
parameters, optimizer state and keys (the final checkpoints are compared byte for byte).

It writes a small Fashion-MNIST-like data set in the IDX format (never the real one), then
runs the example (default: examples/fashion_mnist_mlp.msl) three ways with --log-every 1:
  A  two epochs in one go;
  B  --checkpoint-every 3 --stop-after 11 (the last checkpoint is at epoch 2, step 2), then
     --resume to the end;
  C  --checkpoint-every 3 --stop-after 5 (the last checkpoint at epoch 1, step 3: the
     interrupted epoch's order comes back from its key), then --resume to the end.
Python 3 standard library only. Exit status 0 pass, 1 fail.
"""
import argparse
import os
import random
import re
import struct
import subprocess
import sys
import tempfile

STEP_RE = re.compile(r"^epoch (\d+) step (\d+): loss (\S+)$")
EPOCH_RE = re.compile(r"^(epoch \d+: train loss \S+, test accuracy \S+),")


def write_idx(folder, prefix, n, seed):
    """n 28x28 u8 images and labels 0-9: each class brightens its own band of rows."""
    rng = random.Random(seed)
    labels = bytes(rng.randrange(10) for _ in range(n))
    pixels = bytearray()
    for label in labels:
        for r in range(28):
            for _ in range(28):
                pixels.append(rng.randrange(60) + (150 if r // 3 == label else 0))
    with open(os.path.join(folder, f"{prefix}-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + bytes(pixels))
    with open(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels)


def run(msl, example, data, ckpt, *flags):
    cmd = [msl, "run", example, "--data", data, "--epochs", "2", "--batch-size", "8", "--seed", "3",
           "--log-every", "1", "--checkpoint-dir", ckpt, *flags]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    steps = {}
    epochs = []
    for line in p.stdout.splitlines():
        m = STEP_RE.match(line)
        if m:
            key = (int(m.group(1)), int(m.group(2)))
            if key in steps:
                sys.exit(f"FAIL: {' '.join(cmd)} printed step {key} twice")
            steps[key] = m.group(3)
        m = EPOCH_RE.match(line)
        if m:
            epochs.append(m.group(1))
    return steps, epochs, p.stdout


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--msl", required=True)
    ap.add_argument("--example", default=os.path.join(os.path.dirname(__file__), "..", "..", "examples",
                                                      "fashion_mnist_mlp.msl"))
    a = ap.parse_args()
    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)

    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        os.mkdir(data)
        write_idx(data, "train", 50, 1)   # batches of 8: 7 steps an epoch, the last one of 2
        write_idx(data, "t10k", 20, 2)
        A, B, C = (os.path.join(tmp, n) for n in "ABC")

        steps_a, epochs_a, out_a = run(a.msl, a.example, data, A)
        order = sorted(steps_a)
        check(order == [(e, s) for e in (1, 2) for s in range(1, 8)], f"run A's steps: {order}")
        check(len(epochs_a) == 2, f"run A's epoch lines: {epochs_a}")
        check(len(set(steps_a.values())) > 1, "run A's losses are all equal")

        for name, folder, stop, first in (("B", B, 11, (2, 3)), ("C", C, 5, (1, 4))):
            s1, e1, out1 = run(a.msl, a.example, data, folder, "--checkpoint-every", "3", "--stop-after", str(stop))
            s2, e2, out2 = run(a.msl, a.example, data, folder, "--checkpoint-every", "3", "--resume")
            # The interrupted run printed the first `stop` steps, as A did.
            check(sorted(s1) == order[:stop], f"run {name}1's steps: {sorted(s1)}")
            check(all(s1[k] == steps_a[k] for k in s1), f"run {name}1's losses differ from run A's")
            # The resumed run starts after the last checkpoint and prints what A printed.
            check(f"at epoch {first[0]}, step {first[1] - 1}" in out2, f"run {name}2 did not resume at {first}:\n{out2}")
            check(sorted(s2) == order[order.index(first):], f"run {name}2's steps: {sorted(s2)}")
            for k in s2:
                check(s2[k] == steps_a.get(k), f"run {name}2, epoch {k[0]} step {k[1]}: loss {s2[k]}, "
                      f"uninterrupted {steps_a.get(k)}")
            # The epoch lines (running loss over the whole epoch, test accuracy) as well.
            check(e1 + e2 == epochs_a if name == "B" else e2 == epochs_a, f"run {name}'s epoch lines {e1} {e2}, "
                  f"uninterrupted {epochs_a}")
            # Parameters, optimizer state, keys and position at the end: the same bytes.
            check(read(os.path.join(folder, "last.safetensors")) == read(os.path.join(A, "last.safetensors")),
                  f"run {name}'s final checkpoint differs from run A's")
            # The metrics CSV has one row per epoch (the rows after the checkpoint were dropped).
            rows = [r.split(",")[:3] for r in read(os.path.join(folder, "metrics.csv")).decode().split("\n")[1:] if r]
            rows_a = [r.split(",")[:3] for r in read(os.path.join(A, "metrics.csv")).decode().split("\n")[1:] if r]
            check(rows == rows_a, f"run {name}'s metrics.csv rows {rows}, uninterrupted {rows_a}")

    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        return 1
    print("ok: resumed runs match the uninterrupted run bit for bit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
