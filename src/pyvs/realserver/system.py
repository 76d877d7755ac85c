"""The real server's view of the kernel: sysctls, links, addresses, XDP decap.

`KernelSystem` acts on the network namespace of the calling process (run it
with `nsenter --net`, not `ip netns exec`, so that /sys/fs/bpf stays visible).
It reads links and addresses through `ip -j`, never /sys/class/net, which
shows the devices of the namespace that mounted /sys. Tests substitute a fake
with the same methods.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from pyvs import netns
from pyvs.model.errors import LbError
from pyvs.realserver import mss
from pyvs.realserver.plan import DecapView

PROC_SYS = Path("/proc/sys")


class RealServerError(LbError):
    """A real-server step failed; the message says which."""


class System(Protocol):
    """What up/down/check need from the machine."""

    def read_sysctl(self, path: str) -> str | None: ...
    def write_sysctl(self, path: str, value: str) -> None: ...
    def link_exists(self, dev: str) -> bool: ...
    def link_is_up(self, dev: str) -> bool: ...
    def set_link_up(self, dev: str, up: bool) -> None: ...
    def addresses(self, dev: str) -> list[str]: ...
    def add_address(self, dev: str, cidr: str, broadcast: str | None) -> None: ...
    def del_address(self, dev: str, cidr: str) -> None: ...
    def default_route_iface(self) -> str | None: ...
    def kernel_has_ipip(self) -> bool: ...
    def decap_status(self, iface: str) -> DecapView | None: ...
    def require_decap_kernel(self) -> None: ...
    def attach_decap(self, iface: str, vips: Sequence[str], local_addrs: Sequence[str]) -> str: ...
    def detach_decap(self, iface: str) -> None: ...
    def netns_identity(self) -> tuple[int, int | None]: ...
    def link_mtu(self, dev: str) -> int: ...
    def require_nft(self) -> None: ...
    def mss_clamp(self) -> mss.MssClamp | None: ...
    def set_mss_clamp(self, value: int, vips: Sequence[str]) -> None: ...
    def remove_mss_clamp(self) -> None: ...


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(["ip", *args], check=False, capture_output=True, text=True, timeout=30)
    except FileNotFoundError as exc:
        raise RealServerError("ip: command not found (install iproute2)") from exc
    if check and done.returncode != 0:
        raise RealServerError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def _nft(*args: str, script: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["nft", *args], input=script, check=False, capture_output=True, text=True,
                              timeout=30)
    except FileNotFoundError as exc:
        raise RealServerError("the MSS clamp needs nft (nftables): not found; install nftables, "
                              "or pass --mss off") from exc


def _xdp() -> Any:
    try:
        from pyvs.dataplane import xdp
    except ImportError as exc:
        raise RealServerError(f"XDP data plane not available: {exc}") from exc
    return xdp


class KernelSystem:
    """The System of the calling process's network namespace."""

    def read_sysctl(self, path: str) -> str | None:
        try:
            return (PROC_SYS / path).read_text().strip()
        except FileNotFoundError:
            return None

    def write_sysctl(self, path: str, value: str) -> None:
        try:
            (PROC_SYS / path).write_text(f"{value}\n")
        except OSError as exc:
            raise RealServerError(f"cannot set {path.replace('/', '.')} to {value}: {exc.strerror}") from exc

    def link_exists(self, dev: str) -> bool:
        return _ip("link", "show", "dev", dev, check=False).returncode == 0

    def link_is_up(self, dev: str) -> bool:
        links = json.loads(_ip("-j", "link", "show", "dev", dev).stdout or "[]")
        return bool(links) and "UP" in links[0].get("flags", [])

    def set_link_up(self, dev: str, up: bool) -> None:
        _ip("link", "set", "dev", dev, "up" if up else "down")

    def addresses(self, dev: str) -> list[str]:
        links = json.loads(_ip("-j", "-4", "addr", "show", "dev", dev).stdout or "[]")
        return [a["local"] for link in links for a in link.get("addr_info", [])]

    def add_address(self, dev: str, cidr: str, broadcast: str | None) -> None:
        extra = ["broadcast", broadcast] if broadcast else []
        _ip("addr", "add", cidr, *extra, "dev", dev)

    def del_address(self, dev: str, cidr: str) -> None:
        _ip("addr", "del", cidr, "dev", dev)

    def default_route_iface(self) -> str | None:
        routes = json.loads(_ip("-j", "-4", "route", "show", "default").stdout or "[]")
        return next((r["dev"] for r in routes if "dev" in r), None)

    def kernel_has_ipip(self) -> bool:
        """Load the ipip module if possible (quietly), then look for tunl0 in this namespace."""
        with contextlib.suppress(FileNotFoundError, subprocess.TimeoutExpired):
            subprocess.run(["modprobe", "-q", "ipip"], check=False, capture_output=True, timeout=30)
        return self.link_exists("tunl0")

    def decap_status(self, iface: str) -> DecapView | None:
        try:
            status = _xdp().decap_status(iface)
        except RealServerError:
            return None
        if status is None:
            return None
        return DecapView(
            attached=bool(status.attached),
            vips=frozenset(str(v) for v in status.vips),
            local_addrs=frozenset(str(a) for a in status.local_addrs),
        )

    def require_decap_kernel(self) -> None:
        """MissingFeature unless the kernel has what the XDP decapsulation needs (probed)."""
        _xdp().require_decap_kernel()

    def attach_decap(self, iface: str, vips: Sequence[str], local_addrs: Sequence[str]) -> str:
        """Attach (or update) the XDP decapsulation; returns its mode, "native" or "generic"."""
        mode = _xdp().attach_decap(
            iface, [ipaddress.IPv4Address(v) for v in vips], [ipaddress.IPv4Address(a) for a in local_addrs]
        )
        return str(mode.value)

    def detach_decap(self, iface: str) -> None:
        _xdp().detach_decap(iface)

    def netns_identity(self) -> tuple[int, int | None]:
        """(inode, cookie) of this network namespace; cookie None where the kernel lacks it."""
        this = netns.identity()
        return this.inode, this.cookie

    def link_mtu(self, dev: str) -> int:
        links = json.loads(_ip("-j", "link", "show", "dev", dev).stdout or "[]")
        return int(links[0]["mtu"])

    def require_nft(self) -> None:
        _nft("--version")

    def mss_clamp(self) -> mss.MssClamp | None:
        """The clamp in this namespace's nftables; None without the table or without nft."""
        try:
            done = _nft("-j", "list", "table", "ip", mss.TABLE)
        except RealServerError:
            return None
        if done.returncode != 0:
            return None
        return mss.parse_clamp(json.loads(done.stdout or "{}"))

    def set_mss_clamp(self, value: int, vips: Sequence[str]) -> None:
        done = _nft("-f", "-", script=mss.ruleset(value, vips))
        if done.returncode != 0:
            raise RealServerError(f"nft: cannot add the MSS clamp: {done.stderr.strip()}")

    def remove_mss_clamp(self) -> None:
        done = _nft("-f", "-", script=f"add table ip {mss.TABLE}\ndelete table ip {mss.TABLE}\n")
        if done.returncode != 0:
            raise RealServerError(f"nft: cannot remove table ip {mss.TABLE}: {done.stderr.strip()}")
