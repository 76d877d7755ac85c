"""The kernel's FIB asked over rtnetlink: the `Fib` of the live Python data plane.

`KernelFib.lookup()` answers as bpf_fib_lookup() without flags does for a
packet that came in on `ingress_ifindex`: forwarding must be on there, then
the route toward dst (`ip route get DST`) gives the output interface, the next
hop (gateway, or dst itself) and the route MTU (its metric, else the link
MTU); the neighbour table gives the next hop's MAC and the link its own MAC.
(The control plane's source addresses come from pyvs.dataplane.sources, which
needs no netlink library.)

Rule 1: the parts that turn netlink answers into a FibResult are pure
functions of plain values (`route_answer`, `neighbour_mac`, `link_answer`,
`fib_result`), unit-tested without a kernel.
Rule 2: answers are cached, and the cache is dropped after `max_age_s` and
whenever the kernel announces a change of link, address, route or neighbour
(`fileno()` is a netlink socket to poll; call `on_readable()` when it is).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute  # type: ignore[import-untyped]
from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

from pyvs.packet.fib import (
    FIB_BLACKHOLE,
    FIB_FRAG_NEEDED,
    FIB_FWD_DISABLED,
    FIB_NO_NEIGH,
    FIB_NOT_FWDED,
    FIB_PROHIBIT,
    FIB_SUCCESS,
    FIB_UNREACHABLE,
    FibResult,
)

# rtnetlink constants (linux/rtnetlink.h, linux/neighbour.h)
RTN_UNICAST = 1
NUD_REACHABLE = 0x02
NUD_STALE = 0x04
NUD_DELAY = 0x08
NUD_PROBE = 0x10
NUD_NOARP = 0x40
NUD_PERMANENT = 0x80
NUD_VALID = NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY
RTMGRP_LINK = 0x1
RTMGRP_NEIGH = 0x4
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV4_ROUTE = 0x40
RTM_GETROUTE = 26
NLMSG_ERROR = 2
NO_ADDRESS = ipaddress.IPv4Address(0)


@dataclass(frozen=True, slots=True)
class RouteAnswer:
    """The route toward one destination, reduced to what the lookup needs.

    `rc` is FIB_SUCCESS for a unicast route, else the code bpf_fib_lookup()
    returns for it; `mtu` is the route's MTU metric (0: none, use the link's).
    """

    rc: int
    ifindex: int = 0
    nexthop: ipaddress.IPv4Address = NO_ADDRESS
    src: ipaddress.IPv4Address = NO_ADDRESS
    mtu: int = 0


@dataclass(frozen=True, slots=True)
class LinkAnswer:
    mac: bytes
    mtu: int


def route_error(code: int) -> RouteAnswer:
    """A failed route lookup (errno), mapped as bpf_ipv4_fib_lookup() maps fib_table_lookup()'s errors."""
    rc = {errno.EINVAL: FIB_BLACKHOLE, errno.EHOSTUNREACH: FIB_UNREACHABLE,
          errno.EACCES: FIB_PROHIBIT}.get(abs(code), FIB_NOT_FWDED)
    return RouteAnswer(rc)


def _attr(msg: Any, name: str) -> Any:
    value = msg.get_attr(name) if hasattr(msg, "get_attr") else None
    if value is None and isinstance(msg, dict):
        value = dict(msg.get("attrs", ())).get(name)
    return value


def route_answer(msg: Any, dst: ipaddress.IPv4Address) -> RouteAnswer:
    """An RTM_NEWROUTE answer to `ip route get dst` (a pyroute2 rtmsg)."""
    if msg["type"] != RTN_UNICAST:  # local, broadcast, multicast: not for forwarding
        return RouteAnswer(FIB_NOT_FWDED)
    gateway = _attr(msg, "RTA_GATEWAY")
    prefsrc = _attr(msg, "RTA_PREFSRC")
    metrics = _attr(msg, "RTA_METRICS")
    mtu = _attr(metrics, "RTAX_MTU") if metrics is not None else None
    return RouteAnswer(
        FIB_SUCCESS,
        int(_attr(msg, "RTA_OIF") or 0),
        ipaddress.IPv4Address(gateway) if gateway else dst,
        ipaddress.IPv4Address(prefsrc) if prefsrc else NO_ADDRESS,
        int(mtu or 0),
    )


def mac_bytes(text: str | None) -> bytes | None:
    """'02:fc:00:00:00:01' -> 6 bytes; None or an empty address -> None."""
    if not text:
        return None
    return bytes(int(part, 16) for part in text.split(":"))


def neighbour_mac(msg: Any) -> bytes | None:
    """The MAC of an RTM_NEWNEIGH answer when its state counts as resolved (NUD_VALID), else None."""
    if not msg["state"] & NUD_VALID:
        return None
    return mac_bytes(_attr(msg, "NDA_LLADDR")) or (bytes(6) if msg["state"] & NUD_NOARP else None)


def link_answer(msg: Any) -> LinkAnswer:
    """An RTM_NEWLINK answer: the interface's MAC and MTU."""
    return LinkAnswer(mac_bytes(_attr(msg, "IFLA_ADDRESS")) or bytes(6), int(_attr(msg, "IFLA_MTU") or 0))


