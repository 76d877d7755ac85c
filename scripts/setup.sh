#!/usr/bin/env bash
# Installs pyvs on a Debian 12 machine, as root, from this checkout:
#   - Debian packages: clang and the Linux/libbpf headers (to compile the BPF
#     programs), libbpf, iproute2 and the lab's and benchmarks' tools;
#   - pyvs and its Python dependencies in a virtual environment, $PYVS_PREFIX
#     (default /opt/pyvs), never in Debian's own Python (PEP 668);
#   - `pyvs` and `pyvsadm` linked into /usr/local/sbin;
#   - bpffs mounted at /sys/fs/bpf, and the BPF objects compiled.
# Safe to run again: it installs what is missing and reinstalls pyvs itself.
# scripts/uninstall.sh undoes it.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=${PYVS_PREFIX:-/opt/pyvs}
bin_dir=/usr/local/sbin

apt_packages=(python3 python3-venv clang llvm libbpf-dev libbpf1 bpftool linux-libc-dev iproute2 ethtool
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

# Debian's python3, not whichever python3 comes first on PATH: the venv must
# outlive the shell that ran this.
[ -x "$prefix/bin/python" ] || /usr/bin/python3 -m venv "$prefix"
pip=("$prefix/bin/python" -m pip install -q --disable-pip-version-check --root-user-action=ignore)
rm -rf build  # setuptools' scratch copy: a module deleted from src/ must not linger in it
"${pip[@]}" --upgrade --force-reinstall --no-deps .
"${pip[@]}" '.[test]'
for command in pyvs pyvsadm; do
    ln -sfn "$prefix/bin/$command" "$bin_dir/$command"
done

mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
"$prefix/bin/python" -m pyvs.bpf.build >/dev/null
