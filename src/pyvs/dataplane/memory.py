"""A data plane held in Python objects: for unit tests and dry runs.

MemoryDataplane implements the Dataplane protocol of base.py without the
kernel: it keeps the last committed Config, and the counters and connections
that a test sets with set_counters() / set_real_status() / set_connections().
It forwards nothing.

Invariants: status() lists exactly the services and real servers of read(), in
table order; counters of a service or real server that a commit removed are
forgotten, so re-adding it starts from zero, as with IPVS. connections() lists
only connections to a real server of read(), in the order they were set: a
commit that removes the real server (or its service) forgets them, as the XDP
data plane forgets the flows of a removed real server.
"""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Iterable

from pyvs.control.config import Config
from pyvs.dataplane.base import sorted_services
from pyvs.model.enums import FLOW_TIMEOUT_S, FlowState
from pyvs.model.errors import DataplaneError, NoSuchService
from pyvs.model.service import RealServer, ServiceKey
from pyvs.model.status import Connection, Counters, Rates, RealStatus, ServiceStatus

DEFAULT_TABLE_SIZE = 4096  # IPVS's default connection table size

_RealKey = tuple[ServiceKey, ipaddress.IPv4Address, int]


class MemoryDataplane:
    """The Dataplane protocol over a dict; `commits` counts successful commits."""

    def __init__(self, config: Config | None = None, *, table_size: int = DEFAULT_TABLE_SIZE) -> None:
        self._services: Config = dict(config or {})
        self._table_size = table_size
        self._stats: dict[ServiceKey, Counters] = {}
        self._rates: dict[ServiceKey, Rates] = {}
        self._reals: dict[_RealKey, RealStatus] = {}
        self._connections: list[Connection] = []
        self._timeouts = (FLOW_TIMEOUT_S[FlowState.ESTABLISHED], FLOW_TIMEOUT_S[FlowState.FIN_WAIT],
                          FLOW_TIMEOUT_S[FlowState.UDP])
        self.commits = 0

    # -- the Dataplane protocol ------------------------------------------

    def read(self) -> Config:
        return dict(self._services)

    def commit(self, old: Config, new: Config) -> None:
        if dict(old) != dict(self._services):
            raise DataplaneError(errno.ESTALE, "commit: the configuration changed meanwhile")
        self._services = dict(new)
        self.commits += 1
        self._forget_removed()

    def status(self) -> list[ServiceStatus]:
        return [
            ServiceStatus(
                service=service,
                reals=tuple(self._real_status(service.key, real) for real in service.reals),
                stats=self._stats.get(service.key, Counters()),
                rates=self._rates.get(service.key, Rates()),
            )
            for service in sorted_services(self._services)
        ]

    def zero(self, key: ServiceKey | None) -> None:
        if key is not None and key not in self._services:
            raise NoSuchService()
        for service_key in list(self._stats):
            if key is None or service_key == key:
                self._stats[service_key] = Counters()
                self._rates.pop(service_key, None)
        for real_key, status in list(self._reals.items()):
            if key is None or real_key[0] == key:
                self._reals[real_key] = RealStatus(
                    status.real, status.active_conns, status.inactive_conns, Counters()
                )

    def connections(self) -> list[Connection]:
        return list(self._connections)

    def connection_table_size(self) -> int:
        return self._table_size

    def timeouts(self) -> tuple[int, int, int]:
        return self._timeouts

    def estimating(self) -> bool:
        return True

    def set_timeouts(self, tcp: int, tcp_fin: int, udp: int) -> None:
        old_tcp, old_fin, old_udp = self._timeouts
        self._timeouts = (tcp or old_tcp, tcp_fin or old_fin, udp or old_udp)

    # -- for tests ---------------------------------------------------------

    def set_counters(self, key: ServiceKey, stats: Counters, rates: Rates | None = None) -> None:
        """Set the --stats counters (and the --rate rates) of service `key`."""
        self._stats[key] = stats
        if rates is not None:
            self._rates[key] = rates

    def set_real_status(
        self,
        key: ServiceKey,
        address: ipaddress.IPv4Address,
        port: int,
        *,
        active: int = 0,
        inactive: int = 0,
        stats: Counters | None = None,
        rates: Rates | None = None,
    ) -> None:
        """Set the connection counts, counters and rates of one real server of `key`."""
        real = self._services[key].real(address, port)
        if real is None:
            raise KeyError((key, address, port))
        self._reals[(key, address, port)] = RealStatus(
            real, active, inactive, stats if stats is not None else Counters(), 0, rates or Rates()
        )

    def set_connections(self, connections: Iterable[Connection]) -> None:
        """Replace the connection table; each connection must go to a real server of read()."""
        table = list(connections)
        for connection in table:
            if not self._has_real(connection):
                raise KeyError(connection)
        self._connections = table

    # -- helpers -------------------------------------------------------------

    def _has_real(self, connection: Connection) -> bool:
        key = ServiceKey(connection.protocol, *connection.virtual)
        service = self._services.get(key)
        return service is not None and service.real(*connection.real) is not None

    def _real_status(self, key: ServiceKey, real: RealServer) -> RealStatus:
        known = self._reals.get((key, real.address, real.port))
        if known is None:
            return RealStatus(real)
        return RealStatus(real, known.active_conns, known.inactive_conns, known.stats, 0, known.rates)

    def _forget_removed(self) -> None:
        self._stats = {k: v for k, v in self._stats.items() if k in self._services}
        self._rates = {k: v for k, v in self._rates.items() if k in self._services}
        self._reals = {
            k: v
            for k, v in self._reals.items()
            if k[0] in self._services and self._services[k[0]].real(k[1], k[2]) is not None
        }
        self._connections = [c for c in self._connections if self._has_real(c)]
