#!/usr/bin/env bash
# The local stand-in for python:3.11-slim-bookworm, for a machine that reaches Debian's and PyPI's
# package servers but no container registry: Debian bookworm (debootstrap, minbase) with its Python 3.11
# in a venv at /opt/venv, imported as an image. Made once: the tag carries a hash of this script, so an
# existing image is reused and a changed recipe makes a new one.
#
# Why a venv: Debian's python3 refuses `pip install` into the system (PEP 668, "externally managed").
# The venv first on PATH gives the Dockerfiles what the public base gives them, `python` and `pip` that
# install into an interpreter of their own, with no change to their RUN lines, and keeps Debian's own
# Python packages apart (PIP_BREAK_SYSTEM_PACKAGES would mix the two).
# The machine's CA bundle goes in too: this machine reaches the package servers only through it.
set -euo pipefail
usage="usage: $0 IMAGE_NAME  (prints the image reference it made or found)"
name=${1:?$usage}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
tag="bookworm-$(sha256sum "$0" | cut -c1-12)"
image="$name:$tag"

if docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image"
    exit 0
fi
command -v debootstrap >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}
root=$(mktemp -d)
trap 'rm -rf "$root" "$root.log"' EXIT
start=$(date +%s)
echo "local-base: debootstrap bookworm into $root" >&2
debootstrap --variant=minbase --include=python3,python3-pip,python3-venv bookworm "$root" "$MIRROR" \
    >"$root.log" 2>&1 || { tail -n 30 "$root.log" >&2; exit 1; }
chroot "$root" python3 -m venv /opt/venv >&2
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
# As Debian's official images do: apt keeps no package caches, so an `apt-get install` layer is as
# small as on the public base.
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
if [ -s "$CA_BUNDLE" ]; then
    cp "$CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
fi
tar -C "$root" --numeric-owner -c . | docker import \
    --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --message "debootstrap bookworm minbase + python3 venv ($0)" - "$image" >/dev/null
echo "local-base: $image in $(($(date +%s) - start)) s" >&2
# Earlier recipes' bases: untag them (layers still used by built images stay until those go).
docker image ls --format '{{.Repository}}:{{.Tag}}' "$name" | grep -vxF "$image" | xargs -r docker rmi >/dev/null || true
echo "$image"
