#!/bin/sh
# Print the podman storage configuration to use here: contrib/podman/storage.conf (the kernel's
# overlay filesystem) when podman works with it, else storage-vfs.conf, with the reason on
# stderr. Used by scripts/container-base.sh and the container tests (test/container/podman.ts),
# so both always see the same image store. CONTAINERS_STORAGE_CONF, when set, wins.
dir=$(cd "$(dirname "$0")" && pwd)
if [ -n "${CONTAINERS_STORAGE_CONF:-}" ]; then
  echo "$CONTAINERS_STORAGE_CONF"
  exit 0
fi
export CONTAINERS_CONF=${CONTAINERS_CONF:-$dir/containers.conf}
driver=$(CONTAINERS_STORAGE_CONF=$dir/storage.conf podman info --format '{{.Store.GraphDriverName}}' 2>&1)
if [ "$driver" = overlay ]; then
  echo "$dir/storage.conf"
else
  echo "podman storage: overlay is not usable here, falling back to vfs (slow, large): $(echo "$driver" | tail -n 3)" >&2
  echo "$dir/storage-vfs.conf"
fi
