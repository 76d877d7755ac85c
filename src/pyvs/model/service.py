"""Virtual services and real servers, as ipvsadm names them.

Invariants: values are immutable; addresses are ipaddress objects; validation
happens in the constructors' helpers so that every layer sees only legal values.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from pyvs.model.enums import FwdMethod, Protocol, Scheduler
from pyvs.model.errors import ConfigError

MAX_WEIGHT = 65535  # IPVS's limit for -w
DEFAULT_PERSISTENCE_TIMEOUT = 300  # seconds, ipvsadm's default for a bare -p
ALL_ONES = ipaddress.IPv4Address("255.255.255.255")  # ipvsadm's default -M: one template per client


@dataclass(frozen=True, slots=True, order=True)
class ServiceKey:
    """What identifies a virtual service: protocol, VIP and port."""

    protocol: Protocol
    address: ipaddress.IPv4Address
    port: int

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError("illegal virtual server address[:port] specified")

    def __str__(self) -> str:
        return f"{self.protocol.name} {self.address}:{self.port}"

    def __hash__(self) -> int:
        # The generated hash would hash the IPv4Address, which is slow; plans and
        # restores of 10,000 services hash keys hundreds of thousands of times.
        return hash((int(self.protocol), int(self.address), self.port))


@dataclass(frozen=True, slots=True)
class RealServer:
    """A real server of one service: its address, port, weight, forwarding method and
    connection thresholds (ipvsadm -x, -y; 0: none)."""

    address: ipaddress.IPv4Address
    port: int
    weight: int = 1
    fwd: FwdMethod = FwdMethod.TUNNEL
    u_threshold: int = 0
    l_threshold: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.weight <= MAX_WEIGHT:
            raise ConfigError("illegal weight specified")
        if not 0 <= self.port <= 65535:
            raise ConfigError("illegal real server address[:port] specified")

    @property
    def quiescent(self) -> bool:
        """Weight 0: no new connections, existing ones continue (as IPVS)."""
        return self.weight == 0


@dataclass(frozen=True, slots=True)
class VirtualService:
    """A virtual service with its scheduler, persistence and real servers.

    `sched_flags` are IPVS's IP_VS_SVC_F_SCHED1..3 bits (ipvsadm -b), whose
    meaning depends on the scheduler (SvcFlag).
    """

    key: ServiceKey
    scheduler: Scheduler = Scheduler.WRR
    persistence_timeout: int | None = None
    reals: tuple[RealServer, ...] = field(default=())
    sched_flags: int = 0
    netmask: ipaddress.IPv4Address = ALL_ONES  # persistence granularity (-M)
    one_packet: bool = False  # -o: UDP packets scheduled one by one

    def real(self, address: ipaddress.IPv4Address, port: int) -> RealServer | None:
        for real in self.reals:
            if real.address == address and real.port == port:
                return real
        return None
