#!/usr/bin/env python3
"""Runs a program with `msl run` and as an executable made by `msl build` (docs/aot.md),
or with --graph by `msl run --mode=graph`, and checks that both print the same stdout and
stderr and end with the same exit status. Python 3 standard library only.

Usage: compare_run.py --msl MSL [--graph | --build-flag F... [--fused]] [--mnist] [--times]
                      PROGRAM [ARGS...]
  --graph       the second run is graph mode (`msl run --mode=graph`), not an executable
  --build-flag  a flag for `msl build` (e.g. --profile-args=...)
  --mnist       first write a small Fashion-MNIST-like data set (IDX files, 96 training
                and 40 test images; tests/examples/resume_midepoch.py's generator) into a
                scratch folder; {mnist} in ARGS and build flags is that folder
  --fused       (a build with a profile) the executable runs with MSL_AOT_REPORT=1; its
                report, taken off its stderr before comparing, must say that fused
                kernels from the table ran, no chain was left unfused and no graph
                was interpreted
  --times       before comparing, replace durations and rates ("12.3 s", "4.5it/s",
                "1,234 samples/s", "00:01") by placeholders: they differ between any
                two runs
The executable is built in a scratch folder and both run from the program's folder.
Exit status: 0 same, 1 different, 2 bad usage or the build failed.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))

TIME_RES = [
    (re.compile(r"\d[\d,]*(\.\d+)?(?= ?(s|ms|it/s|samples/s)\b)"), "<N>"),
    (re.compile(r"\b\d\d:\d\d\b"), "<T>"),
]


def normalise(text, times):
    if not times:
        return text
    for rx, sub in TIME_RES:
        text = rx.sub(sub, text)
    return text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--msl", required=True)
    ap.add_argument("--build-flag", action="append", default=[])
    ap.add_argument("--mnist", action="store_true")
    ap.add_argument("--times", action="store_true")
    ap.add_argument("--fused", action="store_true")
    ap.add_argument("--graph", action="store_true")
    ap.add_argument("program")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="msl-aot-")
    try:
        args = list(a.args)
        if a.mnist:
            from resume_midepoch import write_idx
            data = os.path.join(tmp, "data")
            os.makedirs(data)
            write_idx(data, "train", 96, 1)
            write_idx(data, "t10k", 40, 2)
            args = [x.replace("{mnist}", data) for x in args]
            a.build_flag = [x.replace("{mnist}", data) for x in a.build_flag]
        prog = os.path.abspath(a.program)
        folder = os.path.dirname(prog)
        msl = os.path.abspath(a.msl)
        if a.graph:
            second, name = [msl, "run", "--mode=graph", prog], "graph mode"
        else:
            exe = os.path.join(tmp, "prog")
            b = subprocess.run([msl, "build", "-q", *a.build_flag, prog, "-o", exe], cwd=folder,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if b.returncode != 0:
                print(f"msl build failed ({b.returncode}):\n{b.stderr.decode(errors='replace')}")
                return 2
            second, name = [exe], "executable"
        r = subprocess.run([msl, "run", prog, *args], cwd=folder, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
        env = dict(os.environ, MSL_AOT_REPORT="1") if a.fused else None
        x = subprocess.run([*second, *args], cwd=folder, stdin=subprocess.DEVNULL, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
        ok = True
        if a.fused:
            err = x.stderr.decode(errors="replace")
            at = err.rfind("msl: ", 0, err.find(" graphs ran code compiled ahead of time"))
            report = err[at:] if at >= 0 else ""
            x.stderr = err[:at].encode() if at >= 0 else x.stderr
            used = re.search(r"msl: (\d+) fused kernels from the table \(\d+ compiled\), 0 chains left unfused \(no kernel in the table\)\n", report)
            if " 0 ran in the interpreter\n" not in report or not used or used.group(1) == "0":
                ok = False
                print(f"the executable's report is not one of fused kernels only:\n{report}")
            else:
                print(report, end="")
        for what, p, q in (("stdout", r.stdout, x.stdout), ("stderr", r.stderr, x.stderr)):
            p = normalise(p.decode(errors="replace"), a.times)
            q = normalise(q.decode(errors="replace"), a.times)
            if p != q:
                ok = False
                print(f"{what} differs:\n--- msl run\n{p}\n--- {name}\n{q}")
        if r.returncode != x.returncode:
            ok = False
            print(f"exit status: msl run {r.returncode}, {name} {x.returncode}")
        if ok:
            lines = r.stdout.decode(errors="replace").count("\n")
            print(f"same output ({lines} lines of stdout) and exit status {r.returncode}")
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