def fib_result(route: RouteAnswer, link: LinkAnswer | None, dmac: bytes | None, *, tot_len: int) -> FibResult:
    """Compose the lookup's answer: route failure, too big, next hop unresolved, or success."""
    if route.rc != FIB_SUCCESS:
        return FibResult(route.rc)
    smac = link.mac if link else bytes(6)
    mtu = route.mtu or (link.mtu if link else 0)
    if tot_len and mtu and tot_len > mtu:
        return FibResult(FIB_FRAG_NEEDED, mtu=mtu)
    if dmac is None:
        return FibResult(FIB_NO_NEIGH, route.ifindex, smac)
    return FibResult(FIB_SUCCESS, route.ifindex, smac, dmac)


class KernelFib:
    """bpf_fib_lookup() answered from this network namespace's kernel tables, with a cache."""

    def __init__(self, *, max_age_s: float = 1.0, watch: bool = True) -> None:
        self.max_age_s = max_age_s
        self._ipr = IPRoute()
        self._routes: dict[ipaddress.IPv4Address, RouteAnswer] = {}
        self._links: dict[int, LinkAnswer | None] = {}
        self._neighbours: dict[tuple[int, ipaddress.IPv4Address], bytes | None] = {}
        self._forwarding: dict[int, bool] = {}
        # dst -> (the answer for a packet that fits, the MTU it must fit): the per-packet fast path
        self._answers: dict[ipaddress.IPv4Address, tuple[FibResult, int]] = {}
        self._stamp = time.monotonic()
        self._events: socket.socket | None = None
        if watch:
            self._events = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK,
                                         socket.NETLINK_ROUTE)
            self._events.bind((0, RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE))

    def close(self) -> None:
        self._ipr.close()
        if self._events is not None:
            self._events.close()

    def __enter__(self) -> KernelFib:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fileno(self) -> int:
        """A netlink socket that becomes readable when the kernel's tables change (-1: not watching)."""
        return self._events.fileno() if self._events is not None else -1

    def on_readable(self) -> None:
        """Drain the change notifications and forget every cached answer."""
        if self._events is not None:
            with contextlib.suppress(BlockingIOError, InterruptedError):
                while self._events.recv(65536):
                    pass
        self.invalidate()

    def invalidate(self) -> None:
        self._routes.clear()
        self._links.clear()
        self._neighbours.clear()
        self._forwarding.clear()
        self._answers.clear()
        self._stamp = time.monotonic()

    def lookup(self, dst: ipaddress.IPv4Address, *, tot_len: int, ingress_ifindex: int) -> FibResult:
        if time.monotonic() - self._stamp >= self.max_age_s:
            self.invalidate()
        if not self._forwards(ingress_ifindex):
            return FibResult(FIB_FWD_DISABLED)
        known = self._answers.get(dst)
        if known is not None and (not tot_len or tot_len <= known[1]):
            return known[0]
        route = self._route(dst)
        if route.rc != FIB_SUCCESS:
            self._answers[dst] = (FibResult(route.rc), 1 << 16)
            return FibResult(route.rc)
        link = self._link(route.ifindex)
        dmac = self._neighbour(route.ifindex, route.nexthop)
        mtu = route.mtu or (link.mtu if link else 0)
        self._answers[dst] = (fib_result(route, link, dmac, tot_len=0), mtu)
        return fib_result(route, link, dmac, tot_len=tot_len)

    # -- the kernel's answers, cached ---------------------------------------

    def _forwards(self, ifindex: int) -> bool:
        cached = self._forwarding.get(ifindex)
        if cached is None:
            try:
                name = socket.if_indextoname(ifindex)
                text = Path(f"/proc/sys/net/ipv4/conf/{name}/forwarding").read_text()
                cached = text.strip() != "0"
            except OSError:
                cached = True  # not an interface of this namespace: nothing to check against
            self._forwarding[ifindex] = cached
        return cached

    def _route(self, dst: ipaddress.IPv4Address) -> RouteAnswer:
        cached = self._routes.get(dst)
        if cached is None:
            try:
                cached = route_answer(self._ipr.route("get", dst=str(dst))[0], dst)
            except NetlinkError as exc:
                cached = route_error(exc.code)
            self._routes[dst] = cached
        return cached

    def _link(self, ifindex: int) -> LinkAnswer | None:
        if ifindex not in self._links:
            try:
                self._links[ifindex] = link_answer(self._ipr.link("get", index=ifindex)[0])
            except NetlinkError:
                self._links[ifindex] = None
        return self._links[ifindex]

    def _neighbour(self, ifindex: int, address: ipaddress.IPv4Address) -> bytes | None:
        key = (ifindex, address)
        if key not in self._neighbours:
            try:
                answers = self._ipr.neigh("get", dst=str(address), ifindex=ifindex)
                self._neighbours[key] = neighbour_mac(answers[0]) if answers else None
            except NetlinkError:
                self._neighbours[key] = None
        return self._neighbours[key]

