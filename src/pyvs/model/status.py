"""What a data plane reports: counters, real servers' and services' status, and
connections, as ipvsadm lists them. Pure values: the CLI renders them, every
data plane (pyvs.dataplane) produces them, and neither needs the other.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from pyvs.model import enums
from pyvs.model.service import RealServer, VirtualService


@dataclass(frozen=True, slots=True)
class Counters:
    """ipvsadm --stats columns, summed over CPUs."""

    conns: int = 0
    inpkts: int = 0
    outpkts: int = 0
    inbytes: int = 0
    outbytes: int = 0


@dataclass(frozen=True, slots=True)
class Rates:
    """ipvsadm --rate columns: per second, estimated as IPVS's estimator does (2-second
    samples, each moving the estimate a quarter of the way) and rounded as it reads them."""

    cps: int = 0
    inpps: int = 0
    outpps: int = 0
    inbps: int = 0
    outbps: int = 0


@dataclass(frozen=True, slots=True)
class RealStatus:
    real: RealServer
    active_conns: int = 0
    inactive_conns: int = 0
    stats: Counters = field(default_factory=Counters)
    persistent_conns: int = 0  # live persistence templates that send clients to it
    rates: Rates = field(default_factory=Rates)


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    service: VirtualService
    reals: tuple[RealStatus, ...] = ()
    stats: Counters = field(default_factory=Counters)
    rates: Rates = field(default_factory=Rates)


@dataclass(frozen=True, slots=True)
class Connection:
    """One entry of the connection table, as `ipvsadm -L -c` shows it."""

    protocol: enums.Protocol
    client: tuple[ipaddress.IPv4Address, int]
    virtual: tuple[ipaddress.IPv4Address, int]
    real: tuple[ipaddress.IPv4Address, int]
    state: enums.FlowState
    expires_s: int  # seconds until the entry times out


@dataclass(frozen=True, slots=True)
class DirectorCounters:
    """The director's pressure: frames dropped by reason (lb_drops), how full its flow
    table (lb_flows) is, and the ICMP errors it forwarded to real servers (lb_icmp)."""

    drops: Mapping[enums.DropReason, int]
    flows: int
    max_flows: int
    icmp: Mapping[enums.IcmpCounter, int]  # ICMP errors about services' flows (lb_icmp)


@dataclass(frozen=True, slots=True)
class DataplaneStats:
    """`pyvs director stats`: what the pinned counters of a network namespace hold; None
    for a program whose maps are not pinned there (no director, or no XDP decapsulation)."""

    director: DirectorCounters | None
    decap: Mapping[enums.DecapCounter, int] | None
