"""Run every C test program and the Python references; total the counts.

Usage: python3 run_ctests.py [--label LABEL] TEST_BINARY... -- CROSSCHECK_TOOL
Each program prints "<name>: N passed, M failed" (test functions; the
cross-check counts random cases). The last line of this
script's output is "C tests: N passed, M failed" (LABEL instead of "C tests"
when given, e.g. "sanitized C tests" so that a total counts the sanitized
run apart); exit status 1 on failure."""
import re
import subprocess
import sys

LINE = re.compile(r"^(\S+): (\d+) passed, (\d+) failed")


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    counts = [LINE.match(l) for l in proc.stdout.splitlines()]
    counts = [m for m in counts if m]
    if not counts:
        # A script that checks one thing reports by its exit status alone.
        if proc.returncode == 0:
            return 1, 0
        print(f"{cmd[-1]}: failed with no result line (exit {proc.returncode})", file=sys.stderr)
        return 0, 1
    passed, failed = int(counts[-1].group(2)), int(counts[-1].group(3))
    if proc.returncode != 0 and failed == 0:
        failed = 1
    return passed, failed


def main():
    args = sys.argv[1:]
    label = "C tests"
    if args[:1] == ["--label"]:
        label, args = args[1], args[2:]
    sep = args.index("--")
    tests, tool = args[:sep], args[sep + 1]
    total_passed = total_failed = 0
    for t in tests:
        p, f = run([t])
        total_passed += p
        total_failed += f
    # Independent Python references written from the specs: the randomized
    # cross-check, the protocol vectors and the key-package worked example.
    for script in (["crosscheck.py", tool], ["../Vectors/protocol_reference.py"],
                   ["keypkg_reference.py"]):
        p, f = run([sys.executable] + script)
        total_passed += p
        total_failed += f
    print(f"{label}: {total_passed} passed, {total_failed} failed")
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main())
