"""Capability probes for the test suite: root, network namespaces, BPF, clang, nft.

Each probe returns None when the capability is there, or the reason it is
not, and runs at most once per session. tests/conftest.py turns them into the
markers needs_root, needs_netns, needs_bpf, needs_clang, needs_nft and
needs_bench_tools; fixtures that need
a capability outside a marked test call `require(name)`.

Rule: with the environment variable CI set (non-empty), a missing capability
fails the test instead of skipping it, so a CI run can never pass by skipping
the BPF or namespace layers.
"""

from __future__ import annotations

import ctypes
import os
import platform
import secrets
import shutil
import struct
import subprocess
from collections.abc import Callable
from functools import cache

import pytest

BPFFS = "/sys/fs/bpf"
BPF_PROG_LOAD = 5
BPF_PROG_TYPE_XDP = 6
SYSCALL_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}


@cache
def probe_root() -> str | None:
    return None if os.geteuid() == 0 else "needs root (euid is not 0)"


@cache
def probe_netns() -> str | None:
    if (why := probe_root()) is not None:
        return why
    name = f"pyvs-probe-{secrets.token_hex(4)}"
    try:
        done = subprocess.run(["ip", "netns", "add", name], check=False, capture_output=True, text=True)
    except FileNotFoundError:
        return "needs network namespaces: the ip command (iproute2) is missing"
    if done.returncode != 0:
        return f"needs network namespaces: ip netns add failed: {done.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
    for tool in ("nsenter", "ethtool", "tcpdump", "curl"):
        if shutil.which(tool) is None:
            return f"needs network namespaces: {tool} is missing"
    return None


def _bpffs_mounted() -> bool:
    with open("/proc/self/mounts") as mounts:
        return any(line.split()[1:3] == [BPFFS, "bpf"] for line in mounts)


def _load_trivial_xdp() -> str | None:
    """BPF_PROG_LOAD of `r0 = XDP_PASS; exit`; None on success, else the error."""
    number = SYSCALL_BPF.get(platform.machine())
    if number is None:
        return f"unknown bpf syscall number on {platform.machine()}"
    insns = struct.pack("<BBhi", 0xB7, 0, 0, 2) + struct.pack("<BBhi", 0x95, 0, 0, 0)
    insn_buf = ctypes.create_string_buffer(insns, len(insns))
    license_buf = ctypes.create_string_buffer(b"GPL")
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<IIQQ", attr, 0, BPF_PROG_TYPE_XDP, 2,
                     ctypes.addressof(insn_buf), ctypes.addressof(license_buf))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(ctypes.c_long(number), ctypes.c_long(BPF_PROG_LOAD), attr, ctypes.c_long(128))
    if fd < 0:
        return os.strerror(ctypes.get_errno())
    os.close(fd)
    return None


@cache
def probe_bpf() -> str | None:
    if (why := probe_root()) is not None:
        return why
    if not _bpffs_mounted():
        done = subprocess.run(["mount", "-t", "bpf", "bpf", BPFFS],
                              check=False, capture_output=True, text=True)
        if done.returncode != 0:
            return f"needs bpffs at {BPFFS}: not mounted and mount failed: {done.stderr.strip()}"
    if (error := _load_trivial_xdp()) is not None:
        return f"needs BPF: cannot load a trivial XDP program: {error}"
    return None


@cache
def probe_clang() -> str | None:
    if shutil.which("clang") is None:
        return "needs clang (not found)"
    done = subprocess.run(["clang", "-print-targets"], check=False, capture_output=True, text=True)
    if "bpf" not in done.stdout:
        return "needs clang with the bpf target"
    return None


@cache
def probe_nft() -> str | None:
    return None if shutil.which("nft") else "needs nft (nftables, for the live Python data plane): not found"


@cache
def probe_bench_tools() -> str | None:
    missing = [tool for tool in ("wrk", "nginx") if shutil.which(tool) is None]
    return f"needs {' and '.join(missing)} (scripts/setup.sh installs them)" if missing else None


PROBES: dict[str, Callable[[], str | None]] = {
    "needs_root": probe_root,
    "needs_netns": probe_netns,
    "needs_bpf": probe_bpf,
    "needs_clang": probe_clang,
    "needs_nft": probe_nft,
    "needs_bench_tools": probe_bench_tools,
}

DESCRIPTIONS = {
    "needs_root": "runs as root",
    "needs_netns": "creates network namespaces, veth pairs and runs ip/nsenter/ethtool/tcpdump/curl",
    "needs_bpf": "loads BPF programs and pins maps in bpffs",
    "needs_clang": "compiles BPF C with clang",
    "needs_nft": "runs nft (the live Python data plane's table)",
    "needs_bench_tools": "runs wrk and nginx (the HTTP benchmark)",
}


@cache
def probe_ipip() -> str | None:
    """The kernel's ipip module (tunl0). Not in PROBES: machines need not have
    it (pyvs decapsulates with XDP there), so its tests skip, in CI too."""
    if (why := probe_root()) is not None:
        return why
    try:
        done = subprocess.run(["modprobe", "ipip"], check=False, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return "needs the kernel's ipip module (tunl0): modprobe is missing"
    if done.returncode != 0:
        return f"needs the kernel's ipip module (tunl0): modprobe ipip failed: {done.stderr.strip()}"
    return None


def skip_without_ipip() -> None:
    """Skip the running test (also in CI) unless `modprobe ipip` works."""
    reason = probe_ipip()
    if reason is not None:
        pytest.skip(reason)


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def require(name: str) -> None:
    """Skip (or in CI, fail) the running test unless capability `name` (a marker name) is there."""
    reason = PROBES[name]()
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI is set: a missing capability fails instead of skipping)", pytrace=False)
    pytest.skip(reason)
