#!/usr/bin/python3
"""Explain every byte of a recorded PB session, using Twisted's own banana and jelly.

    decode_pb.py pb-session.jsonl [--password P] [--note TEXT]... > pb-session.decoded.txt

For each (connection, direction) the bytes are fed to a twisted.spread.banana
decoder one at a time, so the offset where Twisted completes each top-level
expression is its exact end; the first expression of a direction is read
without a dialect and the rest in the 'pb' dialect, as on the real link.  The
stream is decoded again chunk by chunk as recorded (same result, nothing left
over) and every expression is re-encoded with Twisted's encoder (same bytes).
Message arguments and results are unjellied with Twisted's jelly (its
globalSecurity, as a broker uses).  The output format is described in
docs/protocol/captures.md; tests read the '#N' header lines and the
'banana tree:' lines.
"""

import argparse
import hashlib
import json
import struct
import sys
from collections import defaultdict

import twisted
from twisted.spread import banana, jelly, pb

TYPES = {0x80: "LIST", 0x81: "INT", 0x82: "STRING", 0x83: "NEG", 0x84: "FLOAT",
         0x85: "LONGINT", 0x86: "LONGNEG", 0x87: "VOCAB"}
WORDS = banana.Banana.incomingVocabulary
OTHER = {"w2m": "m2w", "m2w": "w2m"}


class Collector(banana.Banana):
    """A banana receiver that only collects: no transport, the dialect set by the caller."""

    def __init__(self, first_dialect=None, then=b"pb"):
        banana.Banana.__init__(self, isClient=1)
        self.setPrefixLimit(banana._PREFIX_LIMIT)
        self.currentDialect = first_dialect
        self.then = then
        self.got = []

    def callExpressionReceived(self, obj):
        self.got.append(obj)
        self.currentDialect = self.then


def encode(expr, dialect):
    enc = banana.Banana(isClient=1)
    enc.setPrefixLimit(banana._PREFIX_LIMIT)
    enc.currentDialect = dialect
    parts = []
    enc._encode(expr, parts.append)
    return b"".join(parts)


def bytes_text(b, limit=96):
    return repr(b) if len(b) <= limit else "%r...(%d bytes total)" % (b[:limit], len(b))


def tree(x, limit=96):
    """The banana tree as Python prints it, long byte strings shortened."""
    if isinstance(x, list):
        return "[" + ", ".join(tree(i, limit) for i in x) + "]"
    if isinstance(x, bytes):
        return bytes_text(x, limit)
    return repr(x)


def tokens(raw, base):
    """(offset, length, depth, meaning) of every banana token in one expression."""
    out = []
    pos = 0
    todo = [1]          # elements still expected at each open list level
    while pos < len(raw):
        start = pos
        while raw[pos] < 0x80:
            pos += 1
        num = 0
        for i, c in enumerate(raw[start:pos]):
            num |= c << (7 * i)
        kind = TYPES[raw[pos]]
        pos += 1
        depth = len(todo) - 1
        todo[-1] -= 1
        if kind == "LIST":
            text = "LIST  len=%d" % num
            todo.append(num)
        elif kind == "STRING":
            text = "STRING len=%d %s" % (num, bytes_text(raw[pos:pos + num]))
            pos += num
        elif kind == "FLOAT":
            text = "FLOAT %r" % struct.unpack("!d", raw[pos:pos + 8])[0]
            pos += 8
        elif kind == "VOCAB":
            text = "VOCAB %d = %r" % (num, WORDS.get(num))
        else:
            text = "%s %s%d" % (kind, "-" if "NEG" in kind else "", num)
        out.append((base + start, pos - start, depth, text))
        while len(todo) > 1 and todo[-1] == 0:
            todo.pop()
    return out


class Broker:
    """What jelly.unjelly asks of a broker when it meets remote/local references."""
    unserializingPerspective = None

    def sendDecRef(self, luid):
        pass

    def localObjectForID(self, luid):
        return Mine(luid)

    def cachedLocallyAs(self, luid):
        return Mine(luid)


class Mine:
    """['local', n]: the receiver's own object n."""

    def __init__(self, luid):
        self.luid = luid


def unjelly(sexp):
    return jelly.unjelly(sexp, jelly.globalSecurity, None, Broker())


def show(v, limit=200):
    if isinstance(v, pb.RemoteReference):
        return "RemoteRef(luid=%r)" % (v.luid,)
    if isinstance(v, Mine):
        return "LocalRef(luid=%r)" % (v.luid,)
    if isinstance(v, pb.CopiedFailure):
        state = v.__dict__
        tb = state.get("traceback")
        return "CopiedFailure(type=%s, value=%s, traceback=<%d chars>, state keys=%s)" % (
            show(state.get("type")), show(state.get("value")),
            len(tb) if isinstance(tb, (str, bytes)) else -1, sorted(state))
    if isinstance(v, bytes):
        return bytes_text(v, limit)
    if isinstance(v, str):
        return repr(v) if len(v) <= limit else "%r...(%d chars total)" % (v[:limit], len(v))
    if isinstance(v, tuple):
        return "(%s%s)" % (", ".join(show(i, limit) for i in v), "," if len(v) == 1 else "")
    if isinstance(v, list):
        return "[%s]" % ", ".join(show(i, limit) for i in v)
    if isinstance(v, dict):
        return "{%s}" % ", ".join("%s: %s" % (show(k, limit), show(i, limit)) for k, i in v.items())
    return repr(v)


