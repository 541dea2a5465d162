#!/bin/sh
# Buildbot 4.3 (master and Python worker), the current release, in a Debian forky root made
# with debootstrap: the interop tests run against it next to Debian bookworm's 3.7.
#
#   sudo scripts/buildbot-4.3.sh setup [DIR...]   make the root (once) and mount what it needs
#   scripts/buildbot-4.3.sh run PROGRAM [ARG...]  run a program of the root, e.g.
#        scripts/buildbot-4.3.sh run buildbot --version
#        scripts/buildbot-4.3.sh run buildbot create-master /tmp/m
#   scripts/buildbot-4.3.sh check                 exit 0 when the root is ready to run
#
# Env: BB43_ROOT (default /opt/buildbot-4.3), MIRROR (default: the first .../debian mirror of
# the apt sources).
#
# setup is idempotent. It debootstraps Debian forky (minbase, with buildbot, buildbot-worker,
# python3-msgpack, python3-autobahn: about 2 minutes and 410 MB) only when the root has no
# buildbot yet, so a root made earlier at the same path is used as it is. Then it bind-mounts
# /proc, /dev (with /dev/pts and /dev/shm when they are separate mounts), /tmp, this
# repository and every DIR at the same paths inside the root, each once; nothing is unmounted.
# run execs the program in the caller's working directory (which must exist inside the root:
# /tmp and the repository do), so the pid a caller starts is the program's own.
set -eu
# chroot, mount and debootstrap live in sbin, which callers' PATH may lack
PATH=$PATH:/usr/sbin:/sbin
ROOT=${BB43_ROOT:-/opt/buildbot-4.3}
REPO=$(cd "$(dirname "$0")/.." && pwd -P)
me=$(basename "$0")

usage() { echo "usage: $me setup [DIR...] | run PROGRAM [ARG...] | check" >&2; exit 2; }

ready() { [ -x "$ROOT/usr/bin/buildbot" ] && [ -e "$ROOT/proc/self" ] && [ -d "$ROOT/tmp" ]; }

mirror_from_apt_sources() {
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
        [ -f "$f" ] || continue
        case "$f" in
            *.sources) sed -n 's/^[[:space:]]*URIs:[[:space:]]*//p' "$f" | tr ' \t' '\n\n' ;;
            *) sed -n 's/^[[:space:]]*deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]*\)\{0,1\}\([^[:space:]]*\).*/\2/p' "$f" ;;
        esac
    done | grep -E '^https?://[^[:space:]]*/debian/?$' | head -n 1
}

mounted() {
    # /proc/mounts escapes spaces as \040
    awk -v p="$(printf '%s' "$1" | sed 's/ /\\040/g')" '$2 == p { found = 1 } END { exit !found }' /proc/mounts
}

bind_in() {
    src=$(cd "$1" && pwd -P)
    dst=$ROOT$src
    mounted "$dst" && return 0
    mkdir -p "$dst"
    mount --bind "$src" "$dst"
}

setup() {
    [ "$(id -u)" = 0 ] || { echo "$me setup: must run as root (debootstrap, mount)" >&2; exit 2; }
    if [ ! -x "$ROOT/usr/bin/buildbot" ]; then
        mirror=${MIRROR:-$(mirror_from_apt_sources)}
        [ -n "$mirror" ] || { echo "$me: no Debian mirror (.../debian) in the apt sources; set MIRROR" >&2; exit 2; }
        command -v debootstrap >/dev/null 2>&1 || {
            echo "$me: debootstrap is missing (apt-get install -y debootstrap)" >&2; exit 2; }
        mkdir -p "$ROOT"
        # bookworm's debootstrap has no script named forky; sid's is the one for testing too
        debootstrap --variant=minbase \
            --include=buildbot,buildbot-worker,python3-msgpack,python3-autobahn \
            forky "$ROOT" "$mirror" /usr/share/debootstrap/scripts/sid >&2
        [ -x "$ROOT/usr/bin/buildbot" ] || { echo "$me: $ROOT/usr/bin/buildbot still missing" >&2; exit 1; }
    fi
    ROOT=$(cd "$ROOT" && pwd -P)
    bind_in /proc
    bind_in /dev
    for sub in /dev/pts /dev/shm; do
        if mounted "$sub"; then bind_in "$sub"; fi
    done
    bind_in /tmp
    bind_in "$REPO"
    for d in "$@"; do bind_in "$d"; done
    chroot "$ROOT" /usr/bin/python3 -c \
        'import buildbot, buildbot_worker; print("buildbot", buildbot.version, "buildbot-worker", buildbot_worker.version)'
}

run() {
    [ $# -ge 1 ] || usage
    ready || { echo "$me: $ROOT is not set up; run '$me setup' as root first" >&2; exit 2; }
    prog=$1; shift
    case "$prog" in
        buildbot|buildbot-worker) set -- /usr/bin/python3 "/usr/bin/$prog" "$@" ;;
        *) set -- "$prog" "$@" ;;
    esac
    exec chroot "$ROOT" /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$(pwd -P)" "$@"
}

[ $# -ge 1 ] || usage
cmd=$1; shift
case "$cmd" in
    setup) setup "$@" ;;
    run) run "$@" ;;
    check) ready ;;
    *) usage ;;
esac
