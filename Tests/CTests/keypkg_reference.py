"""Independent reference for key packages (docs/PROVISIONING.md, section 3).

Rebuilds the worked example's keys with pyca/cryptography, verifies the app's
signature on the package that test_keypkg.c produces byte for byte
(EX_PACKAGE), opens it, checks every header field and prints the
intermediate values the document lists. Written from the
document, not from the C code.

Usage: python3 Tests/CTests/keypkg_reference.py     (exit 0 on success)
"""
import hashlib
import re
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HERE = Path(__file__).resolve().parent


def c_string(name):
    src = (HERE / "test_keypkg.c").read_text()
    m = re.search(r"static const char \*" + name + r" =\s*((?:\s*\"[0-9a-f]*\")+);", src)
    return bytes.fromhex("".join(re.findall(r"\"([0-9a-f]*)\"", m.group(1))))


def point(priv):
    return priv.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint)


def main():
    pkg, dev_pub = c_string("EX_PACKAGE"), c_string("EX_DEVICE_PUB")
    dev = ec.derive_private_key(int("11" * 32, 16), ec.SECP256R1())
    eph = ec.derive_private_key(int("22" * 32, 16), ec.SECP256R1())
    app = ec.derive_private_key(int("33" * 32, 16), ec.SECP256R1())
    assert point(dev) == dev_pub, "device public key"
    assert pkg[0:4] == b"MBKP" and pkg[4] == 1 and pkg[5] == 1, "magic, version, mode"
    assert pkg[6] == 1 and pkg[7] == 7, "role module, CAN id 7"
    assert int.from_bytes(pkg[8:12], "big") == 1 and pkg[12] == 1, "package version, pairs"
    c = pkg[13]
    hdr = 101 + c
    body_len = int.from_bytes(pkg[16:20], "big")
    signed = hdr + body_len + 16
    assert len(pkg) == signed + 64, "length"
    assert pkg[20:28] == hashlib.sha256(dev_pub).digest()[:8], "recipient key id"
    assert pkg[28:36] == hashlib.sha256(point(app)).digest()[:8], "signer key id"
    assert pkg[36:101] == point(eph), "ephemeral key"
    r, s = int.from_bytes(pkg[signed:signed + 32], "big"), int.from_bytes(pkg[signed + 32:], "big")
    app.public_key().verify(encode_dss_signature(r, s),
                            b"modbatt/keypkg/v1/sig" + pkg[:signed], ec.ECDSA(hashes.SHA256()))
    comp = pkg[101:hdr]
    z = dev.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), pkg[36:101]))
    okm = HKDF(hashes.SHA256(), 44, pkg[36:101] + dev_pub,
               b"modbatt/keypkg/v1" + bytes([c]) + comp).derive(z)
    body = AESGCM(okm[:32]).decrypt(okm[32:], pkg[hdr:signed], pkg[:hdr])
    assert body[1] == 1 and body[12:77] == point(app), "app key carried"
    e = body[78:]
    p = e[6]
    peer = e[7:7 + p]
    l = e[7 + p]
    lct = e[8 + p:8 + p + l]
    rest = e[8 + p + l:]
    assert comp == b"comp_module_07" and peer == b"comp_pack_0001"
    assert lct == b"lct_pack_0001_module_07"
    assert rest[:64] == bytes(range(64)) and rest[64:128] == bytes(range(64, 128))
    assert rest[128:160] == bytes(range(0xA0, 0xC0)) and len(rest) == 160
    assert e[2:6].hex() == "defd5402", "key id of docs/KEY_DERIVATION.md"
    for name, val in (("app", point(app)), ("Z", z), ("key", okm[:32]), ("iv", okm[32:]),
                      ("body", body)):
        print(f"{name:5} {val.hex()}")
    print("keypkg_reference: worked example OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
