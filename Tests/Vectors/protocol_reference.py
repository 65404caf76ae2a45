"""Independent reference of secure-CAN protocol v2, written from
docs/PROTOCOL.md on top of Python's `cryptography` (HKDF, AES-GCM) and
hmac: it recomputes every value of protocol-v2.json — pair secret, handshake
keys and MACs, epoch keys and fixed fields, AAD, wire bytes, CAN ids and
frames with their FD padding — from the file's inputs alone.

    python3 Tests/Vectors/protocol_reference.py [path/to/protocol-v2.json]

Prints "protocol_reference: N passed, M failed" (one check = one count) and
exits 1 on any mismatch. The pair keys come from the independent key
derivation reference, Tests/CTests/pair_reference.py."""
import hashlib
import hmac
import json
import os
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "CTests"))
import pair_reference  # noqa: E402

FD_LENGTHS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64]
CONTROLLER, DEVICE = 0, 1
VERSION = 2
COMMAND_TYPES = (4, 5)   # COMMAND, LIMITS: sealed as freshness (4) || payload, section 7.5


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def eq(self, what, got, want):
        if got == want:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {what}: got {got!r}, want {want!r}", file=sys.stderr)


def hkdf(salt, ikm, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(ikm)


def mac(key, *parts):
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


def be32(x):
    return x.to_bytes(4, "big")


# --- 6.1, 6.2: pair secret and session keys ---------------------------------

def pair_secret(keys):
    lo_hi = keys["tx_key"] if keys["self_is_low"] else keys["rx_key"]
    hi_lo = keys["rx_key"] if keys["self_is_low"] else keys["tx_key"]
    return hkdf(b"", lo_hi + hi_lo + keys["confirm_key"], b"modbatt/session/v1/pair", 32)


def session_keys(ps, key_id, n_i, n_r, device_id, initiator):
    sk = hkdf(n_i + n_r, ps, b"modbatt/session/v1/hs" + key_id + bytes([device_id, initiator]), 96)
    return sk[0:32], sk[32:64], sk[64:96]


# --- 8.1: epochs -------------------------------------------------------------

def epoch_key(chain, e):
    return mac(chain, b"mb1 key", be32(e))


def epoch_fixed(chain, e):
    return mac(chain, b"mb1 fix", be32(e))[0:3] + bytes([e & 0xFF])


def chain_next(chain, e):
    return mac(chain, b"mb1 next", be32(e))


# --- 2, 3, 4: ids and frames -------------------------------------------------

def msg_id(sender, type_):
    return 0x300 | (0x010 if sender == DEVICE else 0) | type_


def fd_len(n):
    return next(x for x in FD_LENGTHS if x >= n)


def split(profile, msg, encrypted, sender, type_, device_id):
    """Frames (id, data) of a wire message, section 4."""
    chunk = 64 if profile == "fd" else 8
    n = max(1, -(-len(msg) // chunk))
    last = msg[(n - 1) * chunk:]
    spare = profile == "fd" and fd_len(len(last)) != len(last)
    key = (msg_id(sender, type_) << 18) | (int(encrypted) << 17) | (int(spare) << 16) | device_id
    frames = []
    for i in range(n):
        body = msg[i * chunk:(i + 1) * chunk]
        if i == n - 1 and spare:
            p = fd_len(len(body)) - len(body)
            body = body + b"\xcc" * (p - 1) + bytes([p])
        frames.append((key | (i << 12) | ((n - 1) << 8), body))
    return key, frames


def frames_of(entries, sender):
    return [(int(f["id"], 16), bytes.fromhex(f["data"])) for f in entries if f["sender"] == sender]


# --- the checks --------------------------------------------------------------

def check_session(c, v, s, ctl_keys, dev_keys):
    name, profile, dev = s["name"], s["profile"], s["device_id"]
    h = bytes.fromhex
    key_id = h(v["pair"]["key_id"])
    ps = pair_secret(ctl_keys)
    c.eq(f"{name}: both sides' PS", pair_secret(dev_keys), ps)
    c.eq(f"{name}: pair_secret", ps, h(s["pair_secret"]))
    n_i, n_r = h(s["controller_nonce"]), h(s["device_nonce"])
    mac_key, c2d, d2c = session_keys(ps, key_id, n_i, n_r, dev, CONTROLLER)
    c.eq(f"{name}: mac_key", mac_key, h(s["mac_key"]))
    c.eq(f"{name}: chain_c2d_0", c2d, h(s["chain_c2d_0"]))
    c.eq(f"{name}: chain_d2c_0", d2c, h(s["chain_d2c_0"]))

    # 6.3 (v2): the HELLO carries its counter and MAC_H under the pair secret.
    hello = bytes([VERSION, 0]) + key_id + n_i + s["hello_counter"].to_bytes(8, "big")
    hello += mac(ps, b"mb2 hello", bytes([CONTROLLER, dev]), hello)[:16]
    reply_head = bytes([VERSION, 0]) + key_id + n_r
    reply = reply_head + mac(mac_key, b"mb1 resp", hello, reply_head)[:16]
    finish = mac(mac_key, b"mb1 init", hello, reply)[:16]
    want = (split(profile, hello, False, CONTROLLER, 0, dev)[1] + split(profile, finish, False, CONTROLLER, 2, dev)[1])
    c.eq(f"{name}: controller handshake frames", frames_of(s["handshake"], "controller"), want)
    c.eq(f"{name}: device handshake frames", frames_of(s["handshake"], "device"),
         split(profile, reply, False, DEVICE, 1, dev)[1])

    chains = {CONTROLLER: (0, c2d), DEVICE: (0, d2c)}
    for m in s["messages"]:
        sender = CONTROLLER if m["sender"] == "controller" else DEVICE
        what = f"{name}: {m['sender']} type {m['type']} epoch {m['epoch']} counter {m['counter']}"
        e, chain = chains[sender]
        while e < m["epoch"]:
            chain, e = chain_next(chain, e), e + 1
        chains[sender] = (e, chain)
        key, fixed = epoch_key(chain, e), epoch_fixed(chain, e)
        c.eq(what + " key", key, h(m["key"]))
        c.eq(what + " fixed", fixed, h(m["fixed"]))
        pt = h(m["plaintext"])
        c.eq(what + " carries freshness", "freshness" in m, m["type"] in COMMAND_TYPES)
        pt = h(m.get("freshness", "")) + pt
        length = len(pt) + 28
        msg_key = split(profile, bytes(length), True, sender, m["type"], dev)[0]
        aad = bytes([VERSION]) + msg_key.to_bytes(4, "big") + length.to_bytes(2, "big")
        c.eq(what + " aad", aad, h(m["aad"]))
        iv = fixed + m["counter"].to_bytes(8, "big")
        wire = iv + AESGCM(key).encrypt(iv, pt, aad)
        c.eq(what + " wire", wire, h(m["wire"]))
        c.eq(what + " frames", [(int(f["id"], 16), h(f["data"])) for f in m["frames"]],
             split(profile, wire, True, sender, m["type"], dev)[1])


def check_payloads(c, v):
    """Section 10 layouts of the first three messages of each session."""
    for s in v["sessions"]:
        by_type = {m["type"]: bytes.fromhex(m["plaintext"]) for m in s["messages"] if m["epoch"] == 0}
        c.eq("COMMAND Precharge", by_type[4], bytes([2, 0]))
        volts, amps, temp, soc = 40120, -1234, 255, 8750
        status = (volts.to_bytes(2, "big") + amps.to_bytes(2, "big", signed=True) +
                  temp.to_bytes(2, "big", signed=True) + soc.to_bytes(2, "big") + bytes([3, 4]))
        c.eq("STATUS example", by_type[6], status)
        limits = b"".join(x.to_bytes(2, "big") for x in (1500, 3000, 40320, 30000))
        c.eq("LIMITS example", by_type[5], limits)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "protocol-v2.json")
    with open(path) as f:
        v = json.load(f)
    c = Checks()
    c.eq("version", v["version"], VERSION)
    p = v["pair"]
    halves = (bytes.fromhex(p["half_1"]), bytes.fromhex(p["half_2"]))
    salt, lct = bytes.fromhex(p["salt"]), p["lct_id"].encode()
    ctl_id, dev_id = p["controller_component_id"].encode(), p["device_component_id"].encode()
    ctl_keys = pair_reference.derive(halves[0], halves[1], salt, ctl_id, dev_id, lct)
    dev_keys = pair_reference.derive(halves[0], halves[1], salt, dev_id, ctl_id, lct)
    c.eq("key_id", ctl_keys["key_id"], bytes.fromhex(p["key_id"]))
    for s in v["sessions"]:
        check_session(c, v, s, ctl_keys, dev_keys)
    check_payloads(c, v)
    print(f"protocol_reference: {c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
