"""Total the test counts of scripts/test.sh's suites into one closing line.

Each suite's log is named with its label: plain suites (C tests, fuzzing,
the model check, ...) end with "LABEL: N passed, M failed". Swift Testing ends with
"Test run with N tests ... passed" or "... failed ... with K issues", and
lists each failing test as "Test NAME failed"; XCTest prints
"Executed N tests, with M failures". A suite without a result line counts
as one failure, so a build that broke cannot pass as "0 failed"; so does a
suite that reports "0 passed, 0 failed" (it ran nothing)."""
import re
import sys


def plain_counts(label):
    def read(text):
        m = re.findall(rf"^{label}: (\d+) passed, (\d+) failed", text, re.M)
        return (int(m[-1][0]), int(m[-1][1])) if m else None
    return read


def swift_counts(text):
    """Swift Testing's summary plus XCTest's, if it ran any test."""
    found = False
    passed = failed = 0
    runs = re.findall(r"Test run with (\d+) tests?\b.*? (passed|failed) after", text)
    if runs:
        found = True
        total, outcome = int(runs[-1][0]), runs[-1][1]
        failing = len(re.findall(r"^\S+ Test (?!run with).* failed after", text, re.M))
        if outcome == "failed":
            failing = max(failing, 1)
        passed, failed = total - failing, failing
    xctest = re.findall(r"Executed (\d+) tests?, with (\d+) failures?", text)
    if xctest:
        found = True
        x_total, x_failed = int(xctest[-1][0]), int(xctest[-1][1])
        passed += x_total - x_failed
        failed += x_failed
    return (passed, failed) if found else None


def main():
    """Arguments are LABEL=LOG pairs; LABEL "swift" reads the Swift summary,
    any other label the plain line "LABEL: N passed, M failed"."""
    total_p = total_f = 0
    for arg in sys.argv[1:]:
        label, _, path = arg.partition("=")
        reader = swift_counts if label == "swift" else plain_counts(re.escape(label))
        try:
            text = open(path, encoding="utf-8", errors="replace").read()
        except OSError:
            text = ""
        counts = reader(text)
        if counts is None:
            print(f"{label} ({path}): no test result found (counted as 1 failure)")
            counts = (0, 1)
        elif counts == (0, 0):
            print(f"{label} ({path}): ran no test (counted as 1 failure)")
            counts = (0, 1)
        total_p += counts[0]
        total_f += counts[1]
    print(f"{total_p} passed, {total_f} failed")
    return 1 if total_f else 0


if __name__ == "__main__":
    sys.exit(main())
