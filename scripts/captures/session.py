#!/usr/bin/python3
"""Record one worker session of the Debian Buildbot 3.7 master and Python worker.

    session.py record pb|msgpack --work DIR --out DIR --www-plugin DIR
    session.py bad-login pb|msgpack PORT USER PASSWORD     (used by 'record')

'record' sets up, all on 127.0.0.1 with free ports chosen now:
  DIR/<proto>/master   a fresh master with scripts/captures/master.cfg
  proxy.py             between the worker and the master's port of <proto>
  DIR/<proto>/worker   a fresh Python worker, started with a small environment
                       (getWorkerInfo sends the worker's whole environment)
and then: one login with a wrong password (connection 1), the worker's own
session (connection 2): three builds forced through the REST API
(protobuilder; interruptbuilder, stopped while its step runs; errorbuilder),
an idle pause so that keepalives go both ways, and a graceful shutdown (PB: the
worker gets SIGHUP; msgpack: the master is asked through REST to stop the
worker).  It writes OUT/<proto>-session.jsonl and OUT/<proto>-session.meta.json
and stops every process it started.
"""

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
SETUPS = {
    "pb": {"protocol": "pb", "worker": "pbworker", "password": "pb-secret"},
    "msgpack": {"protocol": "msgpack_experimental_v7", "worker": "mpworker", "password": "mp-secret"},
}
WRONG_PASSWORD = "wrong-password"
INTERRUPT_REASON = "capture: interrupt test"


