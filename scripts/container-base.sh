#!/usr/bin/env bash
# Make a local base image for the Dockerfile where no container registry can be reached:
# Debian trixie (Node 20, npm, tini, git) from the machine's own Debian mirror, imported into
# podman. Idempotent: does nothing if the image exists already.
#
#   scripts/container-base.sh [IMAGE]        (default: localhost/buildbot-worker-ts-base:trixie)
#   podman build --build-arg BASE=localhost/buildbot-worker-ts-base:trixie -t buildbot-worker-ts .
#
# Uses contrib/podman/containers.conf and the storage contrib/podman/storage-conf.sh picks
# (overlay, else vfs) unless CONTAINERS_CONF / CONTAINERS_STORAGE_CONF are set. Needs root,
# debootstrap and podman.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-localhost/buildbot-worker-ts-base:trixie}
suite=${BASE_SUITE:-trixie}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/contrib/podman/containers.conf}
CONTAINERS_STORAGE_CONF=$(contrib/podman/storage-conf.sh)
export CONTAINERS_STORAGE_CONF

if podman image exists "$image"; then
  echo "container-base: $image exists"
  exit 0
fi

# The mirror this machine's apt uses (deb822 or one-line sources), else Debian's CDN.
mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)\/\{0,1\}$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)
fi
if [ -z "$mirror" ]; then
  mirror=$(awk '$1=="deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

root=$(mktemp -d /var/tmp/container-base.XXXXXX)
trap 'rm -rf "$root" "$root.log"' EXIT
echo "container-base: debootstrap $suite from $mirror"
# debootstrap installs the minimal system; apt inside it the rest, because debootstrap's own
# resolver does not follow virtual packages (npm depends on some).
debootstrap --variant=minbase --include=ca-certificates \
  "$suite" "$root" "$mirror" >"$root.log" 2>&1 || { tail -n 30 "$root.log"; exit 1; }
printf 'deb %s %s main\n' "$mirror" "$suite" >"$root/etc/apt/sources.list"
rm -f "$root"/etc/apt/sources.list.d/*.sources
cp /etc/resolv.conf "$root/etc/resolv.conf"
# Certificate authorities this machine added (an HTTPS-inspecting proxy's, a company's): the
# image must trust them too to reach the npm registry during the build.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  chroot "$root" update-ca-certificates >>"$root.log" 2>&1
fi
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
  sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm tini git && apt-get clean' \
  >>"$root.log" 2>&1 || { tail -n 30 "$root.log"; exit 1; }
rm -f "$root.log" "$root/etc/resolv.conf"
# What the image does not need: package lists and caches, docs (as the official images do).
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
# Node (and npm) trust the system's certificate store, not only their built-in list.
# mktemp made the directory 0700: as the image's / it would lock every other user out.
chmod 0755 "$root"
# An imported image has no configuration at all: PATH must be set, or containers find no command.
tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' - "$image"
echo "container-base: made $image"
