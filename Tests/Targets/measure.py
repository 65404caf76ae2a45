"""Turn the emulators' region counts into the device tables.

  measure.py m4  OPS REGIONS OUT.json    Cortex-M4: tt_insn_plugin.c lines
  measure.py avr OPS REGIONS OUT.json    AVR: tt_avr_run.c lines (exact cycles)
  measure.py sizes OUT.json ELF...         AVR module images: flash and static RAM
  measure.py report DIR                   markdown tables from DIR/{m4,avr,sizes}.json

OPS is the benchmark's output ("op NAME" per region, tt_bench.c), REGIONS
the counter's lines, one per region, in the same order. Regions with one
name are added up; the "overhead" region (the marks alone) is subtracted
from each region; "warmup" regions are dropped.

Cortex-M4 cycles (STM32WB55 at 64 MHz): the plugin's TRM-table cycles plus
P cycles per pipeline refill (taken branch or PC write; the TRM's P is
1..3). Three figures:
  best   P = 1, no wait state (code and tables served by the ART cache)
  mid    P = 2, no wait state  <- the figure the goals are judged on
  flash  P = 3, plus 3 flash wait states (64 MHz, RM0434 table "number of
         wait states") on every refill and every load from a constant table,
         i.e. every one of them missing the cache: a ceiling
"""
import json
import re
import sys

M4_MHZ = 64.0
AVR_MHZ = 16.0
FLASH_WS = 3


def pair_up(ops_path, regions_path, parse):
    ops = [l.split(" ", 1)[1].strip() for l in open(ops_path) if l.startswith("op ")]
    regs = [parse(l) for l in open(regions_path) if parse(l) is not None]
    if len(ops) != len(regs):
        sys.exit(f"measure.py: {len(ops)} op lines but {len(regs)} regions")
    sums, over = {}, None
    for name, r in zip(ops, regs):
        if name == "overhead":
            over = r
            continue
        if "warmup" in name:
            continue
        acc = sums.setdefault(name, {"regions": 0, **{k: 0 for k in r}})
        acc["regions"] += 1
        for k, v in r.items():
            # stack: the deepest of the regions; everything else adds up
            acc[k] = max(acc[k], v) if k == "stack" else acc[k] + v
    if over is None:
        sys.exit("measure.py: no overhead region")
    for acc in sums.values():
        for k, v in over.items():
            if k != "stack":
                acc[k] -= v * acc["regions"]
    return sums


def parse_m4(line):
    if not line.startswith("tt-region"):
        return None
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def parse_avr(line):
    m = re.match(r"tt-region cycles=(\d+) stack=(\d+)", line)
    return {"cycles": int(m.group(1)), "stack": int(m.group(2))} if m else None


def struct_sizes(ops):
    for l in open(ops):
        if l.startswith("size "):
            return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", l)}
    return {}


def m4(ops, regions, out):
    sums = pair_up(ops, regions, parse_m4)
    for r in sums.values():
        r["cycles_best"] = r["base"] + 1 * r["refills"]
        r["cycles"] = r["base"] + 2 * r["refills"]
        r["cycles_flash"] = r["base"] + 3 * r["refills"] + FLASH_WS * (r["refills"] + r["flash_loads"])
        r["us"] = r["cycles"] / M4_MHZ
        r["us_flash"] = r["cycles_flash"] / M4_MHZ
    sums["sizeof"] = struct_sizes(ops)
    json.dump(sums, open(out, "w"), indent=1, sort_keys=True)


def avr(ops, regions, out):
    sums = pair_up(ops, regions, parse_avr)
    for r in sums.values():
        r["us"] = r["cycles"] / AVR_MHZ
    extra = {}
    for l in open(ops):
        m = re.match(r"heap (\w+) peak=(\d+)", l)
        if m:
            extra[f"heap_{m.group(1)}"] = int(m.group(2))
    for l in open(regions):
        m = re.match(r"tt-avr exit=(-?\d+) cycles=(\d+) stack_peak=(\d+)", l)
        if m:
            extra["stack_peak_run"] = int(m.group(3))
    json.dump({"ops": sums, **extra}, open(out, "w"), indent=1, sort_keys=True)


