#!/usr/bin/env python3
"""Crash safety of save_checkpoint: a killed save never leaves a broken checkpoint.

    checkpoint_crash.py --msl PATH/TO/msl [--rounds N] [--seed S]

Each round starts `msl` saving a large checkpoint over and over (each save holding a
different step, every element of its tensor equal to that step), kills it with SIGKILL
after a random delay, and then checks that
  * the checkpoint is either absent (the first save never finished) or loads with
    load_checkpoint(like=...) (which validates the whole file) and is consistent: every
    element of its tensor equals its step;
  * at most one temporary file is left next to it.
The next round starts a new process saving over the same file, so kills land during the
write of the temporary file, its fsync and the rename alike. Python 3 standard library
only; exits 0 on success, 1 on a failure.
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

SAVER = """
# Saves {{"w": (N,) tensor filled with step, "step": step}} forever, printing each step saved.
n = {n}
step = int(argv[1])
while True:
    save_checkpoint(argv[2], {{"w": full((n,), float(step)), "step": step, "tag": "crash"}})
    print(step, flush=True)
    step = step + 1
"""

CHECKER = """
# Loads the checkpoint (every check of the format) and verifies it is consistent.
n = {n}
c = load_checkpoint(argv[1], like={{"w": zeros((n,)), "step": 0, "tag": ""}})
ok = bool(all(c["w"] == float(c["step"]))) and c["tag"] == "crash"
print("consistent" if ok else "INCONSISTENT", c["step"])
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--msl", required=True)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--elements", type=int, default=4_000_000)  # 16 MB of f32 per save
    args = ap.parse_args()
    args.msl = os.path.abspath(args.msl)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"seed {seed}")

    work = tempfile.mkdtemp(prefix="msl-ckpt-crash-")
    ckdir = os.path.join(work, "ck")
    os.mkdir(ckdir)
    ckpt = os.path.join(ckdir, "model.safetensors")
    saver = os.path.join(work, "saver.msl")
    checker = os.path.join(work, "checker.msl")
    with open(saver, "w") as f:
        f.write(SAVER.format(n=args.elements))
    with open(checker, "w") as f:
        f.write(CHECKER.format(n=args.elements))

    failures = []
    saves_seen = 0
    step = 0
    for rnd in range(args.rounds):
        p = subprocess.Popen([args.msl, "run", saver, str(step), ckpt], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        # Let it save a few times, then kill it at a random moment (usually mid-save).
        delay = rng.uniform(0.2, 1.5)
        time.sleep(delay)
        if p.poll() is not None:
            failures.append(f"round {rnd}: the saver exited early ({p.returncode}): {p.stderr.read()}")
            break
        p.send_signal(signal.SIGKILL)
        out, _ = p.communicate()
        done = [int(x) for x in out.split()]
        saves_seen += len(done)
        step += 1000  # the next round's steps differ from this one's

        names = sorted(os.listdir(ckdir))
        others = [x for x in names if x != "model.safetensors"]
        if len(others) > 1:
            failures.append(f"round {rnd}: more than one temporary file: {names}")
        if "model.safetensors" not in names:
            if done:
                failures.append(f"round {rnd}: {len(done)} saves reported but no checkpoint")
            print(f"round {rnd}: killed after {delay:.2f} s, no checkpoint yet")
            continue
        r = subprocess.run([args.msl, "run", checker, ckpt], capture_output=True, text=True, timeout=300)
        line = r.stdout.strip()
        if r.returncode != 0 or not line.startswith("consistent"):
            failures.append(f"round {rnd}: the checkpoint does not load or is inconsistent: {line} {r.stderr.strip()}")
        else:
            got = int(line.split()[1])
            # The checkpoint holds the last completed save or (killed after the rename but
            # before the print) the one after it.
            if done and got not in (done[-1], done[-1] + 1):
                failures.append(f"round {rnd}: checkpoint holds step {got}, the last save reported was {done[-1]}")
        print(f"round {rnd}: killed after {delay:.2f} s, {len(done)} saves, files {names}: {line}")

    for f in failures:
        print("FAIL:", f)
    if not failures:
        subprocess.run(["rm", "-rf", work])
    else:
        print("files in", work)
    print(f"{saves_seen} saves in {args.rounds} rounds")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
