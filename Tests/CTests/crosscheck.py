"""Randomized cross-check of the C core against Python's `cryptography`:
HKDF-SHA256, AES-256-GCM seal/open (every legal tag length, tampering) and
pair derivation against the independent reference in pair_reference.py.

Usage: python3 crosscheck.py PATH/TO/mb_crosscheck_tool [cases]
Prints "crosscheck: N passed, M failed"; exit status 1 on any failure."""
import os
import random
import subprocess
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import pair_reference


def hx(b: bytes) -> str:
    return b.hex() if b else "-"


class Tool:
    def __init__(self, path):
        self.p = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, line: str) -> str:
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def gcm_encrypt(key, nonce, aad, pt, tag_len):
    enc = Cipher(algorithms.AES(key), modes.GCM(nonce, min_tag_length=4)).encryptor()
    enc.authenticate_additional_data(aad)
    ct = enc.update(pt) + enc.finalize()
    return ct, enc.tag[:tag_len]


def main():
    tool = Tool(sys.argv[1])
    cases = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    rng = random.Random(int(os.environ.get("MB_CROSSCHECK_SEED", "5869")))
    rb = lambda n: bytes(rng.getrandbits(8) for _ in range(n))
    passed = failed = 0
    case_ok = True

    def check(ok, what):
        nonlocal case_ok
        if not ok:
            case_ok = False
            print("FAIL crosscheck:", what, file=sys.stderr)

    for i in range(cases):
        # One case = HKDF + seal + open + tampered open + pair derivation.
        if i:
            passed += case_ok
            failed += not case_ok
        case_ok = True
        # HKDF
        salt, ikm, info = rb(rng.randrange(0, 80)), rb(rng.randrange(0, 130)), rb(rng.randrange(0, 60))
        length = rng.randrange(1, 400)
        want = HKDF(hashes.SHA256(), length, salt or None, info).derive(ikm)
        got = tool.ask(f"hkdf {hx(salt)} {hx(ikm)} {hx(info)} {length:04x}")
        check(got == want.hex(), f"hkdf case {i}")

        # AES-256-GCM seal, then open of the genuine and of a tampered message
        key, nonce, aad, pt = rb(32), rb(12), rb(rng.randrange(0, 40)), rb(rng.randrange(0, 130))
        tag_len = rng.choice([4, 8, 12, 13, 14, 15, 16])
        ct, tag = gcm_encrypt(key, nonce, aad, pt, tag_len)
        got = tool.ask(f"seal {key.hex()} {nonce.hex()} {hx(aad)} {hx(pt)} {tag_len:02x}")
        check(got == f"{hx(ct)} {tag.hex()}", f"seal case {i}")
        if tag_len == 16:
            check(AESGCM(key).decrypt(nonce, ct + tag, aad) == pt, f"python open case {i}")
        got = tool.ask(f"open {key.hex()} {nonce.hex()} {hx(aad)} {hx(ct)} {tag.hex()}")
        check(got == hx(pt), f"open case {i}")
        bad = bytearray(tag + ct)
        bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
        bad_tag, bad_ct = bytes(bad[:tag_len]), bytes(bad[tag_len:])
        got = tool.ask(f"open {key.hex()} {nonce.hex()} {hx(aad)} {hx(bad_ct)} {bad_tag.hex()}")
        check(got == "AUTH", f"tampered open case {i}")

        # Pair derivation against the reference written from the spec
        h1, h2, s = rb(64), rb(64), rb(32)
        a, b, lct = rb(rng.randrange(1, 65)), rb(rng.randrange(1, 65)), rb(rng.randrange(1, 65))
        if a == b:
            b = bytes([a[0] ^ 1]) + a[1:]   # ids must differ
        ref = pair_reference.derive(h1, h2, s, a, b, lct)
        want = " ".join(ref[k].hex() for k in ("tx_key", "rx_key", "tx_fixed", "rx_fixed",
                                                "confirm_key", "key_id")) + f" {ref['self_is_low']}"
        got = tool.ask(f"pair {h1.hex()} {h2.hex()} {s.hex()} {a.hex()} {b.hex()} {lct.hex()}")
        check(got == want, f"pair case {i}")

    passed += case_ok
    failed += not case_ok
    tool.close()
    print(f"crosscheck: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
