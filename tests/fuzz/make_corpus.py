#!/usr/bin/env python3
"""Writes the seed corpus of the frame_decoder fuzz target (tests/fuzz/corpus/frame_decoder/).

One valid packet of every MQTT 3.1.1 type, a multi-frame stream, and malformed
frames that hit each decode_error. Re-run after changing it; files are named
after their content. Crash inputs found by libFuzzer are added by hand as
crash-<what>.bin and are not touched by this script.
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "frame_decoder")


def rl(n):
    out = bytearray()
    while True:
        d = n % 128
        n //= 128
        out.append(d | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">H", len(b)) + b


def pkt(header, body):
    return bytes([header]) + rl(len(body)) + body


connect_full = pkt(0x10, s("MQTT") + bytes([4, 0xEE]) + struct.pack(">H", 60) + s("dev-1")
                   + s("will/t") + s(b"bye") + s("user") + s(b"\x00pw"))
SEEDS = {
    "connect_minimal": pkt(0x10, s("MQTT") + bytes([4, 0x02]) + struct.pack(">H", 30) + s("c")),
    "connect_full": connect_full,
    "connect_mqisdp": pkt(0x10, s("MQIsdp") + bytes([3, 0x02, 0, 10]) + s("old")),
    "connack": pkt(0x20, bytes([1, 0])),
    "publish_qos0": pkt(0x30, s("a/b") + b"hello"),
    "publish_qos1_dup_retain": pkt(0x3B, s("sensors/t-1") + struct.pack(">H", 7) + b"\x01\x02"),
    "publish_qos2_empty_payload": pkt(0x34, s("x") + struct.pack(">H", 65535)),
    "puback": pkt(0x40, struct.pack(">H", 1)),
    "pubrec": pkt(0x50, struct.pack(">H", 2)),
    "pubrel": pkt(0x62, struct.pack(">H", 3)),
    "pubcomp": pkt(0x70, struct.pack(">H", 4)),
    "subscribe": pkt(0x82, struct.pack(">H", 10) + s("a/+") + b"\x01" + s("b/#") + b"\x02"),
    "suback": pkt(0x90, struct.pack(">H", 10) + bytes([0, 1, 2, 0x80])),
    "unsubscribe": pkt(0xA2, struct.pack(">H", 11) + s("a/+") + s("c")),
    "unsuback": pkt(0xB0, struct.pack(">H", 11)),
    "pingreq": pkt(0xC0, b""),
    "pingresp": pkt(0xD0, b""),
    "disconnect": pkt(0xE0, b""),
    "stream_three_frames": pkt(0xC0, b"") + pkt(0x30, s("t") + b"p") + pkt(0xE0, b""),
    "publish_rl_two_bytes": pkt(0x30, s("big") + b"z" * 200),
    "bad_reserved_type_15": b"\xF0\x00",
    "bad_rl_five_bytes": b"\x30\xFF\xFF\xFF\xFF\x01",
    "bad_too_large_header_only": b"\x30\x81\x80\x02",
    "bad_rl_noncanonical_accepted": b"\xC0\x80\x00",
    "bad_pubrel_flags": pkt(0x60, struct.pack(">H", 3)),
    "bad_publish_qos3": pkt(0x36, s("t") + struct.pack(">H", 1)),
    "bad_connect_reserved_flag": pkt(0x10, s("MQTT") + bytes([4, 0x03, 0, 0]) + s("c")),
    "bad_utf8_surrogate": pkt(0x30, s(b"a\xED\xA0\x80") + b"p"),
    "bad_subscribe_qos3": pkt(0x82, struct.pack(">H", 1) + s("a") + b"\x03"),
    "bad_unsubscribe_empty": pkt(0xA2, struct.pack(">H", 1)),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name + ".bin"), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds written to {OUT}")


if __name__ == "__main__":
    main()