def say(*words):
    print("[record %s]" % time.strftime("%H:%M:%S"), *words, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def until(what, check, timeout=60.0, every=0.3):
    end = time.monotonic() + timeout
    problem = None
    while time.monotonic() < end:
        try:
            value = check()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - the service may not be up yet
            problem = e
        time.sleep(every)
    raise RuntimeError("gave up waiting for %s (%r)" % (what, problem))


class Rest:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d/api/v2" % port

    def get(self, path):
        with urllib.request.urlopen(self.base + path, timeout=15) as r:
            return json.load(r)

    def call(self, path, method, **params):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        req = urllib.request.Request(self.base + path, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=15) as r:
            reply = json.load(r)
        if "error" in reply:
            raise RuntimeError("%s %s: %r" % (path, method, reply["error"]))
        return reply["result"]

    def build(self, builder, stop_step=None):
        """Force one build; with stop_step, stop it once that step runs. Returns its summary."""
        builderid = self.get("/builders?name=%s" % builder)["builders"][0]["builderid"]
        _, requests = self.call("/forceschedulers/force", "force", builderid=str(builderid),
                                reason="protocol capture", username="")
        request = list(requests.values())[0]
        say("forced", builder, "(build request %d)" % request)

        def build_of_request():
            builds = self.get("/buildrequests/%d/builds" % request)["builds"]
            return builds[0] if builds else None

        if stop_step:
            def step_running():
                b = build_of_request()
                if not b:
                    return None
                steps = self.get("/builds/%d/steps" % b["buildid"])["steps"]
                return b["buildid"] if any(s["name"] == stop_step and s["started_at"] for s in steps) else None
            buildid = until("step %s" % stop_step, step_running, timeout=120)
            time.sleep(2)   # the command is running on the worker by now
            say("stopping build", buildid)
            self.call("/builds/%d" % buildid, "stop", reason=INTERRUPT_REASON)
        until("build of %s" % builder,
              lambda: self.get("/buildrequests/%d" % request)["buildrequests"][0]["complete"], timeout=180)
        b = build_of_request()
        steps = self.get("/builds/%d/steps" % b["buildid"])["steps"]
        return {"builder": builder, "results": b["results"], "state_string": b["state_string"],
                "steps": [{"name": s["name"], "results": s["results"], "state_string": s["state_string"]}
                          for s in steps]}


class Processes:
    """Every child started here, stopped by its own pid in reverse order."""

    def __init__(self):
        self.children = []

    def start(self, name, argv, log, **kw):
        p = subprocess.Popen(argv, stdout=open(log, "w"), stderr=subprocess.STDOUT, **kw)
        self.children.append((name, p))
        return p

    def stop_all(self):
        for name, p in reversed(self.children):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    say(name, "did not stop on SIGTERM; killing pid", p.pid)
                    p.kill()
                    p.wait()


def record(args):
    setup = SETUPS[args.proto]
    root = os.path.join(os.path.abspath(args.work), args.proto)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "home"))
    master_dir = os.path.join(root, "master")
    worker_dir = os.path.join(root, "worker")
    jsonl = os.path.join(root, "capture.jsonl")

    ports = {"pb": free_port(), "msgpack": free_port(), "www": free_port()}
    small_env = {"PATH": "/usr/bin:/bin", "HOME": os.path.join(root, "home"), "LANG": "C.UTF-8"}
    master_env = dict(small_env, PYTHONPATH=os.path.abspath(args.www_plugin),
                      CAPTURE_PB_PORT=str(ports["pb"]), CAPTURE_MSGPACK_PORT=str(ports["msgpack"]),
                      CAPTURE_WWW_PORT=str(ports["www"]),
                      CAPTURE_MASTER_KEEPALIVE=str(args.master_keepalive))
    rest = Rest(ports["www"])
    procs = Processes()
    try:
        subprocess.run([PY, "/usr/bin/buildbot", "create-master", "-q", master_dir], check=True, env=master_env)
        shutil.copy(os.path.join(HERE, "master.cfg"), os.path.join(master_dir, "master.cfg"))
        say("master on pb %(pb)d, msgpack %(msgpack)d, REST %(www)d" % ports)
        procs.start("master", [PY, "/usr/bin/buildbot", "start", "--nodaemon", master_dir],
                    os.path.join(root, "master.log"), env=master_env)
        until("the REST API", lambda: rest.get("/builders")["builders"], timeout=120)

        ready = os.path.join(root, "proxy.port")
        procs.start("proxy", [PY, os.path.join(HERE, "proxy.py"), "--target", str(ports[args.proto]),
                              "--out", jsonl, "--ready", ready, "--max-seconds", "900"],
                    os.path.join(root, "proxy.log"))
        proxy_port = int(until("the proxy", lambda: os.path.exists(ready) and open(ready).read().strip()))
        say("proxy on", proxy_port)

        create = [PY, "/usr/bin/buildbot-worker", "create-worker", "-q", "--keepalive=10",
                  "--protocol=%s" % setup["protocol"]]
        if args.proto == "pb":
            create.append("--allow-shutdown=signal")
        create += [worker_dir, "127.0.0.1:%d" % proxy_port, setup["worker"], setup["password"]]
        subprocess.run(create, check=True, env=small_env)
        with open(os.path.join(worker_dir, "info", "admin"), "w") as f:
            f.write("Capture Admin <admin@example.invalid>\n")
        with open(os.path.join(worker_dir, "info", "host"), "w") as f:
            f.write("protocol capture host\n")

        say("connection 1: a login with a wrong password")
        subprocess.run([PY, os.path.abspath(__file__), "bad-login", args.proto, str(proxy_port),
                        setup["worker"], WRONG_PASSWORD], env=small_env, timeout=60,
                       stdout=open(os.path.join(root, "bad-login.log"), "w"), stderr=subprocess.STDOUT)
        time.sleep(1)

        say("connection 2: the worker")
        started = time.time()
        worker = procs.start("worker", [PY, "/usr/bin/buildbot-worker", "start", "--nodaemon", worker_dir],
                             os.path.join(root, "worker.log"), env=small_env, cwd=worker_dir)
        until("the worker to attach",
              lambda: rest.get("/workers/%s" % setup["worker"])["workers"][0]["connected_to"])
        attached = time.monotonic()
        time.sleep(2)
        builds = [rest.build("protobuilder"),
                  rest.build("interruptbuilder", stop_step="sleep"),
                  rest.build("errorbuilder")]
        for b in builds:
            say("build of %s: results %s (%s)" % (b["builder"], b["results"], b["state_string"]))
        # The master's keepalive timer runs from the attach. Its first keepalive must come on
        # the idle link after the builds: the replay tests cannot place one that the timer
        # happened to slip between a build's calls.
        idle = attached + args.master_keepalive - time.monotonic()
        if idle < 1:
            raise RuntimeError("the builds took %.0f s, longer than the master keepalive period (%d s); "
                               "record again with a larger --master-keepalive"
                               % (time.monotonic() - attached, args.master_keepalive))
        say("idle for %.0f s: master and worker keepalives" % (idle + 2))
        time.sleep(idle + 2)

        if args.proto == "pb":
            say("SIGHUP to the worker: it asks the master to shut it down")
            worker.send_signal(signal.SIGHUP)
        else:
            workerid = rest.get("/workers/%s" % setup["worker"])["workers"][0]["workerid"]
            say("REST stop of the worker: the master sends shutdown")
            rest.call("/workers/%d" % workerid, "stop", reason="capture finished")
        worker.wait(timeout=60)
        say("worker exited with", worker.returncode)
        wall = time.time() - started
        time.sleep(1)
    finally:
        procs.stop_all()

    os.makedirs(args.out, exist_ok=True)
    shutil.copy(jsonl, os.path.join(args.out, "%s-session.jsonl" % args.proto))
    import twisted
    meta = {
        "protocol": setup["protocol"],
        "worker_name": setup["worker"],
        "worker_basedir": worker_dir,
        "buildbot_master": master_version(),
        "buildbot_worker": worker_version(),
        "twisted": twisted.__version__,
        "master_keepalive_interval_s": args.master_keepalive,
        "worker_keepalive_s": 10 if args.proto == "pb" else "n/a (msgpack workers send no keepalive)",
        "connections": {
            "1": "deliberate failed login: user %r, password %r" % (setup["worker"], WRONG_PASSWORD),
            "2": "real worker session: user %r, password %r" % (setup["worker"], setup["password"]),
        },
        "session_end": ("worker SIGHUP -> perspective.shutdown() -> master calls Bot.shutdown()"
                        if args.proto == "pb" else "REST 'stop' on the worker -> master sends op 'shutdown'"),
        "session_wall_seconds": round(wall, 1),
        "builds": builds,
    }
    with open(os.path.join(args.out, "%s-session.meta.json" % args.proto), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")


def master_version():
    import buildbot
    return "%s (%s)" % (buildbot.version, "Debian package" if buildbot.__file__.startswith("/usr/lib/python3/") else buildbot.__file__)


def worker_version():
    import buildbot_worker
    return "%s (%s)" % (buildbot_worker.version, "Debian package" if buildbot_worker.__file__.startswith("/usr/lib/python3/") else buildbot_worker.__file__)


def bad_login_pb(port, user, password):
    """Twisted's own PB login, as buildbot-worker does it, with a wrong password."""
    from twisted.cred.credentials import UsernamePassword
    from twisted.internet import reactor
    from twisted.spread import pb

    factory = pb.PBClientFactory()
    reactor.connectTCP("127.0.0.1", port, factory)
    d = factory.login(UsernamePassword(user.encode(), password.encode()), client=pb.Referenceable())

    def finished(result):
        print("login result:", result)
        factory.disconnect()
        reactor.callLater(0.5, reactor.stop)

    d.addBoth(finished)
    reactor.callLater(20, reactor.stop)
    reactor.run()


def bad_login_msgpack(port, user, password):
    """An upgrade request shaped like Autobahn's (the worker's client) with wrong Basic credentials."""
    credentials = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    head = "\r\n".join([
        "GET / HTTP/1.1",
        "User-Agent: AutobahnPython/22.7.1",
        "Host: 127.0.0.1:%d" % port,
        "Upgrade: WebSocket",
        "Connection: Upgrade",
        "Pragma: no-cache",
        "Cache-Control: no-cache",
        "Authorization: Basic %s" % credentials,
        "Sec-WebSocket-Key: %s" % base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version: 13",
        "", ""])
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(head.encode())
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    print(reply.decode("latin-1"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    r = sub.add_parser("record")
    r.add_argument("proto", choices=sorted(SETUPS))
    r.add_argument("--work", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--www-plugin", required=True)
    r.add_argument("--master-keepalive", type=int, default=60,
                   help="the master's keepalive period in seconds (3600 by default in Buildbot)")
    b = sub.add_parser("bad-login")
    b.add_argument("proto", choices=sorted(SETUPS))
    b.add_argument("port", type=int)
    b.add_argument("user")
    b.add_argument("password")
    args = ap.parse_args()
    if args.what == "record":
        record(args)
    elif args.proto == "pb":
        bad_login_pb(args.port, args.user, args.password)
    else:
        bad_login_msgpack(args.port, args.user, args.password)


if __name__ == "__main__":
    main()
