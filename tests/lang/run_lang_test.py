#!/usr/bin/env python3
"""Runs ONE .msl program of the language test suite and checks the expectations written
in its comments. Python 3 standard library only. The format is documented in README.md
next to this file; in short:

    print(x)        # expect: 42                  next line of stdout (in order, exact)
    y = x + "a"     # expect error: unsupported operand types for +: 'int' and 'str'
                    #   exit 1; stderr's first line is NAME.msl:L:C: error: MESSAGE,
                    #   L = this line
    y = 2 ** 63     # expect error matching: integer overflow in .+   (MESSAGE: a regex)
    # expect error line: REGEX       exit 1; the whole first stderr line matches REGEX
    # expect col: 7                  C of the expected error (else C is not checked)
    # expect stderr:     ^           a line of stderr (these lines in order, exact)
    # expect exit: 3                 exit status (default 0, or 1 with an error)
    # args: a "b c"                  argv after the file name (shell-like quoting)
    # flags: --debug-nans            options of `msl run`, before the file name
    # env: MSL_PATH={dir}/_modules   environment ({dir}: this folder, {tmp}: scratch)
    # generate: NAME COUNT TEXT      write TEXT (escapes decoded) COUNT times to {tmp}/NAME
    # file: {tmp}/NAME               run `msl run` on this path instead of the test
    # timeout: S                     seconds (default 60)
    # eager-only: REASON             skipped when --mode is not eager
    # not-built: REASON              skipped (reported as skipped): the feature is not built
    #                                yet; REASON names the issue that builds it

Usage: run_lang_test.py --msl PATH_TO_MSL [--mode eager|graph] [--run-flag FLAG]... [--aot] [--timeout S] FILE.msl
(--run-flag: an option of `msl run` for every program, e.g. --via-serialized;
 --aot: `msl build --mode=MODE` the program into an executable (docs/aot.md) and run that
 instead, with the same expectations; an error of the build itself, e.g. a syntax error,
 is checked as msl run's would be; `# flags: --debug-nans` goes to msl build, programs
 with other flags are skipped)
Exit status: 0 pass, 1 fail, 2 malformed test or bad usage, 77 skipped (not eager, or not built yet).
"""
import argparse
import codecs
import difflib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

SKIP = 77

# `# expect...` directives may follow code; the first one on a line wins and everything
# after its colon (minus ONE space) is its text.
EXPECT_RE = re.compile(r"#\s*expect\b(?P<kind>[^:]*):(?P<text>.*)$")
# The other directives stand alone on their line.
OTHER_RE = re.compile(r"^\s*#\s*(?P<kind>args|flags|env|eager-only|not-built|file|generate|timeout):(?P<text>.*)$")
# What msl must never show (LANGUAGE.md 8): internal errors, C++ exception texts, sanitizer
# reports.
INTERNAL_RE = re.compile(r"^internal error|terminate called after throwing|^\s*what\(\):|"
                         r"AddressSanitizer|runtime error: |LeakSanitizer", re.M)
ERROR_LINE_RE = re.compile(r"^(?P<file>.*?):(?P<line>\d+):(?P<col>\d+): error: (?P<msg>.*)$")


class TestFileError(Exception):
    """The .msl file's expectations are malformed (a bug in the test, not in msl)."""


class Spec:
    def __init__(self):
        self.stdout = []            # expected stdout lines
        self.error = None           # (line, message)
        self.error_regex = None     # (line, regex): the message matches regex
        self.error_line = None      # regex: the whole first stderr line matches it
        self.col = None
        self.stderr = []            # (line, text): lines expected in stderr, in order
        self.exit = None
        self.args = []
        self.flags = []             # msl options before the file name
        self.env = []               # (name, value)
        self.eager_only = None
        self.not_built = None
        self.file = None            # run this path instead of the test itself
        self.generate = []          # (name, repeat, text)
        self.timeout = None


def strip_one_space(text):
    return text[1:] if text.startswith(" ") else text


