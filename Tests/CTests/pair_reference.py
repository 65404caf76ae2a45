"""Independent reference of mb_pair_derive (docs/KEY_DERIVATION.md), written
from the spec on top of Python's `cryptography` HKDF. The C cross-check and
the worked example in the docs both come from this file."""
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LABEL = b"modbatt/pair/v1"


def _id_key(b: bytes):
    # Bytewise order, the shorter id first on a common prefix (Python's bytes order).
    return b


def derive(half_1: bytes, half_2: bytes, salt: bytes, self_id: bytes, peer_id: bytes, lct_id: bytes) -> dict:
    assert len(half_1) == 64 and len(half_2) == 64 and len(salt) == 32
    assert half_1 != half_2 and self_id != peer_id
    ikm = min(half_1, half_2) + max(half_1, half_2)
    self_is_low = self_id < peer_id
    lo, hi = (self_id, peer_id) if self_is_low else (peer_id, self_id)
    info = LABEL + bytes([len(lo)]) + lo + bytes([len(hi)]) + hi + bytes([len(lct_id)]) + lct_id
    okm = HKDF(algorithm=hashes.SHA256(), length=108, salt=salt, info=info).derive(ikm)
    key_lo_hi, key_hi_lo = okm[0:32], okm[32:64]
    fix_lo_hi, fix_hi_lo = okm[64:68], okm[68:72]
    out = {
        "info": info,
        "okm": okm,
        "tx_key": key_lo_hi if self_is_low else key_hi_lo,
        "rx_key": key_hi_lo if self_is_low else key_lo_hi,
        "tx_fixed": fix_lo_hi if self_is_low else fix_hi_lo,
        "rx_fixed": fix_hi_lo if self_is_low else fix_lo_hi,
        "confirm_key": okm[72:104],
        "key_id": okm[104:108],
        "self_is_low": 1 if self_is_low else 0,
    }
    return out


WORKED_EXAMPLE = dict(
    half_1=bytes(range(0x00, 0x40)),
    half_2=bytes(range(0x40, 0x80)),
    salt=bytes(range(0xA0, 0xC0)),
    self_id=b"comp_pack_0001",
    peer_id=b"comp_module_07",
    lct_id=b"lct_pack_0001_module_07",
)

if __name__ == "__main__":
    ex = WORKED_EXAMPLE
    for k, v in ex.items():
        print(f"{k:12} = {v.hex() if k.startswith(('half', 'salt')) else v.decode()}")
    r = derive(**ex)
    for k in ("info", "okm", "tx_key", "rx_key", "tx_fixed", "rx_fixed", "confirm_key", "key_id"):
        print(f"{k:12} = {r[k].hex()}")
    print(f"self_is_low  = {r['self_is_low']}")
