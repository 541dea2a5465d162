#!/usr/bin/python3
"""Explain every byte of a recorded msgpack_experimental_v7 session.

    decode_ws.py msgpack-session.jsonl [--note TEXT]... > msgpack-session.decoded.txt

Per (connection, direction): the HTTP upgrade head up to the blank line, then
RFC 6455 frames (payloads unmasked with the frame's key) whose payloads are
unpacked with the msgpack library the master and worker use
(unpackb(raw=False)).  Every payload must pack back to the same bytes with
packb(use_bin_type=True), and every byte must belong to a head or a frame.
The output format is described in docs/protocol/captures.md.
"""

import argparse
import json
import struct
import sys
from collections import defaultdict

import msgpack

OPCODES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


def shown(v, limit=300):
    """JSON-like text with msgpack bin shown as b'...'; long strings shortened."""
    if isinstance(v, bytes):
        return repr(v) if len(v) <= 96 else "%r...(%d bytes total)" % (v[:96], len(v))
    if isinstance(v, str) and len(v) > limit:
        return json.dumps(v[:limit], ensure_ascii=False) + "...(%d chars total)" % len(v)
    if isinstance(v, dict):
        return "{" + ", ".join("%s: %s" % (shown(k), shown(x)) for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(shown(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def msgpack_tokens(p):
    """(offset, length, depth, meaning) of every msgpack item in a payload."""
    out = []

    def item(pos, depth):
        b = p[pos]

        def add(length, text):
            out.append((pos, length, depth, text))

        def sized(kind, head, n, body):
            data = p[pos + head:pos + head + n]
            text = shown(data.decode("utf-8", "replace")) if body == "str" else repr(data)
            add(head + n, "%s %d %s" % (kind, n, text if len(text) <= 80 else text[:77] + "..."))
            return pos + head + n

        def container(kind, head, n, per):
            add(head, "%s %d" % (kind, n))
            at = pos + head
            for _ in range(n * per):
                at = item(at, depth + 1)
            return at

        if b <= 0x7f:
            add(1, "positive fixint %d" % b)
            return pos + 1
        if 0x80 <= b <= 0x8f:
            return container("fixmap", 1, b & 0x0f, 2)
        if 0x90 <= b <= 0x9f:
            return container("fixarray", 1, b & 0x0f, 1)
        if 0xa0 <= b <= 0xbf:
            return sized("fixstr", 1, b & 0x1f, "str")
        if b >= 0xe0:
            add(1, "negative fixint %d" % (b - 0x100))
            return pos + 1
        simple = {0xc0: "nil", 0xc2: "false", 0xc3: "true"}
        if b in simple:
            add(1, simple[b])
            return pos + 1
        lengths = {0xc4: ("bin8", 1, "bin"), 0xc5: ("bin16", 2, "bin"), 0xc6: ("bin32", 4, "bin"),
                   0xd9: ("str8", 1, "str"), 0xda: ("str16", 2, "str"), 0xdb: ("str32", 4, "str")}
        if b in lengths:
            kind, size, body = lengths[b]
            n = int.from_bytes(p[pos + 1:pos + 1 + size], "big")
            return sized(kind, 1 + size, n, body)
        numbers = {0xca: ("float32", ">f"), 0xcb: ("float64", ">d"), 0xcc: ("uint8", ">B"), 0xcd: ("uint16", ">H"),
                   0xce: ("uint32", ">I"), 0xcf: ("uint64", ">Q"), 0xd0: ("int8", ">b"), 0xd1: ("int16", ">h"),
                   0xd2: ("int32", ">i"), 0xd3: ("int64", ">q")}
        if b in numbers:
            kind, fmt = numbers[b]
            size = struct.calcsize(fmt)
            add(1 + size, "%s %r" % (kind, struct.unpack(fmt, p[pos + 1:pos + 1 + size])[0]))
            return pos + 1 + size
        containers = {0xdc: ("array16", 2, 1), 0xdd: ("array32", 4, 1), 0xde: ("map16", 2, 2), 0xdf: ("map32", 4, 2)}
        if b in containers:
            kind, size, per = containers[b]
            return container(kind, 1 + size, int.from_bytes(p[pos + 1:pos + 1 + size], "big"), per)
        raise ValueError("msgpack type byte 0x%02x (ext types are not used here)" % b)

    end = item(0, 0)
    if end != len(p):
        raise ValueError("payload has %d bytes after its value" % (len(p) - end))
    return out


def frames_of(data, start):
    """The frames from `start` on: (start, end, header bytes, fin, opcode, key, payload)."""
    out = []
    pos = start
    while pos < len(data):
        b0, b1 = data[pos], data[pos + 1]
        n = b1 & 0x7f
        head = 2
        if n == 126:
            n, head = struct.unpack(">H", data[pos + 2:pos + 4])[0], 4
        elif n == 127:
            n, head = struct.unpack(">Q", data[pos + 2:pos + 10])[0], 10
        key = bytes(data[pos + head:pos + head + 4]) if b1 & 0x80 else None
        if key:
            head += 4
        body = bytes(data[pos + head:pos + head + n])
        if len(body) != n:
            raise SystemExit("a frame at %d runs past the end of the stream" % pos)
        if key:
            body = bytes(c ^ key[i % 4] for i, c in enumerate(body))
        out.append((pos, pos + head + n, bytes(data[pos:pos + head]), b0 >> 7, b0 & 0x0f, key, body))
        pos += head + n
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("capture")
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("--title", default=None)
    opts = ap.parse_args()
    records = [json.loads(line) for line in open(opts.capture) if line.strip()]
    streams = defaultdict(bytearray)
    chunks = defaultdict(list)
    for i, r in enumerate(records):
        if r["type"] == "data":
            key = (r["conn"], r["dir"])
            at = len(streams[key])
            streams[key] += bytes.fromhex(r["hex"])
            chunks[key].append((at, len(streams[key]), i, r["t"]))

    items = []          # everything shown, in the order its last byte was recorded
    summary = {}
    for key, data in streams.items():
        end = data.find(b"\r\n\r\n")
        head_end = len(data) if end < 0 else end + 4
        parts = [(0, head_end, "head", None)]
        frames = [] if end < 0 else frames_of(data, head_end)
        parts += [(f[0], f[1], "frame", f) for f in frames]
        summary[key] = (head_end, len(frames), sum(e - s for s, e, _, _ in parts))
        for s, e, kind, f in parts:
            last = next(c for c in chunks[key] if c[0] < e <= c[1])
            first = next(c for c in chunks[key] if c[0] <= s < c[1])
            items.append({"conn": key[0], "dir": key[1], "start": s, "end": e, "kind": kind, "frame": f,
                          "raw": bytes(data[s:e]), "record": last[2], "first": first[2], "t": last[3]})
    items.sort(key=lambda x: (x["record"], x["end"]))

    lines = []
    w = lines.append
    w("msgpack_experimental_v7 capture decoded (%s)" % (opts.title or opts.capture))
    w("WebSocket frames parsed per RFC 6455; payloads decoded with msgpack %s unpackb(raw=False) as master and worker do."
      % ".".join(map(str, msgpack.version)))
    w("w2m = worker -> master (client, frames masked), m2w = master -> worker.  Offsets are per direction stream.")
    w('Notation: "text" = msgpack str, b\'...\' = msgpack bin, null/true/false, [array], {map}.')
    for note in opts.note:
        w("NOTE: " + note)
    w("")
    events = [(i, r) for i, r in enumerate(records) if r["type"] != "data"]
    requests = {}       # (conn, dir, seq) -> op
    repacked = 0

    def flush(upto):
        while events and events[0][0] < upto:
            _, r = events.pop(0)
            w("----- t=%.6f conn=%s %s" % (r["t"], r["conn"], json.dumps({k: v for k, v in r.items() if k not in ("t", "ts")})))

    for n, x in enumerate(items):
        flush(x["record"])
        where = ("chunk record #%d" % x["record"] if x["record"] == x["first"]
                 else "chunk records #%d..#%d" % (x["first"], x["record"]))
        w("=" * 100)
        span = "bytes [%d, %d) len=%d  (%s)" % (x["start"], x["end"], x["end"] - x["start"], where)
        if x["kind"] == "head":
            w("#%d  t=%.6f  %s  conn=%d  HTTP upgrade head  %s" % (n, x["t"], x["dir"], x["conn"], span))
            for line in x["raw"].decode("latin-1").split("\r\n"):
                w("  | " + line)
            continue
        start, end, header, fin, opcode, key, payload = x["frame"]
        w("#%d  t=%.6f  %s  conn=%d  frame %s" % (n, x["t"], x["dir"], x["conn"], span))
        w("  frame header %s : FIN=%d RSV=%d opcode=%d (%s) MASK=%d payload_len=%d%s"
          % (header.hex(" "), fin, (header[0] >> 4) & 7, opcode, OPCODES.get(opcode, "?"), 1 if key else 0,
             len(payload), " masking_key=%s" % key.hex() if key else ""))
        if opcode != 2:
            w("  payload: %r" % payload)
            continue
        value = msgpack.unpackb(payload, raw=False)
        if msgpack.packb(value, use_bin_type=True) != payload:
            raise SystemExit("#%d: msgpack packs this value differently" % n)
        repacked += 1
        if isinstance(value, dict):
            op, seq = value.get("op"), value.get("seq_number")
            other = "m2w" if x["dir"] == "w2m" else "w2m"
            if op == "response":
                asked = requests.get((x["conn"], other, seq))
                about = ""
                if asked:
                    about = "  (answers %s seq_number=%s%s)" % (
                        shown(asked[0]), shown(seq), "" if asked[1] is None else " command_id=%s" % shown(asked[1]))
                w("  MSGPACK op=%s seq_number=%s%s" % (shown(op), shown(seq), about))
            else:
                requests[(x["conn"], x["dir"], seq)] = (op, value.get("command_id"))
                w("  MSGPACK op=%s seq_number=%s" % (shown(op), shown(seq)))
        w("  value: %s" % shown(value))
        w("  msgpack tokens (payload offset: hex  meaning):")
        for off, length, depth, text in msgpack_tokens(payload):
            hx = payload[off:off + length].hex(" ")
            w("    %05d: %-48s %s%s" % (off, hx if len(hx) <= 48 else hx[:44] + " ...", "  " * depth, text))
    flush(len(records))
    w("=" * 100)
    w("ACCOUNTING")
    for key in sorted(streams):
        head, nframes, covered = summary[key]
        total = len(streams[key])
        w("  conn %d %s: %d bytes in %d chunks = HTTP head %d + %d frames; covered %d, unaccounted %d"
          % (key[0], key[1], total, len(chunks[key]), head, nframes, covered, total - covered))
    w("  all %d msgpack payloads re-pack byte-identically with msgpack.packb(use_bin_type=True)" % repacked)
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
