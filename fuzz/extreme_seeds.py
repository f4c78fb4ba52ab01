#!/usr/bin/env python3
"""Writes the decoder fuzzer's extreme-value seeds into fuzz/corpus (run from the repository root).

Each is a well-formed MetricsBatch (field numbers of proto/gpulse/v1/metrics.proto) carrying one of
the values that once crashed or stalled the aggregator: times at the ends of int64, counters near
2^64, a sequence at 2^64-1, a NUL inside the node id, thousands of empty series. Hand-encoded, so
that the seeds do not depend on any protobuf library.
"""
import struct
from pathlib import Path


def varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field(number: int, wire: int, payload: bytes) -> bytes:
    return varint(number << 3 | wire) + payload


def uint(number: int, v: int) -> bytes:
    return field(number, 0, varint(v))


def length(number: int, payload: bytes) -> bytes:
    return field(number, 2, varint(len(payload)) + payload)


def series(kind: int = 1, subject: bytes = b"", offsets=(0,), values=(0.5,)) -> bytes:
    packed_offsets = b"".join(varint(o) for o in offsets)
    packed_values = b"".join(struct.pack("<f", v) for v in values)
    return uint(1, kind) + length(2, subject) + length(3, packed_offsets) + length(4, packed_values)


def batch(node=b"fuzz", session=1, seq=0, t0=1_700_000_000_000_000_000, dropped=0, extra=b"", body=None) -> bytes:
    out = length(1, node) + uint(2, session) + uint(3, seq) + length(4, b"pool") + uint(9, t0) + uint(11, dropped) + uint(12, 1)
    out += body if body is not None else length(10, series())
    return out + extra


SEEDS = {
    "extreme-t0-min": batch(t0=-(1 << 63)),
    "extreme-t0-max": batch(t0=(1 << 63) - 1, body=length(10, series(offsets=(0xFFFFFFFF,)))),
    "extreme-dropped-max": batch(dropped=(1 << 64) - 1),
    "extreme-seq-max": batch(seq=(1 << 64) - 1, session=(1 << 64) - 1),
    "extreme-nul-node-id": batch(node=b"gpu-a\x00gpu-b"),
    "extreme-empty-series": batch(body=length(10, b"") * 5000),
    "extreme-probe-losses": batch(extra=length(13, length(1, b"h:1") + uint(2, 0xFFFFFFFF)) * 100),
}

if __name__ == "__main__":
    corpus = Path("fuzz/corpus")
    corpus.mkdir(parents=True, exist_ok=True)
    for name, data in SEEDS.items():
        (corpus / f"{name}.bin").write_bytes(data)
        print(f"fuzz/corpus/{name}.bin: {len(data)} bytes")