def parse(path):
    with open(path, "rb") as f:
        data = f.read()
    spec = Spec()
    lines = data.split(b"\n")
    for lineno, raw in enumerate(lines, start=1):
        # Tests of invalid UTF-8 or NUL bytes hold such bytes: decode leniently.
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        m = OTHER_RE.match(line)
        if m:
            kind, text = m.group("kind"), strip_one_space(m.group("text"))
            if kind == "args":
                spec.args += shlex.split(text)
            elif kind == "flags":
                spec.flags += shlex.split(text)
            elif kind == "env":
                name, eq, value = text.partition("=")
                if not eq or not name.strip():
                    raise TestFileError(f"line {lineno}: '# env:' needs NAME=VALUE")
                spec.env.append((name.strip(), value))
            elif kind == "eager-only":
                spec.eager_only = text.strip() or "(no reason given)"
            elif kind == "not-built":
                spec.not_built = text.strip() or "(no reason given)"
            elif kind == "file":
                spec.file = text.strip()
            elif kind == "timeout":
                try:
                    spec.timeout = float(text)
                except ValueError:
                    raise TestFileError(f"line {lineno}: '# timeout:' needs seconds")
            elif kind == "generate":
                parts = text.split(" ", 2)
                if len(parts) < 2 or not parts[1].isdigit():
                    raise TestFileError(f"line {lineno}: '# generate:' needs NAME COUNT TEXT")
                body = parts[2] if len(parts) > 2 else ""
                body = codecs.decode(body.encode("utf-8"), "unicode_escape").encode("latin-1")
                spec.generate.append((parts[0], int(parts[1]), body))
            continue
        m = EXPECT_RE.search(line)
        if not m:
            continue
        kind = m.group("kind").strip()
        text = strip_one_space(m.group("text"))
        if kind == "":
            spec.stdout.append(text)
        elif kind in ("error", "error matching", "error line"):
            if spec.error or spec.error_regex or spec.error_line:
                raise TestFileError(f"line {lineno}: a program expects at most one error")
            if not text.strip():
                raise TestFileError(f"line {lineno}: '# expect {kind}:' needs a message")
            if kind == "error":
                spec.error = (lineno, text.rstrip())
            else:
                try:
                    rx = re.compile(text.rstrip())
                except re.error as e:
                    raise TestFileError(f"line {lineno}: bad regular expression: {e}")
                if kind == "error matching":
                    spec.error_regex = (lineno, rx)
                else:
                    spec.error_line = rx
        elif kind == "col":
            if not text.strip().isdigit():
                raise TestFileError(f"line {lineno}: '# expect col:' needs a number")
            spec.col = int(text)
        elif kind == "stderr":
            spec.stderr.append((lineno, text))
        elif kind == "exit":
            try:
                spec.exit = int(text)
            except ValueError:
                raise TestFileError(f"line {lineno}: '# expect exit:' needs a number")
        else:
            raise TestFileError(f"line {lineno}: unknown directive '# expect {kind}:'")
    expects_error = bool(spec.error or spec.error_regex or spec.error_line)
    if spec.col is not None and not (spec.error or spec.error_regex):
        raise TestFileError("'# expect col:' without '# expect error:' or '# expect error matching:'")
    if spec.exit is None:
        spec.exit = 1 if expects_error else 0
    elif expects_error and spec.exit != 1:
        raise TestFileError("an expected error implies '# expect exit: 1'")
    return spec


def expand(text, folder, tmp):
    return text.replace("{dir}", folder).replace("{tmp}", tmp)


def show_lines(title, lines):
    out = [title]
    if not lines:
        out.append("    (empty)")
    out += ["    | " + l for l in lines]
    return out


def split_output(text):
    """Lines of a process output; a last line without newline is marked."""
    if text == "":
        return [], True
    lines = text.split("\n")
    if lines[-1] == "":
        return lines[:-1], True
    return lines, False


