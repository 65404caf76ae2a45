#!/usr/bin/env python3
"""Judge memcheck logs of the constant-time cases (scripts/ct-check.sh).

Usage: ct_judge.py EXPECTED_FILE LOG...   (each LOG named <variant>--<case>.log,
with a sibling <variant>--<case>.rc holding the case's exit status)

A finding is one memcheck report about secret-dependent data: a conditional
jump ("branch") or a memory address ("index"). Its place is the first stack
frame outside valgrind's own replacement functions, so an early-exit memcmp
called from mb_pair.c is reported at its caller in mb_pair.c.

EXPECTED_FILE lines:   allow|require  VARIANT  CASE  FUNCTION  FILE:LINE  | reason
(fnmatch patterns; '#' starts a comment). A run passes when the case itself
succeeded, every finding matches an allow or require line, and every require
line for that run matched at least one finding.
Prints one line per run and "constant-time: N passed, M failed"; exits 1 on
any failure.
"""
import fnmatch
import os
import re
import sys

REPORT = re.compile(r"==\d+== (Conditional jump or move depends on uninitialised|"
                    r"Use of uninitialised value of size|"
                    r"Syscall param .* contains uninitialised)")
FRAME = re.compile(r"==\d+==\s+(?:at|by) 0x[0-9A-Fa-f]+: (\S+) \((.*)\)")
INTERCEPTORS = ("vgpreload_", "vg_replace_")


def read_expected(path):
    rules = []
    for n, raw in enumerate(open(path, encoding="utf-8"), 1):
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        fields, _, reason = line.partition("|")
        parts = fields.split()
        if len(parts) != 5 or parts[0] not in ("allow", "require") or not reason.strip():
            sys.exit(f"{path}:{n}: want 'allow|require VARIANT CASE FUNCTION FILE:LINE | reason'")
        rules.append({"kind": parts[0], "variant": parts[1], "case": parts[2],
                      "function": parts[3], "where": parts[4], "reason": reason.strip(),
                      "line": n, "hits": 0})
    return rules


def findings(log_path):
    """(kind, function, file:line, via) of every report in a memcheck log."""
    out, current = [], None
    for line in open(log_path, encoding="utf-8", errors="replace"):
        m = REPORT.search(line)
        if m:
            kind = "branch" if m.group(1).startswith("Conditional") else "index"
            current = {"kind": kind, "frames": []}
            out.append(current)
            continue
        f = FRAME.search(line)
        if f and current is not None:
            current["frames"].append((f.group(1), f.group(2)))
    result = []
    for rep in out:
        frames = rep["frames"]
        via = ""
        place = frames[0] if frames else ("?", "?")
        for i, (fn, where) in enumerate(frames):
            if not where.startswith(INTERCEPTORS) and "/valgrind/" not in where:
                place = (fn, where)
                via = frames[0][0] if i > 0 else ""
                break
        fn, where = place
        where = os.path.basename(where.split(" ")[-1]) if ":" in where else where
        result.append((rep["kind"], fn, where, via))
    return result


def matches(rule, variant, case, fn, where):
    return (fnmatch.fnmatchcase(variant, rule["variant"]) and
            fnmatch.fnmatchcase(case, rule["case"]) and
            fnmatch.fnmatchcase(fn, rule["function"]) and
            fnmatch.fnmatchcase(where, rule["where"]))


def judge(rules, log):
    name = os.path.basename(log)[:-len(".log")]
    variant, case = name.split("--", 1)
    for r in rules:
        if fnmatch.fnmatchcase(variant, r["variant"]) and fnmatch.fnmatchcase(case, r["case"]):
            r["applies"] = True
    rc_path = log[:-len(".log")] + ".rc"
    rc = open(rc_path).read().strip() if os.path.exists(rc_path) else "?"
    problems, seen = [], set()
    required = [r for r in rules if r["kind"] == "require" and
                fnmatch.fnmatchcase(variant, r["variant"]) and fnmatch.fnmatchcase(case, r["case"])]
    met = set()
    counts = {"branch": 0, "index": 0}
    for kind, fn, where, via in findings(log):
        counts[kind] += 1
        rule = next((r for r in rules if matches(r, variant, case, fn, where)), None)
        if rule is None:
            key = (kind, fn, where, via)
            if key not in seen:
                seen.add(key)
                problems.append(f"unexpected {kind} on a secret in {fn} ({where})"
                                + (f" via {via}" if via else ""))
        else:
            rule["hits"] += 1
            if rule["kind"] == "require":
                met.add(rule["line"])
    for r in required:
        if r["line"] not in met:
            problems.append(f"required finding not reported: {r['function']} {r['where']} "
                            f"(expected-findings line {r['line']}: the method failed to see it)")
    if rc != "0":
        problems.append(f"case exited with status {rc}")
    status = "ok" if not problems else "FAIL"
    print(f"{status:4} {variant:6} {case:22} branches {counts['branch']:3}, "
          f"indexes {counts['index']:3} (all expected)" if not problems else
          f"{status:4} {variant:6} {case}")
    for p in problems:
        print(f"       {p}")
    return not problems


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rules = read_expected(sys.argv[1])
    results = [judge(rules, log) for log in sys.argv[2:]]
    unused = [r for r in rules if r["hits"] == 0 and r.get("applies")]
    for r in unused:
        print(f"note: expected-findings line {r['line']} matched nothing "
              f"({r['variant']} {r['case']} {r['function']} {r['where']})")
    passed = sum(results)
    print(f"constant-time: {passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
