#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run it.
# (The study tests start a real Dask scheduler and workers on 127.0.0.1: the study extra.)
# System packages: OpenSSH (the remote-bench tests start a real sshd on 127.0.0.1), Chromium
# (the HTML report is checked in a real headless browser), debootstrap + qemu-user-static (arm64 check),
# gcc + clang (C artifacts compile strictly with both), gcc-arm-none-eabi + libnewlib-arm-none-eabi
# (microcontroller figures) and qemu-system-arm (golden check on an emulated Cortex-M4).
# Python: a venv with torch 2.13.0 (CPU).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v chromium >/dev/null || need+=(chromium)
# the arm64 check: a Debian arm64 userland under qemu-user (what Raspberry Pi OS 64-bit is)
command -v debootstrap >/dev/null || need+=(debootstrap)
[ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
# the C backend: host compilers, the Arm cross compiler with its C library, the Cortex-M emulator
command -v gcc >/dev/null || need+=(gcc)
command -v clang >/dev/null || need+=(clang)
command -v arm-none-eabi-gcc >/dev/null || need+=(gcc-arm-none-eabi)
[ -d /usr/lib/arm-none-eabi/newlib ] || need+=(libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null || need+=(qemu-system-arm)
# the example firmware project (export --package) is built by its Makefile and its CMakeLists.txt
command -v make >/dev/null || need+=(make)
command -v cmake >/dev/null || need+=(cmake)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "the tests need: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch is pinned to the CPU build 2.13.0: anything else pulls a multi-GB CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0" -e ".[tflite,study,dev]"
# pytest exits 5 when no test ran: that fails this script too.
exec .venv/bin/python -m pytest "$@"
