#!/usr/bin/python3
"""Encoder vectors made by Twisted itself: value -> jelly -> banana, and newcred digests.

    vectors.py [--capture pb-session.jsonl] > banana-vectors.json

Each value vector: jelly.jelly(value) gives the s-expression; Twisted's banana
encoder gives its bytes in the 'pb' dialect (vocabulary words as VOCAB tokens,
as on a PB link after negotiation) and with no dialect (the first expression of
a link); both decode to the same tree and unjelly gives the value back.  Whole
PB frames are encoded the way a broker sends them.  Digest vectors are
md5(md5(password) + challenge) as twisted.spread.pb.respond computes it, plus
the challenge/response pairs of the recorded logins when --capture is given.
The JSON layout is described in docs/protocol/captures.md.
"""

import argparse
import hashlib
import json
import math
import struct
import sys

import twisted
from twisted.spread import banana, jelly, pb

from decode_pb import Collector, encode, load, split

PASSWORDS = {"pb-secret": True, "wrong-password": False}   # the recorded logins


def decode(data, dialect):
    c = Collector(first_dialect=dialect, then=dialect)
    c.dataReceived(data)
    assert not c.buffer and len(c.got) == 1, "one whole expression"
    return c.got[0]


def sexp_json(s):
    if isinstance(s, (list, tuple)):        # a RemoteReference jellies as a tuple
        return [sexp_json(x) for x in s]
    if isinstance(s, bytes):
        out = {"b": s.hex()}
        if all(0x20 <= c < 0x7f for c in s):
            out["text"] = s.decode("ascii")
        return out
    if isinstance(s, bool):
        raise TypeError("a bool in a banana tree")
    if isinstance(s, int):
        return {"i": str(s)}
    if isinstance(s, float):
        return {"f": struct.pack("!d", s).hex()}
    raise TypeError(type(s))


class Tagger:
    """A Python value as JSON; containers listed in `shared` get an id so identity survives."""

    def __init__(self, shared):
        self.shared = {id(x) for x in shared}
        self.ids = {}

    def __call__(self, v):
        if id(v) in self.ids:
            return {"t": "same", "id": self.ids[id(v)]}
        if v is None:
            return {"t": "none"}
        if isinstance(v, bool):
            return {"t": "bool", "v": v}
        if isinstance(v, int):
            return {"t": "int", "v": str(v)}
        if isinstance(v, float):
            shown = "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else v
            return {"t": "float", "v": shown, "ieee754_be": struct.pack("!d", v).hex()}
        if isinstance(v, bytes):
            return {"t": "bytes", "hex": v.hex()}
        if isinstance(v, str):
            return {"t": "str", "v": v}
        ident = None
        if id(v) in self.shared:
            ident = self.ids[id(v)] = "s%d" % (len(self.ids) + 1)
        if isinstance(v, dict):
            body = {"t": "dict", "items": [[self(k), self(x)] for k, x in v.items()]}
        else:
            body = {"t": type(v).__name__, "items": [self(x) for x in v]}
        return {"t": "shared", "id": ident, "value": body} if ident else body


def equal(a, b, seen=None):
    """Structural equality that copes with cycles and NaN."""
    seen = set() if seen is None else seen
    if (id(a), id(b)) in seen:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)):
        seen.add((id(a), id(b)))
        return len(a) == len(b) and all(equal(x, y, seen) for x, y in zip(a, b))
    if isinstance(a, dict):
        seen.add((id(a), id(b)))
        return list(a) == list(b) and all(equal(a[k], b[k], seen) for k in a)
    return a == b


def short(text, n):
    return text if len(text) < n else text[:n] + "..."


