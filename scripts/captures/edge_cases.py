#!/usr/bin/python3
"""What a Twisted PB peer does with common protocol mistakes.

    edge_cases.py > pb-edge-cases.txt

A child process serves a plain twisted.spread.pb root with one method,
remote_echo, on a free 127.0.0.1 port (the same Broker code the Buildbot
master runs).  Each case opens a connection, answers the dialect offer and
sends [version, 6] by hand (unless the case replaces it), sends the case's
expressions, then reads for a moment and records the server's replies
(decoded with Twisted) and whether it closed the connection.
"""

import socket
import subprocess
import sys
import time

import twisted

from decode_pb import Collector, encode, tree

SERVER = r"""
import sys
from twisted.internet import reactor
from twisted.spread import pb

class Root(pb.Root):
    def remote_echo(self, value):
        return value

port = reactor.listenTCP(0, pb.PBServerFactory(Root()), interface="127.0.0.1")
print(port.getHost().port, flush=True)
reactor.callLater(120, reactor.stop)
reactor.run()
"""


def call(request_id, target, method, answer, *args):
    return [b"message", request_id, target, method, answer, [b"tuple"] + list(args), [b"dictionary"]]


ECHO = call(1, b"root", b"echo", 1, 5)
CASES = [
    # (title, expressions or raw hex, send [version, 6] first)
    ("valid call root.echo(5)", [ECHO], True),
    ("decref of an unknown luid, then a valid call", [[b"decref", 99], ECHO], True),
    ("answer for an unknown requestID, then a valid call", [[b"answer", 42, 1], ECHO], True),
    ("unknown PB command, then a valid call", [[b"bogus", 1], ECHO], True),
    ("wrong version number", [[b"version", 5], ECHO], False),
    ("call of a method that does not exist", [call(1, b"root", b"nosuch", 1)], True),
    ("call on an unknown objectID", [call(1, 77, b"echo", 1, 5)], True),
    ("answerRequired=0 call (no answer expected)", [call(1, b"root", b"echo", 0, 5), call(2, b"root", b"echo", 1, 5)], True),
    ("VOCAB index out of range (raw bytes 63 87), then a valid call", [bytes.fromhex("6387"), ECHO], True),
    ("string longer than 640 KiB (only its header is sent: prefix 655361 = 01 00 28, STRING)",
     [bytes.fromhex("01002882")], True),
]


def probe(port, title, exprs, version):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(2)
        offer = s.recv(100)
        hello = encode(b"pb", None) + (encode([b"version", 6], b"pb") if version else b"")
        s.sendall(hello)
        sent = []
        for e in exprs:
            raw = e if isinstance(e, bytes) else encode(e, b"pb")
            sent.append(raw.hex())
            s.sendall(raw)
        time.sleep(0.5)
        got = b""
        closed = False
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    closed = True
                    break
                got += chunk
        except socket.timeout:
            pass
    replies = Collector(first_dialect=b"pb")
    replies.dataReceived(got)
    out = ["CASE: %s" % title,
           "  server's first expression: %s" % offer.hex(" "),
           "  sent after handshake (hex): %s" % " | ".join(sent)]
    out += ["  reply: %s" % tree(r, 120) for r in replies.got if r != [b"version", 6]]
    out.append("  connection %s" % ("CLOSED by the server" if closed else "still open"))
    return out


def main():
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(server.stdout.readline())
        lines = ["Twisted %s PB server probed with deliberate protocol mistakes (scripts/captures/edge_cases.py)"
                 % twisted.__version__, ""]
        for case in CASES:
            lines += probe(port, *case) + [""]
        print("\n".join(lines))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
