#!/usr/bin/env python3
"""python-can talks to the Modbatt virtual bus through its socketcand server.

Run by SocketcandServerTests (Swift). Usage:
    socketcand_roundtrip.py HOST PORT CHANNEL

1. Two python-can buses (interface="socketcand") open CHANNEL.
2. bus_a sends an 11-bit and a 29-bit frame; the Swift side receives them.
3. The Swift side answers with frames that both python-can buses must see;
   it also sends a CAN FD frame, which python-can's socketcand client cannot
   parse (it logs a warning and skips it) -- checked here as "not seen".
4. bus_b must also have seen bus_a's frames (multi-client on one bus), and
   bus_a must not see its own frames.
Prints one JSON object on stdout; exit 0 on success, 1 on a failed check,
3 if python-can is not installed.
"""
import json
import logging
import sys
import time

try:
    import can
except ImportError:
    print("HINT: python-can is not installed: run `python3 -m pip install python-can`", file=sys.stderr)
    sys.exit(3)

logging.basicConfig(level=logging.ERROR)


def collect(bus, want, timeout):
    got = []
    deadline = time.time() + timeout
    while len(got) < want and time.time() < deadline:
        msg = bus.recv(timeout=0.1)
        if msg is not None:
            got.append(msg)
    return got


def describe(msg):
    return {
        "id": msg.arbitration_id,
        "extended": msg.is_extended_id,
        "data": msg.data.hex(),
        "fd": msg.is_fd,
        "timestamp": msg.timestamp,
    }


def main():
    host, port, channel = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    bus_a = can.Bus(interface="socketcand", host=host, port=port, channel=channel)
    bus_b = can.Bus(interface="socketcand", host=host, port=port, channel=channel)
    failures = []
    try:
        # Let both sessions reach raw mode on the server before traffic starts.
        time.sleep(0.2)
        bus_a.send(can.Message(arbitration_id=0x123, is_extended_id=False, data=[0x01, 0x02, 0x03]))
        bus_a.send(can.Message(arbitration_id=0x1ABCDEF0, is_extended_id=True, data=bytes(range(8))))
        bus_a.send(can.Message(arbitration_id=0x7FF, is_extended_id=False, data=[]))

        # The Swift side replies after it got our three frames; the last reply is 0x321#FF.
        seen_a = collect(bus_a, 3, 25.0)  # bounds a hang only: returns once 3 arrived
        seen_b = collect(bus_b, 6, 25.0)
        extra_a = collect(bus_a, 1, 0.3)
    finally:
        bus_a.shutdown()
        bus_b.shutdown()

    a = [describe(m) for m in seen_a + extra_a]
    b = [describe(m) for m in seen_b]
    expected_replies = [
        {"id": 0x456, "extended": False, "data": "cafe"},
        {"id": 0x18FF50E5, "extended": True, "data": "0011223344556677"},
        {"id": 0x321, "extended": False, "data": "ff"},
    ]
    strip = lambda items: [{k: d[k] for k in ("id", "extended", "data")} for d in items]
    if strip(a) != expected_replies:
        failures.append(f"bus_a saw {strip(a)}, expected {expected_replies} (no own frames, no FD frame)")
    ours = [
        {"id": 0x123, "extended": False, "data": "010203"},
        {"id": 0x1ABCDEF0, "extended": True, "data": "0001020304050607"},
        {"id": 0x7FF, "extended": False, "data": ""},
    ]
    if strip(b) != ours + expected_replies:
        failures.append(f"bus_b saw {strip(b)}, expected {ours + expected_replies}")
    if any(d["timestamp"] <= 0 for d in a + b):
        failures.append("timestamps must be positive")
    print(json.dumps({"python_can": can.__version__, "bus_a": a, "bus_b": b, "failures": failures}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