def sizes(out, *elfs):
    import subprocess
    res = {}
    for e in elfs:
        secs = {}
        for l in subprocess.run(["avr-size", "-A", e], capture_output=True, text=True, check=True).stdout.splitlines():
            f = l.split()
            if len(f) >= 2 and f[0] in (".text", ".data", ".bss"):
                secs[f[0][1:]] = int(f[1])
        name = e.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        res[name] = {**secs, "flash": secs.get("text", 0) + secs.get("data", 0),
                     "static_ram": secs.get("data", 0) + secs.get("bss", 0)}
    json.dump(res, open(out, "w"), indent=1, sort_keys=True)


# ---- the report ----------------------------------------------------------------
GOAL_M4_MSG_US = 100.0
GOAL_M4_HS_MS = 50.0
GOAL_CPU = 25.0
GOAL_MOD_FLASH = 24 * 1024
GOAL_MOD_RAM = 1536
GOAL_MOD_MSG_US = 640.0
FRAME_US_500K = 320.0     # worst-case classic frame, 29-bit id, stuffing (docs/BENCHMARKS.md)

M4_ORDER = ["seal.classic.8", "open.classic.8", "seal.classic.36", "open.classic.36",
            "seal.fd.8", "open.fd.8", "seal.fd.36", "open.fd.36"]


def fmt(x, d=0):
    return f"{x:,.{d}f}"


def verdict(ok, ratio):
    return "met" if ok else f"**missed** ({ratio:.1f}x)"


