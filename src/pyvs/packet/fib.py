"""The kernel's FIB as the pipeline sees it: the answers bpf_fib_lookup() gives.

The pipeline never asks the kernel itself (no I/O): it takes a `Fib`. Tests
pass a `StaticFib` that describes their namespace's routes; the live Python
data plane passes one that asks the kernel. The director asks without flags,
so answers carry no source address: the outer source of each real server is
resolved by the control plane (`Sources`, `ip route get`'s choice) and kept
in the real server's map entry.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Protocol

# bpf_fib_lookup() return codes (enum in linux/bpf.h)
FIB_SUCCESS = 0
FIB_BLACKHOLE = 1
FIB_UNREACHABLE = 2
FIB_PROHIBIT = 3
FIB_NOT_FWDED = 4
FIB_FWD_DISABLED = 5
FIB_UNSUPP_LWT = 6
FIB_NO_NEIGH = 7
FIB_FRAG_NEEDED = 8
FIB_NO_SRC_ADDR = 9


@dataclass(frozen=True, slots=True)
class FibResult:
    """One lookup's answer; `mtu` is set (and nothing else) when rc is FIB_FRAG_NEEDED."""

    rc: int
    ifindex: int = 0
    smac: bytes = bytes(6)
    dmac: bytes = bytes(6)
    mtu: int = 0


class Fib(Protocol):
    def lookup(self, dst: ipaddress.IPv4Address, *, tot_len: int, ingress_ifindex: int) -> FibResult:
        """The route toward dst for an IPv4 packet of tot_len bytes (0: no MTU check)."""
        ...


class Sources(Protocol):
    def source(self, dst: ipaddress.IPv4Address) -> ipaddress.IPv4Address | None:
        """The source address this host gives its own packets to dst (`ip route get dst`'s
        src), or None when there is no route to dst."""
        ...


@dataclass(frozen=True, slots=True)
class Route:
    """A route of a StaticFib: where packets to `network` go, and from which source address."""

    network: ipaddress.IPv4Network
    ifindex: int
    src: ipaddress.IPv4Address
    smac: bytes
    dmac: bytes | None  # None: the neighbour is not resolved
    mtu: int = 1500


@dataclass
class StaticFib:
    """A FIB given as a list of routes, longest prefix first wins."""

    routes: list[Route] = field(default_factory=list)

    def route(self, dst: ipaddress.IPv4Address) -> Route | None:
        matches = [r for r in self.routes if dst in r.network]
        return max(matches, key=lambda r: r.network.prefixlen) if matches else None

    def lookup(self, dst: ipaddress.IPv4Address, *, tot_len: int, ingress_ifindex: int) -> FibResult:
        route = self.route(dst)
        if route is None:
            return FibResult(FIB_UNREACHABLE)
        if tot_len and tot_len > route.mtu:
            return FibResult(FIB_FRAG_NEEDED, mtu=route.mtu)
        if route.dmac is None:
            return FibResult(FIB_NO_NEIGH, route.ifindex, route.smac)
        return FibResult(FIB_SUCCESS, route.ifindex, route.smac, route.dmac)

    def source(self, dst: ipaddress.IPv4Address) -> ipaddress.IPv4Address | None:
        route = self.route(dst)
        return route.src if route is not None else None
