"""Seed inputs from Tests/Vectors/protocol-v2.json, in each harness's input
format (see the comment at the top of each fuzz_*.c):

  fuzz_canid      every vector frame: id, profile, len, data
  fuzz_reasm      each handshake and message, its frames in order
  fuzz_session    vector frames forged into an established pair, plus
                  genuine traffic scripts (send, deliver, rotate, replay)
  fuzz_handshake  the vector handshake frames injected, plus clean runs
  fuzz_payload    each vector plaintext with its decoder selector
  fuzz_xfer       a clean transfer of a vector wire message, both ends

Usage: python3 seed_vectors.py protocol-v2.json CORPUS_DIR"""
import binascii
import hashlib
import json
import os
import struct
import sys


def write(root, harness, data):
    d = os.path.join(root, harness)
    os.makedirs(d, exist_ok=True)
    name = "vec-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frames_of(session):
    for f in session["handshake"]:
        yield f
    for m in session["messages"]:
        for f in m["frames"]:
            yield f


def frame_bytes(f):
    return int(f["id"], 16), bytes.fromhex(f["data"])


def canid_seeds(root, sessions):
    for s in sessions:
        fd = 1 if s["profile"] == "fd" else 0
        for f in frames_of(s):
            cid, data = frame_bytes(f)
            write(root, "fuzz_canid", struct.pack(">IBB", cid, fd, len(data)) + data)


def reasm_seeds(root, sessions):
    for s in sessions:
        fd = 1 if s["profile"] == "fd" else 0
        groups = [s["handshake"]] + [m["frames"] for m in s["messages"]]
        for g in groups:
            out = bytes([fd])
            for f in g:
                cid, data = frame_bytes(f)
                out += struct.pack(">BIB", 1, cid, len(data)) + data
            write(root, "fuzz_reasm", out)


# fuzz_twonode.h operations: op byte = (kind << 1) | node (0 controller, 1 device)
SEND, DELIVER, FLIP, DROP, REPLAY, FORGE, TIME, REKEY, START, REORDER = range(10)


def op(kind, node, *args):
    return bytes([(kind << 1) | node]) + bytes(args)


def forge(node_target, cid, data):
    # forged frames go to the node named in the op; raw id form
    return op(FORGE, node_target) + b"\x00" + struct.pack(">IB", cid, len(data)) + data


def session_seeds(root, sessions):
    for s in sessions:
        fd = 1 if s["profile"] == "fd" else 0
        for m in s["messages"]:
            target = 1 if m["sender"] == "controller" else 0
            out = bytes([fd])
            for f in m["frames"]:
                cid, data = frame_bytes(f)
                out += forge(target, cid, data)
            write(root, "fuzz_session", out)
        hs = bytes([1 << 2 if fd else 0])
        for f in s["handshake"]:
            cid, data = frame_bytes(f)
            hs += forge(1 if f["sender"] == "controller" else 0, cid, data)
        write(root, "fuzz_handshake", hs)
    body = b"0123456789abcdefghijklmnopqrstuvwxyz"
    for fd in (0, 1):
        # each way, one message, delivered; rotation; replay; time
        script = (op(SEND, 0, 20, *body[:20], 4) + op(DELIVER, 0, 7) +
                  op(SEND, 1, 12, *body[:12], 6) + op(DELIVER, 1, 7) +
                  op(REKEY, 0) + op(SEND, 0, 9, *body[:9], 5) + op(DELIVER, 0, 7) +
                  op(REPLAY, 0, 1) + op(TIME, 0, 0x01, 0xF4) +
                  op(SEND, 0, 30, *body[:30], 8) + op(FLIP, 0, 9, 0x01) + op(DELIVER, 0, 7))
        write(root, "fuzz_session", bytes([fd]) + script)
        # handshake: controller starts, everything delivered; then a resync by the device
        hs = (op(START, 0) + op(DELIVER, 0, 7) + op(DELIVER, 1, 7) + op(DELIVER, 0, 7) +
              op(TIME, 0, 0x04, 0x00) + op(START, 1) + op(DELIVER, 1, 7) +
              op(DELIVER, 0, 7) + op(DELIVER, 1, 7))
        write(root, "fuzz_handshake", bytes([fd << 2]) + hs)
        write(root, "fuzz_handshake", bytes([(fd << 2) | 3]) + op(DELIVER, 0, 7) +
              op(DELIVER, 1, 7) + op(DELIVER, 0, 7) + op(DELIVER, 1, 7))


def payload_seeds(root, sessions):
    selector = {4: 0, 5: 1, 6: 2}
    for s in sessions:
        for m in s["messages"]:
            pt = bytes.fromhex(m["plaintext"])
            if m["type"] in selector:
                write(root, "fuzz_payload", bytes([selector[m["type"]]]) + pt)
            elif m["type"] == 7 and pt:
                write(root, "fuzz_payload", bytes([3 if pt[0] == 1 else 4]) + pt)


def crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def xfer_seeds(root, sessions):
    data_id = (0x410 << 18) | 0x07
    blob = bytes.fromhex(sessions[0]["messages"][0]["wire"])
    frames = [struct.pack(">HBBHH", 0, 0x5A, 1, len(blob), crc16(blob))]
    for k in range(1, (len(blob) + 5) // 6 + 1):
        frames.append(struct.pack(">H", k) + blob[(k - 1) * 6:k * 6])
    frames.append(struct.pack(">HIH", 0xFFFF, binascii.crc32(blob), 0))
    rx = bytes([0, 200])
    for f in frames:
        rx += bytes([1, 0, len(f)]) + f.ljust(8, b"\x00")
    write(root, "fuzz_xfer", rx)
    # sender: ACK each frame it would send (checksums differ: exercises retries)
    write(root, "fuzz_xfer", bytes([1, 40]) + b"".join(
        bytes([5, 8, 1]) + struct.pack(">HH", i, 0) + bytes([0x5A]) + struct.pack(">H", i + 1)
        for i in range(8)))
    # channel: deliver everything, then drops, duplicates, reorders
    write(root, "fuzz_xfer", bytes([2, 60]) + bytes([0] * 40))
    write(root, "fuzz_xfer", bytes([2, 200]) + bytes([0, 1, 2, 4, 0, 0, 3, 0, 5, 0, 2, 0] * 8))


def main():
    vectors, root = sys.argv[1], sys.argv[2]
    sessions = json.load(open(vectors))["sessions"]
    canid_seeds(root, sessions)
    reasm_seeds(root, sessions)
    session_seeds(root, sessions)
    payload_seeds(root, sessions)
    xfer_seeds(root, sessions)


if __name__ == "__main__":
    main()
