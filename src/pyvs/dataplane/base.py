"""The interface every data plane offers to pyvsadm and the daemon.

A data plane stores the configuration itself (principle 1 of DESIGN.md): there
is no other copy. `read()` returns it, `commit(old, new)` makes the data plane
forward according to `new`, and `status()` adds counters and connection counts.
"""

from __future__ import annotations

from typing import Protocol

from pyvs.control.config import Config
from pyvs.model.service import ServiceKey, VirtualService
from pyvs.model.status import Connection, ServiceStatus


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

    def timeouts(self) -> tuple[int, int, int]:
        """The idle timeouts of TCP ESTABLISHED, TCP FIN_WAIT and UDP flows, in seconds."""
        ...

    def set_timeouts(self, tcp: int, tcp_fin: int, udp: int) -> None:
        """ipvsadm --set: change those timeouts; 0 leaves one as it is."""
        ...

    def estimating(self) -> bool:
        """Whether rates are being estimated (what -L --rate shows)."""
        ...


def sorted_services(config: Config) -> list[VirtualService]:
    return [config[k] for k in sorted(config)]
