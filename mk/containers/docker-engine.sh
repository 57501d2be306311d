#!/usr/bin/env bash
# A Docker engine for `make images` / `make container-test`: install Debian's docker.io when dockerd is
# missing, start dockerd when no engine answers, wait until it does. Needs root for both (CI runs as root).
# The engine is left running; its log is $DOCKERD_LOG.
set -euo pipefail
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}

if docker info >/dev/null 2>&1; then
    exit 0
fi
if ! command -v dockerd >/dev/null; then
    echo "docker-engine: installing Debian's docker.io"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "docker-engine: no Docker engine answers and starting dockerd needs root" >&2
    exit 1
fi
# A pid file left by an engine that was killed (a machine handed on) stops dockerd from starting.
pidfile=/var/run/docker.pid
if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    rm -f "$pidfile"
fi
echo "docker-engine: starting dockerd (log: $DOCKERD_LOG)"
# setsid and no inherited descriptors: the engine outlives make without holding its output open.
setsid dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
for _ in $(seq 60); do
    if docker info >/dev/null 2>&1; then
        docker version --format 'docker-engine: client {{.Client.Version}}, engine {{.Server.Version}} (API {{.Server.APIVersion}})'
        exit 0
    fi
    sleep 1
done
echo "docker-engine: dockerd did not answer within 60 s; the end of $DOCKERD_LOG:" >&2
tail -n 20 "$DOCKERD_LOG" >&2
exit 1