def value_vector(name, value, note=None, shared=()):
    sexp = jelly.jelly(value)
    in_pb, in_none = encode(sexp, b"pb"), encode(sexp, b"none")
    assert equal(decode(in_pb, b"pb"), decode(in_none, b"none")), name
    back = jelly.unjelly(decode(in_pb, b"pb"))
    assert equal(back, value), name
    out = {"name": name, "python": short(repr(value), 300), "value": Tagger(shared)(value),
           "sexp": sexp_json(sexp), "sexp_repr": short(repr(sexp), 400),
           "banana_pb_hex": in_pb.hex(), "banana_none_hex": in_none.hex(), "roundtrip_ok": True}
    if note:
        out["note"] = note
    return out


def frame(name, sexp, note=None):
    data = encode(sexp, b"pb")
    assert decode(data, b"pb") == sexp, name
    out = {"name": name, "sexp": sexp_json(sexp), "sexp_repr": repr(sexp), "banana_pb_hex": data.hex()}
    if note:
        out["note"] = note
    return out


def recorded_logins(path):
    """The challenge and response of every login in a PB recording."""
    records, streams, chunks = load(path)
    out = []
    for conn in sorted({c for c, _ in streams}):
        exprs = {d: [m["expr"] for m in split((conn, d), streams[(conn, d)], chunks[(conn, d)])]
                 for d in ("w2m", "m2w")}
        calls = [e for e in exprs["w2m"] if isinstance(e, list) and e[:1] == [b"message"]]
        login = next(e for e in calls if e[3] == b"login")
        answer = next(e for e in exprs["m2w"] if isinstance(e, list) and e[:2] == [b"answer", login[1]])
        challenge = answer[2][1]        # the answer is the tuple (challenge, challenger)
        response = next(e for e in calls if e[3] == b"respond")[5][1]
        for password, accepted in PASSWORDS.items():
            if pb.respond(challenge, password.encode()) == response:
                break
        else:
            raise SystemExit("conn %d: no known password gives the recorded response" % conn)
        out.append({"source": "pb-session.jsonl connection %d" % conn, "username": login[5][1].decode(),
                    "challenge_hex": challenge.hex(), "response_hex": response.hex(),
                    "password_utf8": password, "md5_password_hex": hashlib.md5(password.encode()).hexdigest(),
                    "master_accepted": accepted, "formula": "md5(md5(password) || challenge)"})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--capture", help="a PB recording whose logins to add as digest vectors")
    opts = ap.parse_args()

    values = []
    for n, note in [(0, "zero: one 0x00 prefix byte"), (1, None), (127, "the largest one-byte prefix"),
                    (128, "two prefix bytes, base 128, least significant first: 00 01"), (300, None),
                    (2 ** 31 - 1, "the largest INT"), (2 ** 31, "beyond INT: LONGINT (0x85)"),
                    (-1, "NEG (0x83) carries the magnitude"), (-(2 ** 31), "the smallest NEG"),
                    (-(2 ** 31) - 1, "LONGNEG (0x86)"), (2 ** 64, "LONGINT"), (-(2 ** 70), "LONGNEG")]:
        values.append(value_vector("int %d" % n, n, note))
    for f in [0.0, -0.0, 1.5, -2.25, 0.1, 1e300, float("inf"), float("nan")]:
        values.append(value_vector("float %r" % f, f, "FLOAT: 0x84 then the IEEE-754 double, big-endian; no prefix"))
    values += [
        value_vector("bytes empty", b""),
        value_vector("bytes ascii", b"hello"),
        value_vector("bytes binary", b"\x00\xff\x80\x7f"),
        value_vector("bytes 200 long", b"x" * 200, "prefix 200 is c8 = 48 01 in base 128"),
        value_vector("bytes equal to a vocabulary word", b"message",
                     "in the pb dialect every byte string that is a vocabulary word goes as VOCAB"),
        value_vector("str empty", ""),
        value_vector("str ascii", "hello"),
        value_vector("str non-ASCII", "h\u00e9llo \u2713", "['unicode', UTF-8]; 'unicode' is not a vocabulary word"),
        value_vector("str astral", "\U0001F600", "four UTF-8 bytes: one Python character, two UTF-16 units"),
        value_vector("str equal to a vocabulary word", "message", "the UTF-8 payload is itself sent as VOCAB"),
        value_vector("None", None),
        value_vector("True", True),
        value_vector("False", False),
        value_vector("empty tuple", ()),
        value_vector("tuple", (1, "a", b"b")),
        value_vector("empty list", []),
        value_vector("nested list", [1, [2, [3, None]]]),
        value_vector("empty dict", {}),
        value_vector("nested dict", {"a": 1, "b": [1, 2.5], "c": {"d": None, "e": (True,)}}),
        value_vector("dict with bytes and int keys", {b"k": b"v", 1: "one"}),
        value_vector("set", {1, 2, 3}, "the jelly 'set' form; Buildbot sends none"),
    ]
    shared_list = [1, 2]
    values.append(value_vector("dict sharing one list", {"a": shared_list, "b": shared_list},
                               "the first occurrence is wrapped in ['reference', 1, ...], the second is ['dereference', 1]",
                               shared=[shared_list]))
    pair = ("x", 1)
    values.append(value_vector("list sharing one tuple", [pair, pair, pair], shared=[pair]))
    loop = []
    loop.append(loop)
    values.append(value_vector("self-referencing list", loop, "a reference to an enclosing container", shared=[loop]))
    values.append(value_vector("two empty tuples", ((), ()),
                               "CPython has one empty tuple, so jelly shares it without the sender asking",
                               shared=[()]))

    frames = [
        frame("dialect offer (server, first expression, no dialect yet)", [b"pb", b"none"]),
        frame("dialect choice (client)", b"pb"),
        frame("version", [b"version", 6]),
        frame("login call on root", [b"message", 1, b"root", b"login", 1, jelly.jelly((b"pbworker",)), jelly.jelly({})]),
        frame("print call with keyword argument",
              [b"message", 1, 1, b"print", 1, jelly.jelly(()), jelly.jelly({"message": "attached"})]),
        frame("answer None", [b"answer", 1, jelly.jelly(None)]),
        frame("answer with remote reference", [b"answer", 2, [b"remote", 2]]),
        frame("update call from worker",
              [b"message", 3, 3, b"update", 1, jelly.jelly(([[{"stdout": "line 1\n"}, 0]],)), jelly.jelly({})],
              "a list of [update-dict, 0] pairs"),
        frame("complete(None) from worker", [b"message", 11, 3, b"complete", 1, jelly.jelly((None,)), jelly.jelly({})]),
        frame("decref", [b"decref", 3]),
        frame("keepalive from worker on the perspective",
              [b"message", 50, 2, b"keepalive", 1, jelly.jelly(()), jelly.jelly({})]),
    ]

    digests = []
    for challenge, password in [(bytes(range(16)), "pass"), (b"\xff" * 16, "p\u00e4ss")]:
        digests.append({"challenge_hex": challenge.hex(), "password_utf8": password,
                        "md5_password_hex": hashlib.md5(password.encode()).hexdigest(),
                        "response_hex": pb.respond(challenge, password.encode()).hex(),
                        "formula": "md5(md5(password) || challenge)"})
    if opts.capture:
        digests += recorded_logins(opts.capture)

    doc = {
        "generator": "scripts/captures/vectors.py with Twisted %s" % twisted.__version__,
        "dialect": "pb (vocabulary compression on); banana_none_hex = same s-expression without VOCAB",
        "vocabulary": {word.decode(): index for word, index in banana.Banana.outgoingVocabulary.items()},
        "type_bytes": {"LIST": "80", "INT": "81", "STRING": "82", "NEG": "83", "FLOAT": "84",
                       "LONGINT": "85", "LONGNEG": "86", "VOCAB": "87"},
        "vectors": values,
        "pb_frames": frames,
        "login_response_digest": digests,
    }
    json.dump(doc, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
