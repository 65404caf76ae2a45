#!/usr/bin/env python3
"""Benchmarks/report.py - turn a benchmark run into report.md, results.json
and one latency histogram (SVG) per case.

    python3 Benchmarks/report.py --tmp DIR/tmp --out DIR

Inputs in --tmp (written by Benchmarks/run.sh): c.json, swift.json (optional),
samples/*.u32 (raw nanoseconds, little-endian uint32, one per timed
operation), cg/*.out (callgrind), alloc/*.log (memcheck), m4-*.txt,
machine.json. Standard library only. docs/BENCHMARKS.md explains every
figure and formula used here.
"""
import argparse
import array
import glob
import json
import math
import os
import re
import sys

# ---------------------------------------------------------------------------
# CAN frame time (docs/BENCHMARKS.md, "Frame time"; /shared can-timing.md)

CLASSIC_RATES = [125_000, 250_000, 500_000, 1_000_000]
FD_RATES = [(500_000, 2_000_000), (500_000, 5_000_000), (500_000, 8_000_000)]
FD_LENGTHS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64]
OVERHEAD = 28            # IV 12 + tag 16
CLASSIC_CHUNK, FD_CHUNK = 8, 64


def classic_bits(s, stuffing=True):
    """Classic CAN 2.0B, 29-bit id, s data bytes, with the 3-bit IFS.
    Worst case (Davis et al. 2007): g + 8s + 13 + floor((g + 8s - 1) / 4), g = 54."""
    g = 54
    return g + 8 * s + 13 + ((g + 8 * s - 1) // 4 if stuffing else 0)


def fd_len(n):
    for legal in FD_LENGTHS:
        if legal >= n:
            return legal
    raise ValueError(n)


def fd_bits(s, stuffing=True):
    """CAN FD, 29-bit id, BRS, s = a legal FD data length.
    Returns (bits at the nominal rate, bits at the data rate)."""
    nominal = 36 + 13 + (8 if stuffing else 0)
    d = 1 + 4 + 8 * s                                  # ESI + DLC + data
    crc = (4 + 17 + 6) if s <= 16 else (4 + 21 + 7)    # stuff count + CRC + fixed stuff bits
    dyn = -(-d // 4) if stuffing else 0                # dynamic stuff bits, worst case
    return nominal, d + crc + dyn


def fd_time_s(s, nominal_rate, data_rate, stuffing=True):
    n, d = fd_bits(s, stuffing)
    return n / nominal_rate + d / data_rate


def frame_lengths(profile, wire):
    """Data lengths of the frames that carry a wire message of `wire` bytes."""
    chunk = CLASSIC_CHUNK if profile == "classic" else FD_CHUNK
    n = max(1, -(-wire // chunk))
    lens = [chunk] * (n - 1) + [wire - chunk * (n - 1)]
    if profile == "fd":
        lens[-1] = fd_len(lens[-1])
    return lens


def bus_time_s(profile, lens, rate, stuffing=True):
    if profile == "classic":
        return sum(classic_bits(s, stuffing) for s in lens) / rate
    nominal, data = rate
    return sum(fd_time_s(s, nominal, data, stuffing) for s in lens)


def rate_name(rate):
    if isinstance(rate, tuple):
        return f"{rate[0] // 1000}k/{rate[1] // 1_000_000}M"
    return f"{rate // 1000}k" if rate < 1_000_000 else f"{rate // 1_000_000}M"


# ---------------------------------------------------------------------------
# samples and statistics

def load_samples(tmp, rel):
    a = array.array("I")
    path = os.path.join(tmp, rel)
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if sys.byteorder != "little":
        a.byteswap()
    return a


def pct(sorted_v, q):
    """Nearest-rank percentile of a sorted sequence."""
    if not sorted_v:
        return float("nan")
    k = max(0, min(len(sorted_v) - 1, math.ceil(q / 100.0 * len(sorted_v)) - 1))
    return float(sorted_v[k])


def stats(samples):
    s = sorted(samples)
    return {"n": len(s), "min": float(s[0]), "p50": pct(s, 50), "p90": pct(s, 90), "p99": pct(s, 99),
            "p99_9": pct(s, 99.9), "max": float(s[-1]), "mean": sum(s) / len(s)}


# ---------------------------------------------------------------------------
# SVG histogram (log-spaced buckets; seal and open overlaid)

def short(v):
    if v >= 1_000_000:
        return f"{v / 1e6:.3g} ms"
    if v >= 10_000:
        return f"{v / 1000:.3g} µs"
    return f"{v:.0f} ns"


def tick_label(v):
    if v >= 1_000_000:
        return f"{v / 1e6:g} ms"
    if v >= 1000:
        return f"{v / 1000:g} µs"
    return f"{v:g} ns"


def svg_histogram(title, series, path, note=""):
    """series: list of (label, colour, samples, stats)."""
    W, H, L, R, T, B = 760, 400, 70, 20, 60 + 16 * len(series), 60
    allv = [v for _, _, s, _ in series for v in s if v > 0]
    lo = max(1.0, min(allv))
    # The axis ends a little past the largest p99.9; slower samples are
    # counted in the last bucket and named in the legend (max).
    hi = min(max(allv), 1.5 * max(st["p99_9"] for _, _, _, st in series))
    hi = max(hi, lo * 1.5)
    lo_e = math.floor(math.log10(lo) * 10) / 10
    hi_e = math.ceil(math.log10(hi) * 10) / 10 + 0.05
    per_decade = 40
    nb = max(1, int(math.ceil((hi_e - lo_e) * per_decade)))

    def bucket(v):
        return min(nb - 1, max(0, int((math.log10(max(v, 1)) - lo_e) * per_decade)))

    hists = []
    for _, _, s, _ in series:
        h = [0] * nb
        for v in s:
            h[bucket(v)] += 1
        hists.append([c / len(s) for c in h])
    # Log y axis: the tail (p99.9 and beyond) stays visible next to the bulk.
    nmax = max(len(s) for _, _, s, _ in series)
    ymin_e = math.floor(math.log10(1.0 / nmax))
    ymax_e = 0.0

    def x(e):
        return L + (e - lo_e) / (hi_e - lo_e) * (W - L - R)

    def y(f):
        if f <= 0:
            return H - B
        return H - B - (math.log10(f) - ymin_e) / (ymax_e - ymin_e) * (H - T - B)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'viewBox="0 0 {W} {H}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{L}" y="20" font-size="15" font-weight="bold">{title}</text>',
           f'<text x="{L}" y="38" fill="#555">{note}</text>']
    # axes and decade grid
    out.append(f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>')
    out.append(f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>')
    ticks = []
    for mults in ((1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9),
                  tuple(m / 10 for m in range(10, 100, 2))):
        ticks = [e + math.log10(m) for e in range(math.floor(lo_e) - 1, math.ceil(hi_e) + 1)
                 for m in mults if lo_e <= e + math.log10(m) <= hi_e]
        if len(ticks) >= 3:
            break
    for ev in ticks:
        xv = x(ev)
        v = 10 ** ev
        label = tick_label(round(v, 6))
        out.append(f'<line x1="{xv:.1f}" y1="{T}" x2="{xv:.1f}" y2="{H - B}" stroke="#ddd"/>')
        out.append(f'<text x="{xv:.1f}" y="{H - B + 16}" text-anchor="middle">{label}</text>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">latency per operation '
               f'(log scale, {per_decade} buckets per decade)</text>')
    for e in range(ymin_e, 1):
        f = 10.0 ** e
        out.append(f'<line x1="{L}" y1="{y(f):.1f}" x2="{W - R}" y2="{y(f):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{L - 6}" y="{y(f) + 4:.1f}" text-anchor="end">{100 * f:g}%</text>')
    out.append(f'<text x="16" y="{(T + H - B) / 2}" transform="rotate(-90 16 {(T + H - B) / 2})" '
               f'text-anchor="middle">share of operations (log)</text>')
    # bars as step outlines with a light fill
    for (label, colour, _, st), h in zip(series, hists):
        pts = [f"{x(lo_e):.1f},{y(0):.1f}"]
        for i, f in enumerate(h):
            x0, x1 = x(lo_e + i / per_decade), x(lo_e + (i + 1) / per_decade)
            pts.append(f"{x0:.1f},{y(f):.1f}")
            pts.append(f"{x1:.1f},{y(f):.1f}")
        pts.append(f"{x(hi_e):.1f},{y(0):.1f}")
        out.append(f'<polygon points="{" ".join(pts)}" fill="{colour}" fill-opacity="0.25" '
                   f'stroke="{colour}" stroke-width="1.2"/>')
    # percentile markers
    legend_y = 46
    for label, colour, _, st in series:
        for q, dash in (("p50", ""), ("p99", "4,3"), ("p99_9", "1,3")):
            xv = x(math.log10(max(st[q], 1)))
            out.append(f'<line x1="{xv:.1f}" y1="{T}" x2="{xv:.1f}" y2="{H - B}" stroke="{colour}" '
                       f'stroke-width="1.5" stroke-dasharray="{dash}"/>')
        out.append(f'<rect x="{L}" y="{legend_y}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{L + 18}" y="{legend_y + 10}">{label}: p50 {short(st["p50"])}, '
                   f'p99 {short(st["p99"])}, p99.9 {short(st["p99_9"])}, max {short(st["max"])}</text>')
        legend_y += 16
    out.append(f'<text x="{W - R}" y="{46 + 10}" text-anchor="end" fill="#555">lines: p50 solid, '
               f'p99 dashed, p99.9 dotted</text>')
    out.append(f'<text x="{W - R}" y="{46 + 26}" text-anchor="end" fill="#555">slower samples: '
               f'in the last bucket</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


# ---------------------------------------------------------------------------
# callgrind, memcheck, Cortex-M4 sizes

def callgrind_ir(tmp):
    """{(case, op, mode): instructions per operation}"""
    res = {}
    for out in glob.glob(os.path.join(tmp, "cg", "*.out")):
        base = os.path.basename(out)[:-4]
        case, op, mode = base.rsplit(".", 2)
        n = int(open(out[:-4] + ".n").read().strip())
        total = None
        with open(out) as f:
            for line in f:
                if line.startswith("summary:") or line.startswith("totals:"):
                    total = int(line.split()[1])
        if total is not None and n > 0:
            res[(case, op, mode)] = total / n
    return res


def callgrind_profile(tmp, case, op, mode):
    """Top inclusive functions of one callgrind run, per operation."""
    path = os.path.join(tmp, "cg", f"{case}.{op}.{mode}.annotate")
    npath = os.path.join(tmp, "cg", f"{case}.{op}.{mode}.n")
    if not os.path.exists(path):
        return []
    n = int(open(npath).read().strip())
    rows = []
    seen = set()
    for line in open(path):
        m = re.match(r"\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(.*)$", line)
        if not m:
            continue
        ir = int(m.group(1).replace(",", ""))
        fn = m.group(3).strip()
        fn = re.sub(r"\s*\[[^\[\]]*\]$", "", fn)
        m2 = re.match(r"^(\?\?\?|[^\s:]*/[^\s:]*):(.*)$", fn)
        if m2:
            fn = m2.group(2)
        if len(fn) > 90:
            fn = fn[:87] + "..."
        share = float(m.group(2))
        if share >= 99.9 or fn in seen or "Benchmarks/c/" in line or "Bench.seal" in fn \
                or "Bench.open" in fn or fn.startswith(("main", "__libc_start", "(below main)")):
            continue                      # main, libc start-up, the benchmark's own wrappers
        seen.add(fn)
        rows.append((fn, ir / n, share))
    return rows


def alloc_per_op(tmp, prefix, case):
    path_n = os.path.join(tmp, "alloc", "n")
    if not os.path.exists(path_n):
        return None
    n = int(open(path_n).read().strip())
    counts = {}
    for k in (n, 2 * n):
        p = os.path.join(tmp, "alloc", f"{prefix}.{case}.{k}.log")
        if not os.path.exists(p):
            return None
        m = re.search(r"total heap usage: ([\d,]+) allocs", open(p).read())
        if not m:
            return None
        counts[k] = int(m.group(1).replace(",", ""))
    return (counts[2 * n] - counts[n]) / n


def m4_sizeof(path):
    res = {}
    if not os.path.exists(path):
        return res
    for line in open(path):
        parts = line.split()
        if len(parts) == 4 and parts[3].startswith("sizeof_"):
            res[parts[3][len("sizeof_"):]] = int(parts[1], 16)
    return res


def m4_code(path):
    rows = []
    if not os.path.exists(path):
        return rows
    for line in open(path):
        parts = line.split()
        if len(parts) >= 6 and parts[0].isdigit() and not parts[5].startswith("("):
            rows.append((os.path.basename(parts[5]), int(parts[0]), int(parts[1]), int(parts[2])))
    return rows


# ---------------------------------------------------------------------------
# the report

IMPL_LABEL = {
    "c_session": "C core session (mb_session)",
    "swift_session": "Swift layer session",
    "c_aead": "C core AEAD (mb_aead)",
    "swift_aead": "Swift layer AESGCMContext",
    "mbedtls": "raw mbedTLS GCM",
    "mbedtls_setkey": "raw mbedTLS, setkey + GCM",
    "openssl": "OpenSSL 3 EVP (reused ctx)",
    "swiftcrypto": "swift-crypto AES.GCM",
}


def fmt_ns(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if v >= 100_000:
        return f"{v / 1000:,.0f} µs"
    if v >= 10_000:
        return f"{v / 1000:,.1f} µs"
    return f"{v:,.0f} ns"


def fmt_x(v):
    return "—" if v is None else f"{v:.2f}×"


def fmt_pct(v):
    if v is None:
        return "—"
    if v < 0.01:
        return f"{v:.4f}%"
    if v < 1:
        return f"{v:.3f}%"
    return f"{v:.2f}%"


def md_table(head, rows, align=None):
    align = align or ["l"] + ["r"] * (len(head) - 1)
    sep = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    tmp, out = a.tmp, a.out

    machine = json.load(open(os.path.join(tmp, "machine.json")))
    cj = json.load(open(os.path.join(tmp, "c.json")))
    sj_path = os.path.join(tmp, "swift.json")
    sj = json.load(open(sj_path)) if os.path.exists(sj_path) else None
    programs = [cj] + ([sj] if sj else [])

    os.makedirs(os.path.join(out, "hist"), exist_ok=True)
    for old in glob.glob(os.path.join(out, "hist", "*.svg")):
        os.remove(old)

    # ---- per-case statistics -------------------------------------------
    cases = {}
    for prog in programs:
        for c in prog["cases"]:
            c = dict(c)
            c["program"] = prog["program"]
            ops = ["seal", "open"] if "open" in c else ["op"]
            series = []
            raw = {}
            for op in ops:
                s = load_samples(tmp, c[op]["samples_file"])
                raw[op] = s
                c[op]["latency"] = stats(s)
                c[op]["msgs_per_s"] = 1e9 / c[op]["ns_op_median"] if c[op]["ns_op_median"] else None
            if "open" in c:
                pair = [x + y for x, y in zip(raw["seal"], raw["open"])]
                c["pair"] = {"ns_op_median": c["seal"]["ns_op_median"] + c["open"]["ns_op_median"],
                             "latency": stats(pair)}
                c["pair"]["msgs_per_s"] = 1e9 / c["pair"]["ns_op_median"]
            colours = {"seal": "#1f6fb4", "open": "#d9641e", "op": "#2a8c4a"}
            for op in ops:
                series.append((op, colours[op], raw[op], c[op]["latency"]))
            label = IMPL_LABEL.get(c["impl"], c["impl"])
            note = (f'{c["profile"]} profile, ' if c["profile"] != "none" else "") + \
                   (f'{c["payload"]}-byte payload, ' if c["kind"] == "message" else "") + \
                   f'{len(raw[ops[0]]):,} individually timed operations each'
            svg = os.path.join("hist", f'{c["name"]}.svg')
            svg_histogram(f'{label}: {c["name"]}', series, os.path.join(out, svg), note)
            c["histogram"] = svg
            cases[c["name"]] = c

    def g(name, op="seal", field="ns_op_median"):
        c = cases.get(name)
        if c is None or op not in c:
            return None
        return c[op][field] if field in c[op] else c[op]["latency"].get(field)

    def ratio(a, b):
        return a / b if a is not None and b else None

    # ---- CAN budget --------------------------------------------------------
    can = {"classic": {}, "fd": {}}
    for s in range(0, 9):
        can["classic"][s] = {rate_name(r): {"worst_us": classic_bits(s) / r * 1e6,
                                            "nostuff_us": classic_bits(s, False) / r * 1e6}
                             for r in CLASSIC_RATES}
    for s in FD_LENGTHS:
        can["fd"][s] = {rate_name(r): {"worst_us": fd_time_s(s, *r) * 1e6,
                                       "nostuff_us": fd_time_s(s, *r, stuffing=False) * 1e6}
                        for r in FD_RATES}

    msg_cases = [c for c in cases.values() if c["impl"] in ("c_session", "swift_session")]
    budget = []
    for c in sorted(msg_cases, key=lambda c: (c["impl"], c["profile"], c["payload"])):
        prof, s = c["profile"], c["payload"]
        wire = s + OVERHEAD
        enc = frame_lengths(prof, wire)
        clear = frame_lengths(prof, s)
        rates = CLASSIC_RATES if prof == "classic" else FD_RATES
        row = {"case": c["name"], "impl": c["impl"], "profile": prof, "payload": s, "wire": wire,
               "frames": len(enc), "frames_clear": len(clear), "frame_lengths": enc, "rates": {}}
        for r in rates:
            t_enc = bus_time_s(prof, enc, r)
            t_clear = bus_time_s(prof, clear, r)
            seal_ns, open_ns = c["seal"]["ns_op_median"], c["open"]["ns_op_median"]
            row["rates"][rate_name(r)] = {
                "bus_us": t_enc * 1e6, "bus_us_nostuff": bus_time_s(prof, enc, r, False) * 1e6,
                "bus_us_clear": t_clear * 1e6, "msgs_per_s_bus": 1 / t_enc,
                "seal_share_pct": seal_ns * 1e-9 / t_enc * 100,
                "open_share_pct": open_ns * 1e-9 / t_enc * 100,
                "p99_9_pair_share_pct": c["pair"]["latency"]["p99_9"] * 1e-9 / t_enc * 100,
                "goodput_Bps": s / t_enc, "goodput_clear_Bps": s / t_clear,
                "goodput_relative": (t_clear / t_enc) if s else None,
            }
        budget.append(row)

    # ---- targets -----------------------------------------------------------
    targets = []

    def target(name, value, limit, text, detail):
        met = value is not None and value <= limit
        targets.append({"target": name, "value": value, "limit": limit, "met": met if value is not None else None,
                        "text": text, "detail": detail})

    sess_rows = []
    for c in sorted([c for c in cases.values() if c["impl"] == "c_session"],
                    key=lambda c: (c["profile"], c["payload"])):
        raw = f'mbedtls.{c["payload"]}'
        sess_rows.append((c["name"], ratio(c["seal"]["ns_op_median"], g(raw)),
                          ratio(c["open"]["ns_op_median"], g(raw, "open")),
                          ratio(c["pair"]["ns_op_median"], (g(raw) or 0) + (g(raw, "open") or 0))))
    worst = max((r[3] for r in sess_rows if r[3]), default=None)
    target("C session ≤ 1.2× raw mbedTLS", worst, 1.2,
           "C core session seal+open ≤ 1.2× raw mbedTLS on the same bytes (worst case over the payloads)",
           {r[0]: {"seal": r[1], "open": r[2], "pair": r[3]} for r in sess_rows})

    swift_sess = [c for c in cases.values() if c["impl"] == "swift_session"]
    if swift_sess:
        rows = {c["name"]: ratio(c["pair"]["ns_op_median"], g(c["name"].replace("swift_session", "c_session"), "pair"))
                for c in swift_sess}
        target("Swift ≤ 1.15× C core", max(v for v in rows.values() if v), 1.15,
               "Swift layer session seal+open ≤ 1.15× the C core session", rows)
    else:
        rows = {}
        for n in [1 for _ in []]:
            pass
        for c in [c for c in cases.values() if c["impl"] == "swift_aead"]:
            cn = c["name"].replace("swift_aead", "c_aead")
            rows[c["name"]] = ratio(c["pair"]["ns_op_median"], g(cn, "pair"))
        target("Swift ≤ 1.15× C core", max((v for v in rows.values() if v), default=None), 1.15,
               "Swift layer ≤ 1.15× the C core — measured at the AEAD level (AESGCMContext vs mb_aead): "
               "the package has no Swift session wrapper yet", rows)

    rows = {}
    mine_cases = swift_sess or [c for c in cases.values() if c["impl"] == "swift_aead"]
    for m in sorted(mine_cases, key=lambda c: (c["profile"], c["payload"])):
        sc = cases.get(f'swiftcrypto.{m["payload"]}')
        if sc:
            rows[sc["name"] + " / " + m["name"]] = ratio(sc["pair"]["ns_op_median"], m["pair"]["ns_op_median"])
    best = min((v for v in rows.values() if v), default=None)
    targets.append({"target": "≥ 4× faster than swift-crypto", "value": best, "limit": 4.0,
                    "met": (best >= 4.0) if best is not None else None,
                    "text": "Swift layer at least 4× faster per message than swift-crypto's AES.GCM "
                            "(value: the smallest speed-up over the payloads)", "detail": rows})

    fr = can["classic"][8]["1M"]["worst_us"]
    rows = {}
    for name in ("c_session.fd.8", "c_session.fd.36", "swift_session.fd.8", "swift_session.fd.36"):
        if name in cases:
            rows[name] = cases[name]["pair"]["latency"]["p99_9"] / (fr * 1000) * 100
    worst = max(rows.values()) if rows else None
    targets.append({"target": "p99.9 one-frame seal+open < 1% of a 1 Mbit/s frame",
                    "value": worst, "limit": 1.0, "met": (worst < 1.0) if worst is not None else None,
                    "text": f"p99.9 of seal+open (paired samples) of a one-frame message (CAN FD) below 1% "
                            f"of the worst-case classic 8-byte frame time at 1 Mbit/s ({fr:.0f} µs → "
                            f"{fr * 10:.0f} ns)", "detail": rows})

    # ---- device estimate -------------------------------------------------------
    ir = callgrind_ir(tmp)
    device = {"instructions": {f"{k[0]}.{k[1]}.{k[2]}": v for k, v in sorted(ir.items())}}
    # Assumption: Cortex-M4 cycles ≈ k × x86-64 instructions of the portable
    # (no AES-NI) path, k in [1.5, 3]: 32-bit ALU ops instead of 64-bit ones in
    # GHASH, 2-cycle loads for the AES T-tables, flash wait states at 64 MHz.
    K_LO, K_MID, K_HI, F_MHZ = 1.5, 2.0, 3.0, 64.0
    dev_rows = []
    for key in sorted({(k[0], k[1]) for k in ir}):
        aes = ir.get((key[0], key[1], "aesni"))
        soft = ir.get((key[0], key[1], "noaesni"))
        base = soft if soft is not None else aes
        host_only = key[0].startswith("swift")     # Swift never runs on the pack controller
        dev_rows.append({"case": key[0], "op": key[1], "ir_aesni": aes, "ir_portable": soft,
                         "m4_us_low": None if host_only else base * K_LO / F_MHZ,
                         "m4_us_mid": None if host_only else base * K_MID / F_MHZ,
                         "m4_us_high": None if host_only else base * K_HI / F_MHZ})
    device["estimate"] = dev_rows
    device["assumptions"] = {"cycles_per_x86_instruction": [K_LO, K_MID, K_HI], "clock_mhz": F_MHZ,
                             "basis": "callgrind instruction count of the portable C path (AES-NI and "
                                      "PCLMULQDQ off through the LD_PRELOAD shim), x86-64 -O2"}
    device["m4_sizeof"] = m4_sizeof(os.path.join(tmp, "m4-sizeof.txt"))
    device["m4_sizeof_classic_only"] = m4_sizeof(os.path.join(tmp, "m4-sizeof-classic.txt"))
    code = m4_code(os.path.join(tmp, "m4-size.txt"))
    device["m4_code"] = [{"object": o, "text": t, "data": d, "bss": b} for o, t, d, b in code]
    allocs = {}
    for prefix, names in (("c", [n for n in cases if n.endswith(".8") and cases[n]["program"] == "c"]),
                          ("swift", [n for n in cases if n.endswith(".8") and cases[n]["program"] == "swift"])):
        for n in names:
            v = alloc_per_op(tmp, prefix, n)
            if v is not None:
                allocs[n] = v
    device["allocs_per_seal_open"] = allocs

    # ---- report.md --------------------------------------------------------------
    L = []
    quick = machine.get("quick")
    L.append("# Modbatt benchmark report")
    L.append("")
    if quick:
        L.append("> **Quick mode** (CI smoke run): few samples, numbers are indicative only.")
        L.append("")
    L.append(f'Run {machine["date_utc"]} at commit `{machine["git"]}` on {machine["cpu"]} '
             f'({machine["nproc"]} CPUs, {machine["kernel"]}), load average before/after '
             f'{machine["load_before"]} / {machine.get("load_after", "?")}, pinned: `{machine["pinned"]}`. '
             f'mbedTLS {cj.get("mbedtls")}, {cj.get("openssl")}, {machine["cc"]}, {machine["swift"]}.')
    L.append("")
    L.append(f'Clock: `{cj["clock"]}`, {cj["timer_ns"]:.0f} ns per reading (C)'
             + (f', {sj["timer_ns"]:.0f} ns (Swift)' if sj else "") +
             f'; ns/op is the median of {cj["reps"]} repetitions of {cj["batches"]}×{cj["slots"]} messages; '
             f'percentiles come from {cj["samples"]:,} individually timed operations per case (each timing '
             f'includes one clock reading). Method and formulas: docs/BENCHMARKS.md.')
    L.append("")
    if sj:
        L.append(f'Swift session API measured: {sj.get("session_api")}.')
        L.append("")
        if "/debug/" in machine.get("swift_bin", ""):
            L.append("> The Swift figures come from a **debug** build (`--swift-bin`): they only show that "
                     "the Swift side runs.")
            L.append("")

    # targets
    L.append("## Targets")
    L.append("")
    rows = []
    for t in targets:
        v = t["value"]
        if t["target"].startswith("p99.9"):
            vs = fmt_pct(v)
            lim = "< 1%"
        elif t["target"].startswith("≥"):
            vs, lim = fmt_x(v), "≥ 4×"
        else:
            vs, lim = fmt_x(v), f'≤ {t["limit"]}×'
        status = "—" if t["met"] is None else ("**met**" if t["met"] else "**missed**")
        parts = []
        for k, v in t["detail"].items():
            if isinstance(v, dict):
                v = v.get("pair")
            if v is None:
                continue
            k = k.split(" / ")[-1]
            if t["target"].startswith("p99.9"):
                k = k.replace("c_session.", "C ").replace("swift_session.", "Swift ")
            else:
                k = re.sub(r"^(c_session|swift_session|swift_aead|swiftcrypto)\.", "", k)
            parts.append(f"{k} {fmt_pct(v) if t['target'].startswith('p99.9') else fmt_x(v)}")
        rows.append((t["text"], vs, lim, status, ", ".join(parts)))
    L.append(md_table(["target", "measured", "limit", "", "per case"], rows, ["l", "r", "r", "l", "l"]))
    L.append("")

    # per message: side by side
    L.append("## Seal and open, side by side (ns/op, median)")
    L.append("")
    L.append("Same plaintext, same 7-byte AAD, 12-byte IV and 16-byte tag everywhere. The session rows "
             "include framing into CAN frames, the nonce, the replay window and (on open) reassembly; "
             "the AEAD rows are one whole-message AES-256-GCM call. seal / open.")
    L.append("")
    impls = [i for i in ("c_session", "swift_session", "c_aead", "swift_aead", "mbedtls", "mbedtls_setkey",
                         "openssl", "swiftcrypto") if any(c["impl"] == i for c in cases.values())]
    head = ["payload"] + [IMPL_LABEL[i] for i in impls]
    rows = []
    keys = []
    for prof in ("classic", "fd"):
        for c in sorted([c for c in cases.values() if c["impl"] == "c_session" and c["profile"] == prof],
                        key=lambda c: c["payload"]):
            keys.append((prof, c["payload"]))
    for s in sorted({c["payload"] for c in cases.values() if c["impl"] == "mbedtls"}):
        if not any(k[1] == s for k in keys):
            keys.append(("none", s))
    for prof, s in keys:
        r = [f"{s} B" + (f" ({prof})" if prof != "none" else "")]
        for i in impls:
            name = f"{i}.{prof}.{s}" if i.endswith("session") else f"{i}.{s}"
            if name in cases:
                r.append(f'{fmt_ns(cases[name]["seal"]["ns_op_median"])} / {fmt_ns(cases[name]["open"]["ns_op_median"])}')
            else:
                r.append("—")
        rows.append(r)
    L.append(md_table(head, rows))
    L.append("")

    # ratios
    L.append("## Ratios (seal+open, medians)")
    L.append("")
    rows = []
    for prof, s in keys:
        sess = f"c_session.{prof}.{s}" if prof != "none" else None
        ssw = f"swift_session.{prof}.{s}" if prof != "none" else None
        def pr(n):
            return cases[n]["pair"]["ns_op_median"] if n in cases else None
        rows.append((f"{s} B" + (f" ({prof})" if prof != "none" else ""),
                     fmt_x(ratio(pr(sess), pr(f"mbedtls.{s}"))) if sess else "—",
                     fmt_x(ratio(pr(ssw), pr(sess))) if ssw else "—",
                     fmt_x(ratio(pr(f"c_aead.{s}"), pr(f"mbedtls.{s}"))),
                     fmt_x(ratio(pr(f"swift_aead.{s}"), pr(f"c_aead.{s}"))),
                     fmt_x(ratio(pr(f"mbedtls.{s}"), pr(f"openssl.{s}"))),
                     fmt_x(ratio(pr(f"swiftcrypto.{s}"), pr(ssw if ssw and ssw in cases else f"swift_aead.{s}")))))
    L.append(md_table(["payload", "C session / raw mbedTLS", "Swift session / C session",
                       "mb_aead / raw mbedTLS", "Swift AESGCMContext / mb_aead", "raw mbedTLS / OpenSSL",
                       "swift-crypto / Swift layer"], rows))
    L.append("")

    # latency
    L.append("## Latency of individually timed operations")
    L.append("")
    rows = []
    for name in sorted(cases, key=lambda n: (list(IMPL_LABEL).index(cases[n]["impl"])
                                             if cases[n]["impl"] in IMPL_LABEL else 99,
                                             cases[n]["profile"], cases[n]["payload"], n)):
        c = cases[name]
        if c["kind"] != "message":
            continue
        for op in ("seal", "open"):
            lat = c[op]["latency"]
            rows.append((f'[{name}]({c["histogram"]})', op, fmt_ns(c[op]["ns_op_median"]),
                         fmt_ns(lat["p50"]), fmt_ns(lat["p99"]), fmt_ns(lat["p99_9"]), fmt_ns(lat["max"]),
                         f'{c[op]["msgs_per_s"]:,.0f}'))
    L.append(md_table(["case", "op", "ns/op", "p50", "p99", "p99.9", "max", "messages/s (1 core)"], rows))
    L.append("")

    # keys
    L.append("## Key derivation, handshake, setkey")
    L.append("")
    rows = []
    desc = {"keys.pair_derive": "pair key derivation (mb_pair_derive: HKDF over both halves)",
            "keys.session_init": "session set-up (mb_session_init: pair secret PS)",
            "keys.handshake": "full handshake, both sides in memory (HELLO, REPLY, FINISH; key confirmation)",
            "keys.rekey": "key rotation, sender (next epoch keys + sealed rekey request)",
            "setkey.mbedtls_gcm_setkey": "mbedtls_gcm_setkey (AES-256 key schedule + GHASH table)",
            "setkey.mb_aead_setkey": "mb_aead_setkey (the same through the core)",
            "setkey.openssl_init_key": "OpenSSL EVP_EncryptInit_ex with a new key"}
    for name, d in desc.items():
        if name not in cases:
            continue
        c = cases[name]
        lat = c["op"]["latency"]
        rows.append((d, fmt_ns(c["op"]["ns_op_median"]), fmt_ns(lat["p50"]), fmt_ns(lat["p99"]),
                     fmt_ns(lat["max"]), f'{c["op"]["msgs_per_s"]:,.0f}/s'))
    L.append(md_table(["operation", "ns/op", "p50", "p99", "max", "rate"], rows))
    L.append("")

    # CAN budget
    L.append("## Against the CAN budget")
    L.append("")
    L.append("Frame time, 29-bit ids, 3-bit interframe space included (formulas in docs/BENCHMARKS.md):")
    L.append("")
    rows = []
    for r in CLASSIC_RATES:
        b, nb = classic_bits(8), classic_bits(8, False)
        rows.append((f"classic {rate_name(r)}", f"{b} / {nb}", f"{b / r * 1e6:.1f} µs", f"{nb / r * 1e6:.1f} µs",
                     f"{r / b:,.0f}"))
    for r in FD_RATES:
        n, d = fd_bits(64)
        n0, d0 = fd_bits(64, False)
        rows.append((f"FD {rate_name(r)} (64 B)", f"{n}+{d} / {n0}+{d0}", f"{fd_time_s(64, *r) * 1e6:.1f} µs",
                     f"{fd_time_s(64, *r, stuffing=False) * 1e6:.1f} µs", f"{1 / fd_time_s(64, *r):,.0f}"))
    L.append(md_table(["bus", "bits worst / no stuffing (FD: nominal+data)", "frame, worst", "frame, no stuffing",
                       "max frames/s (full bus, worst)"], rows))
    L.append("")
    L.append("Per message: bus time of the encrypted message (worst-case stuffing), crypto time (median) as a "
             "share of it — which is also the share of one core needed to keep up with a bus full of such "
             "messages — and goodput against the same payload sent in clear.")
    L.append("")
    for prof, rates in (("classic", CLASSIC_RATES), ("fd", FD_RATES)):
        rows = []
        for b in budget:
            if b["profile"] != prof:
                continue
            for r in rates:
                x = b["rates"][rate_name(r)]
                rows.append((b["case"] if r == rates[0] else "", f'{b["frames"]} ({b["frames_clear"]})' if r == rates[0] else "",
                             rate_name(r), f'{x["bus_us"]:,.1f} µs', f'{x["msgs_per_s_bus"]:,.0f}',
                             fmt_pct(x["seal_share_pct"]), fmt_pct(x["open_share_pct"]),
                             fmt_pct(x["p99_9_pair_share_pct"]),
                             f'{x["goodput_Bps"] / 1000:,.2f} / {x["goodput_clear_Bps"] / 1000:,.2f} kB/s'
                             + (f' ({100 * x["goodput_relative"]:.0f}%)' if x["goodput_relative"] else "")))
        if rows:
            L.append(f"**{'Classic CAN' if prof == 'classic' else 'CAN FD'}**")
            L.append("")
            L.append(md_table(["case", "frames (clear)", "bit rate", "bus time", "messages/s (full bus)",
                               "seal share = CPU at full bus", "open share = CPU at full bus",
                               "p99.9 seal+open share", "goodput encrypted / clear"], rows))
            L.append("")

    # device
    # Measured on emulated MCUs (scripts/target-test.sh all --measure writes
    # results/device.md); it replaces the x86-based estimate below.
    L.append("## Device (STM32WB55 pack controller, ATmega64M1 module)")
    L.append("")
    measured = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "device.md")
    if os.path.exists(measured):
        body = open(measured, encoding="utf-8").read().split("\n")
        L.append("Measured on emulated cores by `scripts/target-test.sh all --measure` "
                 "(Benchmarks/results/device.md, method in docs/FIRMWARE.md):")
        L.append("")
        L.extend(l.replace("### ", "#### ", 1) if l.startswith("### ") else l
                 for l in body if not l.startswith("# "))
        L.append("")
    L.append("### Superseded: the x86-based estimate")
    L.append("")
    L.append("Kept for comparison only; the measured figures above replace it. "
             "Instructions per operation from `valgrind --tool=callgrind` (deterministic), x86-64 -O2, "
             "with AES-NI and with the portable C path (shim `Benchmarks/c/noaesni.c`). "
             f"Estimate: M4 cycles ≈ k × portable instructions, k = {K_LO} / {K_MID} / {K_HI} "
             "(low / mid / high), at 64 MHz; assumptions in docs/BENCHMARKS.md.")
    L.append("")
    rows = []
    for d in dev_rows:
        rows.append((d["case"], "op" if d["case"].startswith(("keys.", "setkey.")) else d["op"],
                     f'{d["ir_aesni"]:,.0f}' if d["ir_aesni"] else "—",
                     f'{d["ir_portable"]:,.0f}' if d["ir_portable"] else "—",
                     f'{d["m4_us_low"]:,.0f} / {d["m4_us_mid"]:,.0f} / {d["m4_us_high"]:,.0f} µs'
                     if d["m4_us_mid"] is not None else "host only"))
    L.append(md_table(["case", "op", "instructions (AES-NI)", "instructions (portable)",
                       "M4 estimate low / mid / high"], rows))
    L.append("")
    if allocs:
        L.append("Heap allocations per message (seal + open), from memcheck's count at two run lengths:")
        L.append("")
        L.append(md_table(["case", "allocations per seal+open"],
                          [(k, f"{v:.2f}") for k, v in sorted(allocs.items())]))
        L.append("")
    sz = device["m4_sizeof"]
    szc = device["m4_sizeof_classic_only"]
    if sz:
        L.append("RAM (Cortex-M4 `sizeof`, arm-none-eabi-gcc; in brackets: a classic-only build, "
                 "`MB_MSG_WIRE_MAX=128`):")
        L.append("")
        rows = [(k, f"{v:,}" + (f" [{szc[k]:,}]" if k in szc and szc[k] != v else ""))
                for k, v in sz.items()]
        L.append(md_table(["struct", "bytes"], rows))
        L.append("")
    if code:
        L.append("Code size of the C core on Cortex-M4 (`-Os`, per object, `arm-none-eabi-size`):")
        L.append("")
        rows = [(o, f"{t:,}", f"{d:,}", f"{b:,}") for o, t, d, b in code]
        prov = ("mb_keypkg", "mb_keystore", "mb_xfer")
        sess = [r for r in code if not r[0].startswith(prov)]
        rows.append(("**session path** (all but key packages, key store, transfer)",
                     f"{sum(r[1] for r in sess):,}", f"{sum(r[2] for r in sess):,}", f"{sum(r[3] for r in sess):,}"))
        rows.append(("**total**", f"{sum(r[1] for r in code):,}", f"{sum(r[2] for r in code):,}",
                     f"{sum(r[3] for r in code):,}"))
        device["m4_code_session_path_text"] = sum(r[1] for r in sess)
        L.append(md_table(["object", "text", "data", "bss"], rows))
        L.append("")

    for pcase in ("c_session.classic.8", "c_session.fd.8"):
        if not os.path.exists(os.path.join(tmp, "cg", f"{pcase}.seal.aesni.annotate")):
            continue
        for op in ("seal", "open"):
            for mode in ("aesni", "noaesni"):
                prof_rows = callgrind_profile(tmp, pcase, op, mode)
                if not prof_rows:
                    continue
                L.append(f"Where one C session {op} goes ({pcase}, "
                         f"{'AES-NI' if mode == 'aesni' else 'portable path'}; inclusive instructions per "
                         f"message, callgrind):")
                L.append("")
                L.append(md_table(["function", "instructions", "share"],
                                  [(f"`{fn}`", f"{v:,.0f}", f"{p:.1f}%") for fn, v, p in prof_rows[:18]]))
                L.append("")
                results_profiles = device.setdefault("profiles", {})
                results_profiles[f"{pcase}.{op}.{mode}"] = [{"function": fn, "instructions": v, "share": p}
                                                            for fn, v, p in prof_rows]
        L.append("Unnamed addresses are static functions of Debian's stripped libmbedcrypto "
                 "(`0x…34500` is the only caller of `mbedtls_aesni_gcm_mult`, i.e. GCM's `gcm_mult`).")
        L.append("")
        break

    for pcase in ("swift_session.classic.8", "swift_session.fd.8"):
        for op in ("seal", "open"):
            prof_rows = callgrind_profile(tmp, pcase, op, "aesni")
            if not prof_rows:
                continue
            L.append(f"Where one Swift session {op} goes ({pcase}; inclusive instructions per message, "
                     f"callgrind, names demangled):")
            L.append("")
            L.append(md_table(["function", "instructions", "share"],
                              [(f"`{fn}`", f"{v:,.0f}", f"{p:.1f}%") for fn, v, p in prof_rows[:18]]))
            L.append("")
            device.setdefault("profiles", {})[f"{pcase}.{op}.aesni"] = [
                {"function": fn, "instructions": v, "share": p} for fn, v, p in prof_rows]
        break

    L.append("## Histograms")
    L.append("")
    for name, c in cases.items():
        L.append(f'- [{name}]({c["histogram"]})')
    L.append("")
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(L))

    # ---- results.json --------------------------------------------------------
    results = {"machine": machine, "method": {k: cj[k] for k in ("clock", "timer_ns", "slots", "reps",
                                                                "batches", "samples", "warmup")},
               "versions": {"mbedtls": cj.get("mbedtls"), "openssl": cj.get("openssl")},
               "swift_session_api": sj.get("session_api") if sj else "not run",
               "sizeof_host": cj.get("sizeof"), "cases": cases, "can": can, "budget": budget,
               "targets": targets, "device": device}
    if sj:
        results["method"]["swift_timer_ns"] = sj["timer_ns"]
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=False, default=float)

    # sanity: everything the CI smoke check relies on
    json.load(open(os.path.join(out, "results.json")))
    missing = [n for n, c in cases.items() if not os.path.exists(os.path.join(out, c["histogram"]))]
    if missing:
        print(f"report.py: missing histograms: {missing}", file=sys.stderr)
        return 1
    print(f"report.py: {len(cases)} cases, {len(targets)} targets, report in {out}/report.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
