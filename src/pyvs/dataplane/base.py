"""The interface every data plane offers to pyvsadm and the daemon.

A data plane stores the configuration itself (principle 1 of DESIGN.md): there
is no other copy. `read()` returns it, `commit(old, new)` makes the data plane
forward according to `new`, and `status()` adds counters and connection counts.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Protocol

from pyvs.control.config import Config
from pyvs.model import enums
from pyvs.model.service import RealServer, ServiceKey, VirtualService


@dataclass(frozen=True, slots=True)
class Counters:
    """ipvsadm --stats columns, summed over CPUs."""

    conns: int = 0
    inpkts: int = 0
    outpkts: int = 0
    inbytes: int = 0
    outbytes: int = 0


@dataclass(frozen=True, slots=True)
class RealStatus:
    real: RealServer
    active_conns: int = 0
    inactive_conns: int = 0
    stats: Counters = field(default_factory=Counters)


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    service: VirtualService
    reals: tuple[RealStatus, ...] = ()
    stats: Counters = field(default_factory=Counters)


@dataclass(frozen=True, slots=True)
class Connection:
    """One entry of the connection table, as `ipvsadm -L -c` shows it."""

    protocol: enums.Protocol
    client: tuple[ipaddress.IPv4Address, int]
    virtual: tuple[ipaddress.IPv4Address, int]
    real: tuple[ipaddress.IPv4Address, int]
    state: enums.FlowState
    expires_s: int  # seconds until the entry times out


class Dataplane(Protocol):
    """What pyvsadm needs from a data plane (XDP maps, or the live Python one)."""

    def read(self) -> Config:
        """The configuration the data plane forwards with now."""
        ...

    def commit(self, old: Config, new: Config) -> None:
        """Make the data plane forward according to `new` (it currently holds `old`)."""
        ...

    def status(self) -> list[ServiceStatus]:
        """Every service with its reals, counters and connection counts, in table order."""
        ...

    def zero(self, key: ServiceKey | None) -> None:
        """Reset the counters of one service (or all), as ipvsadm -Z."""
        ...

    def connections(self) -> list[Connection]:
        """The live entries of the connection table (ipvsadm -L -c)."""
        ...

    def connection_table_size(self) -> int:
        """The flow table's capacity, printed as `(size=N)` in the listing header."""
        ...


def sorted_services(config: Config) -> list[VirtualService]:
    return [config[k] for k in sorted(config)]
