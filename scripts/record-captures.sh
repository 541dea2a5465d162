#!/bin/bash
# Re-record the protocol fixtures (docs/protocol/captures.md) from the Debian Buildbot 3.7
# master and Python worker, talking over 127.0.0.1 through a recording proxy.
#
#   scripts/record-captures.sh [OUT_DIR]            record, decode, make vectors (default OUT_DIR:
#                                                    test/fixtures/protocol); about 3 minutes
#   scripts/record-captures.sh --decode [OUT_DIR]   only re-decode OUT_DIR's recordings and
#                                                    remake the vectors and edge cases
#   scripts/record-captures.sh --check              record into a temporary directory and run
#                                                    the fixture tests on it (needs `npm run build`)
#   --work DIR   where masters and workers live (default /tmp/bbproto; the checked-in
#                recordings have worker paths under /tmp/bbproto, and some tests expect them)
#   --master-keepalive S   the master's keepalive period during the recording (default 60; it
#                must outlast the builds, so that the master keepalive comes on the idle link)
#
# Needs: /usr/bin/python3 with the Debian packages buildbot, buildbot-worker (Twisted, msgpack,
# autobahn come with them). Every port is chosen free at run time on 127.0.0.1; every process
# started is stopped again by its pid.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
tools="$repo/scripts/captures"
py=/usr/bin/python3
mode=record
work=/tmp/bbproto
keepalive=60
out=
while [ $# -gt 0 ]; do
  case "$1" in
    --decode) mode=decode ;;
    --check) mode=check ;;
    --work) work=$2; shift ;;
    --master-keepalive) keepalive=$2; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) out=$1 ;;
  esac
  shift
done

"$py" -c 'import buildbot, buildbot_worker, twisted, msgpack' 2>/dev/null || {
  echo "needs $py with the Debian buildbot and buildbot-worker packages" >&2
  exit 1
}

if [ "$mode" = check ]; then
  out=$(mktemp -d "${TMPDIR:-/tmp}/captures-check.XXXXXX")
elif [ -z "$out" ]; then
  out="$repo/test/fixtures/protocol"
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

if [ "$mode" != decode ]; then
  # Record into a scratch directory first: a failed run leaves OUT_DIR as it was.
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/captures.XXXXXX")
  trap 'rm -rf "$scratch"' EXIT
  for proto in pb msgpack; do
    "$py" "$tools/session.py" record "$proto" --work "$work" --out "$scratch" \
      --www-plugin "$repo/test/interop/www-base" --master-keepalive "$keepalive"
  done
  cp "$scratch"/*-session.jsonl "$scratch"/*-session.meta.json "$out/"
fi

echo "decoding into $out"
ka() { "$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["master_keepalive_interval_s"])' "$1"; }
"$py" "$tools/decode_pb.py" "$out/pb-session.jsonl" --title pb-session.jsonl --password pb-secret \
  --note "conn 1 is a deliberate failed login (password 'wrong-password', so the digest check says MISMATCH); conn 2 is the real worker 'pbworker' (password 'pb-secret')." \
  --note "Master keepalive period shortened to $(ka "$out/pb-session.meta.json") s (default 3600 s) so that master keepalives appear; worker keepalive=10 in buildbot.tac." \
  > "$out/pb-session.decoded.txt"
"$py" "$tools/decode_ws.py" "$out/msgpack-session.jsonl" --title msgpack-session.jsonl \
  --note "conn 1 is a deliberate failed login (wrong Basic credentials -> 401); conn 2 is the real worker 'mpworker' (password 'mp-secret')." \
  --note "Master keepalive period shortened to $(ka "$out/msgpack-session.meta.json") s (default 3600 s) so that master keepalives appear." \
  > "$out/msgpack-session.decoded.txt"
"$py" "$tools/vectors.py" --capture "$out/pb-session.jsonl" > "$out/banana-vectors.json"
"$py" "$tools/edge_cases.py" > "$out/pb-edge-cases.txt"
ls -l "$out"

if [ "$mode" = check ]; then
  cd "$repo"
  [ -d dist/test ] || { echo "build first (npm run build); recordings left in $out" >&2; exit 1; }
  PROTOCOL_FIXTURES_DIR=$out node --test \
    dist/test/protocol/banana.test.js dist/test/protocol/jelly.test.js \
    dist/test/engine/pb/*.test.js dist/test/session/pb/*.test.js dist/test/session/msgpack/capture.test.js \
    dist/test/master/pb/master.test.js dist/test/master/pb/newcred.test.js \
    dist/test/reliability/fuzz.test.js dist/test/reliability/never-attached.test.js \
    dist/test/transport/websocket.test.js
  echo "the fixture tests pass on the new recordings in $out"
fi
