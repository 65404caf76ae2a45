"""Run the C core's test programs on an emulated target; total the counts.

Usage: python3 run_target_tests.py --label LABEL --runner 'CMD {prog} {name}'
           [--jobs N] [--timeout S] [--crosscheck TOOL] PROGRAM...

Each PROGRAM is started through the runner command (QEMU system or user
mode): {prog} is replaced by the program's path, {name} by its base name.
Each prints "<name>: N passed, M failed" as on the host (Tests/CTests/mbt.h);
a program without that line, or one that exits non-zero, counts as failed.
With --crosscheck, Tests/CTests/crosscheck.py drives TOOL through the same
runner (the core on the target against Python's cryptography on the host).
The last line is "LABEL: N passed, M failed"; exit status 1 on a failure.
Programs run --jobs at a time; their output is printed in the given order.
The timeout is a hang guard only: the tests count checks, never time."""
import argparse
import concurrent.futures
import os
import re
import shlex
import subprocess
import sys
import tempfile

LINE = re.compile(r"^(\S+): (\d+) passed, (\d+) failed", re.M)
HERE = os.path.dirname(os.path.abspath(__file__))
CTESTS = os.path.join(HERE, "..", "CTests")


def command(runner, prog):
    name = os.path.basename(prog).split(".")[0]
    return [w.replace("{prog}", prog).replace("{name}", name) for w in shlex.split(runner)]


def run_one(cmd, timeout, cwd):
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                              errors="replace")
        out, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        out += f"\n{cmd[-1]}: no result within the {timeout} s hang guard\n"
        rc = 124
    counts = LINE.findall(out)
    if not counts:
        return out + f"{' '.join(cmd)}: no result line (exit {rc})\n", 0, 1
    passed, failed = int(counts[-1][1]), int(counts[-1][2])
    if rc != 0 and failed == 0:
        out += f"{' '.join(cmd)}: exit status {rc}\n"
        failed = 1
    return out, passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", required=True)
    ap.add_argument("--runner", required=True)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--crosscheck")
    ap.add_argument("programs", nargs="+")
    a = ap.parse_args()
    total_p = total_f = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        futures = [pool.submit(run_one, command(a.runner, p), a.timeout, CTESTS) for p in a.programs]
        for fut in futures:
            out, p, f = fut.result()
            sys.stdout.write(out)
            sys.stdout.flush()
            total_p += p
            total_f += f
    if a.crosscheck:
        # crosscheck.py starts the tool by path: a wrapper puts the runner in front.
        with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as w:
            w.write("#!/bin/sh\nexec " + " ".join(shlex.quote(c) for c in command(a.runner, a.crosscheck)) + "\n")
        os.chmod(w.name, 0o755)
        try:
            out, p, f = run_one([sys.executable, os.path.join(CTESTS, "crosscheck.py"), w.name],
                                a.timeout, CTESTS)
        finally:
            os.unlink(w.name)
        sys.stdout.write(out)
        total_p += p
        total_f += f
    print(f"{a.label}: {total_p} passed, {total_f} failed")
    return 1 if total_f else 0


if __name__ == "__main__":
    sys.exit(main())