def references(v, where=""):
    if isinstance(v, pb.RemoteReference):
        yield where, v.luid
    elif isinstance(v, (list, tuple)):
        for i, x in enumerate(v):
            yield from references(x, "%s[%d]" % (where, i))
    elif isinstance(v, dict):
        for k, x in v.items():
            yield from references(x, "%s[%r]" % (where, k))


def load(path):
    records = [json.loads(line) for line in open(path) if line.strip()]
    streams = defaultdict(bytearray)
    chunks = defaultdict(list)        # (conn, dir) -> [(start, end, record index, t)]
    for i, r in enumerate(records):
        if r["type"] == "data":
            data = bytes.fromhex(r["hex"])
            if len(data) != r["len"]:
                raise SystemExit("record %d: len %d but %d bytes" % (i, r["len"], len(data)))
            key = (r["conn"], r["dir"])
            at = len(streams[key])
            streams[key] += data
            chunks[key].append((at, at + len(data), i, r["t"]))
    return records, streams, chunks


def split(key, data, spans):
    """The expressions of one stream with their byte ranges, checked three ways."""
    whole = Collector()
    for s, e, _, _ in spans:
        whole.dataReceived(bytes(data[s:e]))
    if whole.buffer:
        raise SystemExit("%r: %d bytes left undecoded" % (key, len(whole.buffer)))
    bytewise = Collector()
    ends = []
    for i in range(len(data)):
        before = len(bytewise.got)
        bytewise.dataReceived(bytes(data[i:i + 1]))
        if len(bytewise.got) > before:
            if len(bytewise.got) != before + 1:
                raise SystemExit("%r: two expressions ended at byte %d" % (key, i))
            ends.append(i + 1)
    if bytewise.got != whole.got:
        raise SystemExit("%r: chunked and byte-wise decoding differ" % (key,))
    out = []
    start = 0
    for n, (expr, end) in enumerate(zip(whole.got, ends)):
        raw = bytes(data[start:end])
        if encode(expr, None if n == 0 else b"pb") != raw:
            raise SystemExit("%r expression %d: Twisted re-encodes it differently" % (key, n))
        last = next(c for c in spans if c[0] < end <= c[1])
        first = next(c for c in spans if c[0] <= start < c[1])
        out.append({"conn": key[0], "dir": key[1], "index": n, "start": start, "end": end, "raw": raw,
                    "expr": expr, "record": last[2], "first_record": first[2], "t": last[3]})
        start = end
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("capture")
    ap.add_argument("--password", help="the worker's password, to check newcred responses")
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("--title", default=None, help="name of the capture in the first line")
    opts = ap.parse_args()
    records, streams, chunks = load(opts.capture)

    messages = []
    for key in sorted(streams):
        messages += split(key, streams[key], chunks[key])
    messages.sort(key=lambda m: (m["record"], m["end"]))

    lines = []
    w = lines.append
    w("PB capture decoded with Twisted %s banana/jelly (%s)" % (twisted.__version__, opts.title or opts.capture))
    w("direction w2m = worker -> master, m2w = master -> worker; offsets are per direction stream.")
    w("Notation: 'text' = jelly unicode (['unicode', utf8]), b'raw' = banana byte string,")
    w("  (a, b) = jelly tuple, [a] = jelly list, {k: v} = jelly dictionary,")
    w("  RemoteRef(luid=n) = ['remote', n] (a reference to an object living on the SENDER).")
    for note in opts.note:
        w("NOTE: " + note)
    w("")

    names = {}         # (conn, dir the reference was sent in, luid) -> role
    calls = {}         # (conn, dir of the call, request id) -> (object, method)
    challenge = {}

    def name(conn, direction, value, role):
        for where, luid in references(value):
            names.setdefault((conn, direction, luid), role + where)

    def target(conn, direction, obj):
        if obj == b"root" and direction == "w2m":
            return " (root object: the master's _PortalWrapper)"
        role = names.get((conn, OTHER[direction], obj))
        return " (%s)" % role if role else ""

    events = [(i, r) for i, r in enumerate(records) if r["type"] != "data"]

    def flush_events(upto):
        while events and events[0][0] < upto:
            _, r = events.pop(0)
            w("----- t=%.6f conn=%s %s" % (r["t"], r["conn"], json.dumps({k: v for k, v in r.items() if k not in ("t", "ts")})))

    for number, m in enumerate(messages):
        flush_events(m["record"])
        conn, d, x = m["conn"], m["dir"], m["expr"]
        where = ("chunk record #%d" % m["record"] if m["record"] == m["first_record"]
                 else "chunk records #%d..#%d" % (m["first_record"], m["record"]))
        w("=" * 100)
        w("#%d  t=%.6f  %s  conn=%d  expr %d of this direction  bytes [%d, %d) len=%d  (%s)"
          % (number, m["t"], d, conn, m["index"], m["start"], m["end"], m["end"] - m["start"], where))
        if m["index"] == 0:
            w("  BANANA %s: %s" % ("dialect offer from server (sent before any dialect is active)" if d == "m2w"
                                   else "dialect choice from client (sent before switching)", tree(x)))
        elif isinstance(x, list) and x and isinstance(x[0], bytes):
            cmd = x[0].decode()
            if cmd in ("message", "cachemessage") and len(x) == 7:
                _, req, obj, method, answer, args, kw = x
                args, kw = unjelly(args), unjelly(kw)
                calls[(conn, d, req)] = (obj, method)
                w("  PB %s  requestID=%r  objectID=%r%s  method=%r  answerRequired=%r"
                  % (cmd, req, obj, target(conn, d, obj), method, answer))
                w("     args = %s" % show(args))
                w("     kw   = %s" % show(kw))
                if method == b"respond":
                    name(conn, d, args[1:], "client mind object = worker Bot, respond args")
                    if opts.password and conn in challenge:
                        pw = opts.password.encode()
                        want = hashlib.md5(hashlib.md5(pw).digest() + challenge[conn]).digest()
                        w("     digest check: md5(md5(%r) + challenge) = %s -> %s"
                          % (pw, want.hex(), "MATCHES args[0]" if want == args[0] else "MISMATCH"))
                elif method == b"startCommand":
                    name(conn, d, args[:1], "RemoteCommand for command id %r (%s), startCommand args" % (args[1], args[2]))
                    name(conn, d, args[3:], "%s helper, startCommand args[3]" % args[2])
                else:
                    name(conn, d, args, "%s args" % method.decode())
            elif cmd in ("answer", "error") and len(x) == 3:
                value = unjelly(x[2])
                obj, method = calls.pop((conn, OTHER[d], x[1]), (None, None))
                w("  PB %s  requestID=%r  (answers %s on objectID %r)" % (cmd, x[1], method, obj))
                w("     %s = %s" % ("result" if cmd == "answer" else "failure", show(value)))
                if cmd == "answer":
                    if method == b"login":
                        name(conn, d, value, "challenger (_PortalAuthChallenger), login result")
                        challenge[conn] = value[0]
                    elif method == b"respond":
                        name(conn, d, value, "perspective = master-side worker Connection (pb.Avatar), respond result")
                    elif method == b"setBuilderList" and isinstance(value, dict):
                        for builder, ref in value.items():
                            if isinstance(ref, pb.RemoteReference):
                                names.setdefault((conn, d, ref.luid), "WorkerForBuilder %r" % (builder,))
                    else:
                        name(conn, d, value, "%s result" % (method.decode() if method else "?"))
            elif cmd in ("decref", "decache", "uncache") and len(x) == 2:
                w("  PB %s  objectID=%r%s" % (cmd, x[1], target(conn, d, x[1])))
            elif cmd == "version":
                w("  PB version  %r" % (x[1],))
            else:
                w("  PB (unrecognised) %s" % tree(x))
        else:
            w("  (not a list) %r" % (x,))
        w("  banana tree: %s" % tree(x))
        w("  tokens (offset: hex  meaning):")
        for off, length, depth, text in tokens(m["raw"], m["start"]):
            hx = m["raw"][off - m["start"]:off - m["start"] + length].hex(" ")
            w("    %06d: %-60s %s%s" % (off, hx if len(hx) <= 60 else hx[:57] + "...", "  " * depth, text))
    flush_events(len(records))
    w("=" * 100)
    w("ACCOUNTING")
    for key in sorted(streams):
        mine = [m for m in messages if (m["conn"], m["dir"]) == key]
        covered = sum(m["end"] - m["start"] for m in mine)
        w("  conn %d %s: %d bytes in %d chunks, %d banana expressions covering %d bytes, %d bytes unaccounted; "
          "Twisted whole-stream decode left 0 bytes buffered"
          % (key[0], key[1], len(streams[key]), len(chunks[key]), len(mine), covered, len(streams[key]) - covered))
        w("    re-encoding all %d expressions with Twisted's banana encoder (same dialect) reproduces these %d bytes exactly"
          % (len(mine), len(streams[key])))
    w("  Object names used above (conn, direction in which ['remote', luid] was sent, luid -> role):")
    for (c, d, luid), role in sorted(names.items(), key=lambda kv: (kv[0][0], kv[0][1], isinstance(kv[0][2], bytes), kv[0][2])):
        w("    conn %d %s %r: %s" % (c, d, luid, role))
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