def run(args):
    test = os.path.abspath(args.file)
    folder, name = os.path.dirname(test), os.path.basename(test)
    try:
        spec = parse(test)
    except (TestFileError, OSError) as e:
        print(f"TEST FILE ERROR {args.file}: {e}")
        return 2
    if spec.not_built:
        print(f"SKIP {args.file}: not built yet: {spec.not_built}")
        return SKIP
    if args.mode != "eager" and spec.eager_only:
        print(f"SKIP {args.file}: eager-only: {spec.eager_only}")
        return SKIP

    tmp = tempfile.mkdtemp(prefix="msl-lang-")
    try:
        for gname, repeat, body in spec.generate:
            per = max(1, (1 << 20) // max(1, len(body)))  # write in chunks of ~1 MiB
            with open(os.path.join(tmp, gname), "ab") as f:
                left = repeat
                while left > 0:
                    n = min(per, left)
                    f.write(body * n)
                    left -= n
        target = expand(spec.file, folder, tmp) if spec.file else name
        # The program runs in its own folder: a relative --msl path is made absolute first.
        msl = os.path.abspath(args.msl) if os.sep in args.msl else (shutil.which(args.msl) or args.msl)
        cmd = [msl, "run"]
        if args.mode != "eager":
            cmd.append(f"--mode={args.mode}")
        cmd += args.run_flag + spec.flags + [target] + [expand(a, folder, tmp) for a in spec.args]
        if args.aot:
            unsupported = [f for f in spec.flags if f != "--debug-nans"]  # what msl build takes
            if unsupported:
                print(f"SKIP {args.file}: --aot: executables take no msl option {' '.join(unsupported)}")
                return SKIP
            exe = os.path.join(tmp, "prog")
            build = [msl, "build", "-q", f"--mode={args.mode}", *spec.flags, target, "-o", exe]
            benv = dict(os.environ)
            benv.pop("MSL_PATH", None)
            for k, v in spec.env:
                if k == "MSL_PATH":
                    benv[k] = expand(v, folder, tmp)
            b = subprocess.run(build, cwd=folder, env=benv, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
            if b.returncode != 0:
                shown = f"cd {shlex.quote(folder)} && " + " ".join(shlex.quote(c) for c in build)
                return check(args.file, name, spec, shown, b.returncode, False, 600,
                             b.stdout.decode("utf-8", errors="backslashreplace"),
                             b.stderr.decode("utf-8", errors="backslashreplace"))
            cmd = [exe] + [expand(a, folder, tmp) for a in spec.args]
        env = dict(os.environ)
        env.pop("MSL_PATH", None)  # hermetic: only what the test asks for
        for k, v in spec.env:
            env[k] = expand(v, folder, tmp)
        env_shown = " ".join(f"{k}={shlex.quote(expand(v, folder, tmp))}" for k, v in spec.env)
        shown = f"cd {shlex.quote(folder)} && {env_shown + ' ' if env_shown else ''}" + \
            " ".join(shlex.quote(c) for c in cmd)
        timeout = spec.timeout or args.timeout
        try:
            proc = subprocess.Popen(cmd, cwd=folder, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)
        except OSError as e:
            print(f"FAIL {args.file}\ncommand: {shown}\ncannot start msl: {e}")
            return 1
        timed_out = False
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            out, err = proc.communicate()
        return check(args.file, name, spec, shown, proc.returncode, timed_out, timeout,
                     out.decode("utf-8", errors="backslashreplace"),
                     err.decode("utf-8", errors="backslashreplace"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def expected_first(spec, name):
    """The expected first line of stderr, for messages."""
    col = spec.col if spec.col is not None else "C"
    if spec.error:
        return f"{name}:{spec.error[0]}:{col}: error: {spec.error[1]}"
    if spec.error_regex:
        return f"{name}:{spec.error_regex[0]}:{col}: error: (matching) {spec.error_regex[1].pattern}"
    return f"(matching) {spec.error_line.pattern}"


def check(display, name, spec, shown, rc, timed_out, timeout, out, err):
    problems = []
    if timed_out:
        problems.append(f"timed out after {timeout:g} s")
    elif rc < 0:
        try:
            sig = signal.Signals(-rc).name
        except ValueError:
            sig = str(-rc)
        problems.append(f"msl was killed by signal {sig} (a crash: never acceptable)")
    elif rc != spec.exit:
        hint = " (2 means an internal error of msl)" if rc == 2 else ""
        problems.append(f"exit status: expected {spec.exit}, got {rc}{hint}")
    if INTERNAL_RE.search(err):
        problems.append("stderr shows an internal error or a C++ exception text "
                        "(never acceptable, LANGUAGE.md 8)")

    out_lines, out_nl = split_output(out)  # a last line may lack its newline
    if out_lines != spec.stdout:
        problems.append("stdout differs" + ("" if out_nl else " (its last line has no newline)"))
    err_lines, _ = split_output(err)

    first = err_lines[0] if err_lines else ""
    if spec.error or spec.error_regex:
        line, msg = spec.error or spec.error_regex
        m = ERROR_LINE_RE.match(first)
        ok = bool(m) and m.group("file") == name and int(m.group("line")) == line and \
            (spec.col is None or int(m.group("col")) == spec.col)
        if ok and spec.error:
            ok = m.group("msg") == msg
        elif ok:
            ok = bool(msg.fullmatch(m.group("msg")))
        if not ok:
            problems.append(f"first stderr line: expected\n    {expected_first(spec, name)}\n"
                            f"  got\n    {first}")
    elif spec.error_line:
        if not spec.error_line.fullmatch(first):
            problems.append(f"first stderr line: expected\n    {expected_first(spec, name)}\n"
                            f"  got\n    {first}")

    if spec.stderr:
        i = 0
        missing = []
        for lineno, text in spec.stderr:
            j = i
            while j < len(err_lines) and err_lines[j] != text:
                j += 1
            if j == len(err_lines):
                missing.append((lineno, text))
            else:
                i = j + 1
        for lineno, text in missing:
            problems.append(f"stderr lacks (in order) the line expected at line {lineno}:\n"
                            f"    |{text}|")
    elif not (spec.error or spec.error_regex or spec.error_line) and err and not problems:
        problems.append("unexpected output on stderr")

    if not problems:
        return 0
    report = [f"FAIL {display}", f"command: {shown}"]
    for p in problems:
        report.append("* " + p)
    if out_lines != spec.stdout:
        diff = list(difflib.unified_diff(spec.stdout, out_lines, "expected stdout",
                                         "actual stdout", lineterm="", n=3))
        report.append("stdout diff:")
        report += ["    " + d for d in diff]
        report += show_lines("expected stdout:", spec.stdout)
    report += show_lines("actual stdout:", out_lines[:200])
    exp_err = [expected_first(spec, name)] if (spec.error or spec.error_regex or
                                               spec.error_line) else []
    exp_err += [t for _, t in spec.stderr]
    report += show_lines("expected stderr (first line, then lines in order):", exp_err)
    if len(err_lines) > 60:  # e.g. the traceback of a runaway recursion
        err_lines = err_lines[:40] + [f"... ({len(err_lines) - 50} more lines) ..."] + err_lines[-10:]
    report += show_lines("actual stderr:", err_lines)
    print("\n".join(report))
    return 1


def main():
    ap = argparse.ArgumentParser(description="Run one msl language test program.")
    ap.add_argument("--msl", required=True, help="path to the msl binary")
    ap.add_argument("--mode", default="eager", help="execution mode (eager or graph)")
    ap.add_argument("--run-flag", action="append", default=[],
                    help="an option of `msl run` given to every program (repeatable)")
    ap.add_argument("--aot", action="store_true",
                    help="build the program with `msl build` and run the executable")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    ap.add_argument("file", help="the .msl test program")
    args = ap.parse_args()
    sys.exit(run(args))


if __name__ == "__main__":
    main()
