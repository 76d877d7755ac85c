#!/usr/bin/env bash
# Removes what scripts/setup.sh installed: the virtual environment
# ($PYVS_PREFIX, default /opt/pyvs), the /usr/local/sbin links and the
# compiled BPF objects. Run `pyvs director detach IFACE` and
# `pyvs realserver down` first where pyvs is in use: this script does not
# touch running programs, pinned maps (/sys/fs/bpf/pyvs) or /run/pyvs.
# Debian packages stay (other software may use them).
set -euo pipefail

prefix=${PYVS_PREFIX:-/opt/pyvs}
for command in pyvs pyvsadm; do
    link=/usr/local/sbin/$command
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$prefix/bin/$command" ]; then
        rm -f "$link"
    fi
done
rm -rf "$prefix" /var/cache/pyvs
echo "pyvs removed ($prefix, /usr/local/sbin/pyvs, /usr/local/sbin/pyvsadm, /var/cache/pyvs)"
