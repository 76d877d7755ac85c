#!/usr/bin/env bash
# Everything pyvs needs on a fresh Debian 12 machine, as root: packages from
# apt and PyPI, bpffs, and the compiled BPF objects. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(clang llvm libbpf-dev libbpf1 bpftool linux-libc-dev gcc iproute2 ethtool
              tcpdump curl wrk nginx util-linux kmod procps nftables)
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    # No service may start on the host: the benchmarks run their own nginx
    # inside namespaces (policy-rc.d 101 = "action forbidden", for this install only).
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

pip_install=(python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore)
# Debian's own python3 refuses system-wide installs (PEP 668); pyvs runs as root system tools do.
if python3 -c 'import sys, sysconfig, pathlib; sys.exit(not (pathlib.Path(sysconfig.get_path("stdlib")) / "EXTERNALLY-MANAGED").exists())'; then
    pip_install+=(--break-system-packages)
fi
"${pip_install[@]}" -e '.[test]'
command -v pyenv >/dev/null 2>&1 && pyenv rehash || true

mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
python3 -m pyvs.bpf.build >/dev/null
