#!/usr/bin/env bash
# arm64 check: golden check of every artifact of a bundle in a Debian bookworm arm64 userland
# (what Raspberry Pi OS 64-bit is), under qemu-user emulation. Pass/fail only: times under
# emulation are not latency. Needs root; installs debootstrap and qemu-user-static with apt-get
# when missing; caches the rootfs and the aarch64 wheels under ~/.cache/edgelnn/arm64.
#
#   scripts/arm64_check.sh export/cfc-basicmotions [--json arm64.json]
#   scripts/arm64_check.sh --prepare-only x            # only build the cached userland
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
[ -n "$PY" ] || PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
exec "$PY" -m edgelnn.targets.arm64 "$@"
