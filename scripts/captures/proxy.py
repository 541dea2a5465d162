#!/usr/bin/python3
"""A recording TCP relay for loopback connections.

    proxy.py --listen PORT --target PORT --out FILE.jsonl [--ready FILE]

Accepts connections on 127.0.0.1:PORT (0 = any free port; the chosen port is
written to --ready), connects each one to 127.0.0.1:--target and relays bytes
both ways.  Every event becomes one JSON line in --out (format: see
docs/protocol/captures.md):

  open   a client connected            (conn, peer)
  data   one read from one side        (conn, dir, len, hex)
  eof    one side half-closed          (conn, dir)
  reset  one side failed               (conn, dir, error)
  close  both sides are gone           (conn)

dir is "w2m" for bytes from the connecting side (the worker) and "m2w" for
bytes from the target (the master).  A data record is written before its bytes
are forwarded, so the file order follows cause and effect.  Each record ends
with t (seconds since the relay started, monotonic) and ts (epoch seconds).
The relay stops on SIGTERM/SIGINT or after --max-seconds.
"""

import argparse
import asyncio
import json
import os
import signal
import time

LOOPBACK = "127.0.0.1"


class Log:
    def __init__(self, path):
        self.out = open(path, "a", encoding="ascii")
        self.start = time.monotonic()

    def __call__(self, kind, conn, **fields):
        record = {"type": kind, "conn": conn}
        record.update(fields)
        record["t"] = round(time.monotonic() - self.start, 6)
        record["ts"] = round(time.time(), 6)
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()


class Pair:
    """One relayed connection: the worker side and the master side."""

    def __init__(self, number, log):
        self.number = number
        self.log = log
        self.ends = {}          # "w2m" -> worker transport, "m2w" -> master transport
        self.eofs = set()
        self.gone = set()
        self.closed = False
        self.waiting = []

    def other(self, direction):
        return self.ends.get("m2w" if direction == "w2m" else "w2m")

    def data(self, direction, data):
        self.log("data", self.number, dir=direction, len=len(data), hex=data.hex())
        peer = self.other(direction)
        if peer is None:
            self.waiting.append(data)     # the master side is still connecting
        elif not peer.is_closing():
            peer.write(data)

    def attached(self, direction, transport):
        self.ends[direction] = transport
        if direction == "m2w":
            for data in self.waiting:
                transport.write(data)
            self.waiting = []
            if "w2m" in self.eofs and transport.can_write_eof():
                transport.write_eof()

    def eof(self, direction):
        """Relay a half-close; True while the other direction may still carry bytes."""
        self.log("eof", self.number, dir=direction)
        self.eofs.add(direction)
        peer = self.other(direction)
        if peer is not None and not peer.is_closing() and peer.can_write_eof():
            peer.write_eof()
        if len(self.eofs) == 2:
            for t in self.ends.values():
                t.close()
            return False
        return True

    def lost(self, direction, exc):
        if exc is not None:
            self.log("reset", self.number, dir=direction, error=repr(exc))
        self.gone.add(direction)
        peer = self.other(direction)
        if peer is not None and not peer.is_closing() and (exc is not None or direction not in self.eofs):
            peer.abort()
        if self.gone >= set(self.ends) and not self.closed:
            self.closed = True
            self.log("close", self.number)


class End(asyncio.Protocol):
    def __init__(self, pair, direction):
        self.pair = pair
        self.direction = direction

    def connection_made(self, transport):
        self.transport = transport
        self.pair.attached(self.direction, transport)

    def data_received(self, data):
        self.pair.data(self.direction, data)

    def eof_received(self):
        return self.pair.eof(self.direction)

    def connection_lost(self, exc):
        self.pair.lost(self.direction, exc)


async def serve(args):
    log = Log(args.out)
    loop = asyncio.get_running_loop()
    counter = [0]

    class WorkerEnd(End):
        def __init__(self):
            counter[0] += 1
            super().__init__(Pair(counter[0], log), "w2m")

        def connection_made(self, transport):
            super().connection_made(transport)
            host, port = transport.get_extra_info("peername")[:2]
            log("open", self.pair.number, peer="%s:%d" % (host, port))
            loop.create_task(self.connect())

        async def connect(self):
            try:
                await loop.create_connection(lambda: End(self.pair, "m2w"), LOOPBACK, args.target)
            except OSError as e:
                log("reset", self.pair.number, dir="w2m", error="connect to target failed: %r" % (e,))
                self.transport.abort()
                return

    server = await loop.create_server(WorkerEnd, LOOPBACK, args.listen)
    port = server.sockets[0].getsockname()[1]
    if args.ready:
        with open(args.ready + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.replace(args.ready + ".tmp", args.ready)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), args.max_seconds)
    except asyncio.TimeoutError:
        pass
    server.close()
    await asyncio.sleep(0.3)   # let the last records of closing connections be written
    log.out.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", type=int, default=0)
    ap.add_argument("--target", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ready", help="file to write the listening port to")
    ap.add_argument("--max-seconds", type=float, default=900)
    asyncio.run(serve(ap.parse_args()))


if __name__ == "__main__":
    main()