def report(d):
    import os
    m4 = json.load(open(os.path.join(d, "m4.json"))) if os.path.exists(os.path.join(d, "m4.json")) else None
    av = json.load(open(os.path.join(d, "avr.json"))) if os.path.exists(os.path.join(d, "avr.json")) else None
    sz = json.load(open(os.path.join(d, "sizes.json"))) if os.path.exists(os.path.join(d, "sizes.json")) else None
    L = []
    goals = []
    if m4:
        L += ["### Cortex-M4: pack controller (STM32WB55, 64 MHz)", "",
              "Executed Thumb-2 instructions on QEMU's mps2-an386 (`Tests/Targets/m4/tt_insn_plugin.c`), "
              "cycles from the Cortex-M4 TRM's table (best: P = 1; nominal: P = 2; flash ceiling: P = 3 and 3 wait "
              "states at 64 MHz on every refill and constant-table load). cold: the work context last held "
              "another pair's key (`mb_aead_setkey` runs: the per-message key schedule of PROTOCOL.md 13.1); "
              "warm: it still holds this pair's key. A message's open is all its frames through `mb_session_rx`.", "",
              "| operation | instructions | cycles best / nominal / flash ceiling | µs at 64 MHz (nominal / ceiling) |",
              "| :--- | ---: | ---: | ---: |"]
        def row(name, label=None):
            r = m4[name]
            L.append(f"| {label or name} | {fmt(r['insns'])} | {fmt(r['cycles_best'])} / {fmt(r['cycles'])} / "
                     f"{fmt(r['cycles_flash'])} | {fmt(r['us'], 1)} / {fmt(r['us_flash'], 1)} |")
        for base in M4_ORDER:
            for t in ("cold", "warm"):
                if f"{base}.{t}" in m4:
                    row(f"{base}.{t}")
        for n in ("aead_setkey", "aead_seal.8", "aead_open.8", "aead_seal.36", "aead_open.36",
                  "hs_controller.classic", "hs_device.classic", "hs_controller.fd", "hs_device.fd",
                  "hs_controller.ephemeral", "hs_device.ephemeral",
                  "pair_derive", "keypkg_open", "keystore_write"):
            if n in m4:
                row(n)
        L.append("")
        worst = max(m4["seal.classic.8.cold"]["us"], m4["open.classic.8.cold"]["us"])
        goals.append(("pack controller: 8-byte message, seal or open (classic, cold key, nominal cycles)",
                      f"{worst:.0f} µs", f"≤ {GOAL_M4_MSG_US:.0f} µs", verdict(worst <= GOAL_M4_MSG_US, worst / GOAL_M4_MSG_US)))
        hs = max(m4["hs_controller.classic"]["us"], m4["hs_device.classic"]["us"]) / 1000
        goals.append(("pack controller: handshake, the slower side", f"{hs:.1f} ms", f"≤ {GOAL_M4_HS_MS:.0f} ms",
                      verdict(hs <= GOAL_M4_HS_MS, hs / GOAL_M4_HS_MS)))
        frames = m4["open.classic.8.cold"]["regions"]
        msgs = 1e6 / (frames * FRAME_US_500K)
        cpu = msgs * worst / 1e6 * 100
        cpu_ceiling = msgs * max(m4["seal.classic.8.cold"]["us_flash"], m4["open.classic.8.cold"]["us_flash"]) / 1e6 * 100
        goals.append((f"pack controller: 500 kbit/s bus full of 8-byte messages ({frames} frames each, {msgs:.0f}/s), "
                      "each sealed or opened by the controller, cold keys (33 pairs in turn)",
                      f"{cpu:.1f} % CPU ({cpu_ceiling:.1f} % at the flash ceiling)", f"< {GOAL_CPU:.0f} %",
                      verdict(cpu < GOAL_CPU, cpu / GOAL_CPU)))
        save = m4["seal.classic.8.cold"]["cycles"] - m4["seal.classic.8.warm"]["cycles"]
        L += [f"Per-message key schedule (item 3): a cold 8-byte classic seal costs {fmt(save)} cycles "
              f"({save / M4_MHZ:.1f} µs, {100 * save / m4['seal.classic.8.cold']['cycles']:.0f} %) more than a warm one; "
              f"`mb_aead_setkey` alone is {fmt(m4['aead_setkey']['cycles'])} cycles.", ""]
    m4s = json.load(open(os.path.join(d, "m4-slots2.json"))) if os.path.exists(os.path.join(d, "m4-slots2.json")) else None
    if m4 and m4s:
        L += ["Build option `MB_AEAD_SLOTS=2` (mb_aead.h): each session gets its own work context, which keeps "
              "its sending and its receiving key expanded. A session that sends and receives in turn "
              "(`alt_*`: the controller seals, then opens the device's answer):", "",
              "| operation | MB_AEAD_SLOTS=1, shared context (cycles, µs) | MB_AEAD_SLOTS=2, own context (cycles, µs) | saved |",
              "| :--- | ---: | ---: | ---: |"]
        for n in ("alt_seal.classic.8", "alt_open.classic.8", "alt_seal.fd.8", "alt_open.fd.8"):
            if n in m4 and n in m4s:
                a, b = m4[n], m4s[n]
                L.append(f"| {n} | {fmt(a['cycles'])}, {fmt(a['us'], 1)} | {fmt(b['cycles'])}, {fmt(b['us'], 1)} | "
                         f"{100 * (a['cycles'] - b['cycles']) / a['cycles']:.0f} % |")
        s1, s2 = m4.get("sizeof", {}), m4s.get("sizeof", {})
        if s1 and s2:
            aes = 280   # mbedtls_aes_context (Cortex-M4), allocated by mbedtls_gcm_setkey per slot
            per = s2["mb_aead"] + 2 * aes
            L += ["", f"RAM: `sizeof(mb_aead)` {s1['mb_aead']} → {s2['mb_aead']} bytes, plus mbedTLS's AES context "
                  f"({aes} bytes) per slot from the heap: {per:,} bytes per session with its own context, "
                  f"{33 * per:,} bytes for the pack controller's 33 sessions (of the STM32WB55's 256 KB), "
                  f"against {s1['mb_aead'] + aes:,} bytes for one shared context.", ""]
    if av:
        ops = av["ops"]
        L += ["### AVR: battery module (ATmega64M1 core, 16 MHz)", "",
              "Exact cycles from simavr (`Tests/Targets/avr/tt_avr_run.c`) running the benchmark on its ATmega1284 "
              "(the same AVR core and instruction timings; simavr has no ATmega64M1), classic CAN only, one "
              "reassembly slot, a one-pair key store (`-DMB_MSG_WIRE_MAX=128 -DMB_REASM_SLOTS=1 -DMB_KS_MAX_PAIRS=1`), "
              "avr-gcc 5.4 `-Os`. Stack: the deepest the operation took the stack below its caller.", "",
              "| operation | cycles | µs at 16 MHz | stack (bytes) |", "| :--- | ---: | ---: | ---: |"]
        for n in ["seal.classic.8.cold", "seal.classic.8.warm", "open.classic.8.cold", "open.classic.8.warm",
                  "seal.classic.36.cold", "open.classic.36.cold", "aead_setkey", "aead_seal.8", "aead_open.8",
                  "hs_controller.classic", "hs_device.classic", "pair_derive", "keypkg_open", "keystore_write"]:
            if n in ops:
                r = ops[n]
                L.append(f"| {n} | {fmt(r['cycles'])} | {fmt(r['us'], 0)} | {r['stack']} |")
        L.append("")
        worst = max(ops["seal.classic.8.cold"]["us"], ops["open.classic.8.cold"]["us"])
        goals.append(("module: 8-byte seal or open at 16 MHz (cold)", f"{worst:,.0f} µs", f"< {GOAL_MOD_MSG_US:.0f} µs",
                      verdict(worst < GOAL_MOD_MSG_US, worst / GOAL_MOD_MSG_US)))
        save = ops["seal.classic.8.cold"]["cycles"] - ops["seal.classic.8.warm"]["cycles"]
        L += [f"Per-message key schedule on AVR: a cold 8-byte seal costs {fmt(save)} cycles "
              f"({save / AVR_MHZ:,.0f} µs) more than a warm one.", ""]
    fa = json.load(open(os.path.join(d, "avr-flashaes.json"))) if os.path.exists(os.path.join(d, "avr-flashaes.json")) else None
    if av and fa:
        L += ["With AES from `Tests/Targets/avr/tt_aes_avr.c` instead of mbedTLS's (S-box in flash, no decryption; "
              "the benchmark checks it against GCM test case 14 first):", "",
              "| operation | mbedTLS AES (cycles, µs) | flash-S-box AES (cycles, µs) |", "| :--- | ---: | ---: |"]
        for n in ("seal.classic.8.cold", "seal.classic.8.warm", "open.classic.8.cold", "open.classic.8.warm",
                  "aead_setkey", "aead_seal.8", "aead_open.8"):
            if n in av["ops"] and n in fa["ops"]:
                a, b = av["ops"][n], fa["ops"][n]
                L.append(f"| {n} | {fmt(a['cycles'])}, {fmt(a['us'])} | {fmt(b['cycles'])}, {fmt(b['us'])} |")
        L.append("")
    if sz:
        L += ["### AVR: what the module image costs (ATmega64M1: 64 KB flash, 4 KB SRAM)", "",
              "`Tests/Targets/avr/tt_module.c` linked for the ATmega64M1 with `--gc-sections`: a device session "
              "and the key store; `keypkg`: also opening key packages (P-256); `flashaes`: with "
              "`tt_aes_avr.c`. Flash = text + data; static RAM = data + bss "
              "(avr-gcc keeps `const` tables in RAM unless they are placed in program memory: mbedTLS's AES, "
              "SHA-256 and GCM tables are all in the data column). Peak heap: mbedTLS's allocations "
              "(GCM's AES context; P-256's bignums) measured in the benchmark run.", "",
              "| image | flash | static RAM | + heap peak | + stack peak | RAM total | fits 64 KB / 4 KB? |",
              "| :--- | ---: | ---: | ---: | ---: | ---: | :--- |"]
        for name, r in sorted(sz.items()):
            kp = "keypkg" in name
            src = fa if ("flashaes" in name and fa) else av
            heap = max((av or {}).get("heap_keypkg", 0) if kp else 0, (src or {}).get("heap_sessions", 0))
            stack = 0
            if src:
                names = ["hs_device.classic", "open.classic.8.cold", "seal.classic.8.cold"]
                stack = max(src["ops"][n]["stack"] for n in names if n in src["ops"])
                if kp and av:
                    stack = max([stack] + [av["ops"][n]["stack"] for n in ("keypkg_open", "keystore_write") if n in av["ops"]])
            total = r["static_ram"] + heap + stack
            fits = "yes" if r["flash"] <= 65536 and total <= 4096 else "no"
            L.append(f"| {name} | {fmt(r['flash'])} | {fmt(r['static_ram'])} | {fmt(heap)} | {fmt(stack)} | {fmt(total)} | {fits} |")
            goals.append((f"module ({name}): flash", fmt(r["flash"]) + " B", f"≤ {fmt(GOAL_MOD_FLASH)} B",
                          verdict(r["flash"] <= GOAL_MOD_FLASH, r["flash"] / GOAL_MOD_FLASH)))
            goals.append((f"module ({name}): RAM (static + heap + stack)", fmt(total) + " B", f"≤ {fmt(GOAL_MOD_RAM)} B",
                          verdict(total <= GOAL_MOD_RAM, total / GOAL_MOD_RAM)))
        L.append("")
    if goals:
        L += ["### Goals", "", "| goal | measured | target | verdict |", "| :--- | ---: | ---: | :--- |"]
        L += [f"| {g} | {m} | {t} | {v} |" for g, m, t, v in goals]
        L.append("")
    print("\n".join(L))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "sizes":
        sizes(*sys.argv[2:])
    elif mode == "report":
        report(sys.argv[2])
    else:
        {"m4": m4, "avr": avr}[mode](*sys.argv[2:5])
