"""The director's configuration and status as kept in its maps: the adapter
around pyvs.control.plan.

`MapDataplane` implements the Dataplane protocol over a `DirectorMaps`: the
pinned BPF maps for pyvsadm and the XDP program, or dict-backed twins holding
the same bytes for the reference pipeline and its tests. The configuration
lives only in the maps (DESIGN.md, principle 1): `read()` rebuilds it from
them (`read_state()`, then `config_of()`), and `commit()` has the pure
planner work out the writes and `apply()` carries them out, in order.
Each real server's entry also holds the outer source address toward it, which
`Sources` (the kernel's route lookup, or a test's StaticFib) resolves: on every
commit for every real server, so that a commit also catches up with route
changes (`refresh_sources()` does only that).
"""

from __future__ import annotations

import ctypes
import ipaddress
import itertools
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import cast

from pyvs.control.config import Config
from pyvs.control.plan import Delete, MapState, Put, PutRun, Write, Zero, config_of, plan, timeout_writes
from pyvs.dataplane.base import sorted_services
from pyvs.model.enums import NSEC_PER_SEC, FlowState, Protocol, Setting, SvcFlag
from pyvs.model.service import ServiceKey
from pyvs.model.status import Connection, Counters, Rates, RealStatus, ServiceStatus
from pyvs.packet import abi
from pyvs.packet.fib import Sources
from pyvs.packet.pipeline import flow_timeout_ns
from pyvs.packet.tables import DirectorMaps, PerCpuHandle
from pyvs.sched.mh import TABLE_SIZE as MH_TABLE_SIZE

U32 = ctypes.c_uint32


@dataclass
class _ServiceSlots:
    """Where one service sits in the maps, as read back from them."""

    svc_id: int
    value: abi.Svc
    real_ids: list[int]  # insertion order (ascending generation)


def read_state(maps: DirectorMaps) -> MapState:
    """What the planner needs of the maps, read in batches."""
    services = {key.to_model(): value for key, value in maps.services.items()}
    sched_pos = {}
    for value in services.values():
        pos = maps.sched_pos.get(U32(value.id))
        sched_pos[value.id] = pos.value if pos is not None else 0
    return MapState(
        services=services,
        reals={key.value: real for key, real in maps.reals.all_items() if real.gen},
        sched_pos=sched_pos,
        vip_addrs={key.value: count.value for key, count in maps.vip_addrs.items()},
        max_services=maps.svc_stats.max_entries,
        max_reals=maps.reals.max_entries,
        max_mh_services=maps.mh.max_entries // (2 * MH_TABLE_SIZE),
    )


def apply(writes: Iterable[Write], maps: DirectorMaps) -> None:
    """Carry out a plan, in its order; consecutive puts into one map go in one batch."""
    for (table, kind), run in itertools.groupby(writes, key=lambda w: (w.table, type(w))):
        handle = getattr(maps, table)
        if kind is Put:
            puts = cast(list[Put], list(run))
            handle.put_many([p.key for p in puts], [p.value for p in puts])
        elif kind is PutRun:
            runs = cast(list[PutRun], list(run))
            handle.put_u32s([r.first + i for r in runs for i in range(len(r.values))],
                            [v for r in runs for v in r.values])
        else:
            for write in run:
                if isinstance(write, Delete):
                    handle.delete(write.key)
                else:
                    handle.zero(cast(Zero, write).indices)


def read_rates(rate: abi.Rate | None) -> Rates:
    """ip_vs_read_estimator(): the estimates, scaled by 2^10 and 2^5, rounded to per second."""
    if rate is None:
        return Rates()
    return Rates((rate.cps + 0x1FF) >> 10, (rate.inpps + 0x1FF) >> 10, (rate.outpps + 0x1FF) >> 10,
                 (rate.inbps + 0xF) >> 5, (rate.outbps + 0xF) >> 5)


class MapDataplane:
    """The Dataplane protocol over a director's maps: read, plan, apply."""

    def __init__(self, maps: DirectorMaps, sources: Sources) -> None:
        self.maps = maps
        self.sources = sources
        self._read: MapState | None = None  # the maps as last read; None: read again when needed
        self._slots: dict[ServiceKey, _ServiceSlots] = {}
        self._real_values: dict[int, abi.Real] = {}

    # -- reading -----------------------------------------------------------

    def read(self) -> Config:
        self._read = state = read_state(self.maps)
        by_svc = state.service_reals()
        self._real_values = {i: state.reals[i] for ids in by_svc.values() for i in ids}
        self._slots = {key: _ServiceSlots(value.id, value, by_svc.get(value.id, []))
                       for key, value in state.services.items()}
        return config_of(state)

    def _fresh(self) -> MapState:
        """The maps as last read, read again if a commit changed them since."""
        if self._read is None:
            self.read()
        assert self._read is not None
        return self._read

    @property
    def real_values(self) -> dict[int, abi.Real]:
        """The live real servers' entries, by id (as the maps hold them now)."""
        self._fresh()
        return self._real_values

    # -- writing -----------------------------------------------------------

    def plan(self, new: Config) -> list[Write]:
        """The writes that make the maps (as last read()) forward by `new`."""
        resolved: dict[ipaddress.IPv4Address, int] = {}

        def saddr(address: ipaddress.IPv4Address) -> int:
            if address not in resolved:
                source = self.sources.source(address)
                resolved[address] = abi.be32(source) if source is not None else 0
            return resolved[address]

        return plan(self._fresh(), new, saddr)

    def commit(self, old: Config, new: Config) -> None:
        """Plan against the maps as last read() (old is what that read returned), and apply."""
        apply(self.plan(new), self.maps)
        self._read = None

    def refresh_sources(self) -> int:
        """Resolve every real server's outer source address again and rewrite those that
        changed (read() first); returns how many entries changed."""
        writes = self.plan(config_of(self._fresh()))
        apply(writes, self.maps)
        self._read = None
        return len(writes)

    # -- status ------------------------------------------------------------

    def _sum(self, stats: PerCpuHandle[U32, abi.Counters], index: int) -> Counters:
        per_cpu = stats.get_all(U32(index))
        return Counters(*(sum(getattr(c, name) for c in per_cpu)
                          for name in ("conns", "inpkts", "outpkts", "inbytes", "outbytes")))

    def _live_flows(self) -> Iterator[tuple[abi.FlowKey, abi.Flow, int]]:
        """Flows whose real server is current and whose timeout has not passed,
        with the nanoseconds each has left."""
        now = time.monotonic_ns()
        for key, flow in self.maps.flows.all_items():
            real = self.real_values.get(flow.real_id)
            if real is None or real.gen != flow.real_gen:
                continue
            left = flow_timeout_ns(self.maps, flow.state) - (now - flow.last_seen_ns)
            if left >= 0 and flow.counted:
                yield key, flow, left

    def _conn_counts(self) -> dict[int, tuple[int, int]]:
        """real id -> (active, inactive) connections, as the data path counts them in lb_conns
        (a flow counts until the sweeper removes it: up to a sweep interval past its timeout)."""
        return {key.value: (conns.active, conns.inactive) for key, conns in self.maps.conns.all_items()}

    def connections(self) -> list[Connection]:
        self.read()
        result = []
        for key, flow, left in self._live_flows():
            real = self.real_values[flow.real_id]
            result.append(Connection(
                Protocol(key.proto),
                (abi.from_be32(key.saddr), abi.from_be16(key.sport)),
                (abi.from_be32(key.daddr), abi.from_be16(key.dport)),
                (abi.from_be32(real.addr), abi.from_be16(real.port)),
                FlowState(flow.state),
                left // NSEC_PER_SEC,
            ))
        return result + self._persistence_templates()

    def _live_templates(self) -> Iterator[tuple[abi.PersistKey, abi.Persist, ServiceKey, int]]:
        """Templates of persistent services whose real server is current and whose
        timeout has not passed, with their service and the nanoseconds each has left."""
        now = time.monotonic_ns()
        by_id = {slots.svc_id: (key, slots.value) for key, slots in self._slots.items()}
        for key, tpl in self.maps.persist.all_items():
            service = by_id.get(key.svc_id)
            real = self.real_values.get(tpl.real_id)
            if service is None or real is None or real.gen != tpl.real_gen:
                continue
            svc_key, svc = service
            left = svc.timeout * NSEC_PER_SEC - (now - tpl.last_seen_ns)
            if svc.flags & SvcFlag.PERSISTENT and left >= 0:
                yield key, tpl, svc_key, left

    def _persistence_templates(self) -> list[Connection]:
        """Live templates, shown as IPVS shows them: client port 0, state NONE."""
        result = []
        for key, tpl, svc_key, left in self._live_templates():
            real = self.real_values[tpl.real_id]
            result.append(Connection(
                svc_key.protocol, (abi.from_be32(key.client), 0), (svc_key.address, svc_key.port),
                (abi.from_be32(real.addr), abi.from_be16(real.port)), FlowState.NONE,
                left // NSEC_PER_SEC))
        return result

    def status(self) -> list[ServiceStatus]:
        config = self.read()
        conns = self._conn_counts()
        templates = Counter(tpl.real_id for _key, tpl, _svc, _left in self._live_templates())
        result = []
        for service in sorted_services(config):
            slots = self._slots[service.key]
            reals = []
            for real_id, real in zip(slots.real_ids, service.reals, strict=True):
                active, inactive = conns.get(real_id, (0, 0))
                rates = read_rates(self.maps.real_rates.get(U32(real_id)))
                reals.append(RealStatus(real, active, inactive, self._sum(self.maps.real_stats, real_id),
                                        templates[real_id], rates))
            result.append(ServiceStatus(service, tuple(reals), self._sum(self.maps.svc_stats, slots.svc_id),
                                        read_rates(self.maps.svc_rates.get(U32(slots.svc_id)))))
        return result

    def estimating(self) -> bool:
        """Whether a rate estimator runs on these maps (pyvs.dataplane.xdp.start_estimator,
        or the live Python data plane)."""
        estimator = self.maps.estimator.get(U32(0))
        return estimator is not None and bool(estimator.armed)

    def zero(self, key: ServiceKey | None) -> None:
        self.read()
        for service_key, slots in self._slots.items():
            if key is not None and service_key != key:
                continue
            self.maps.svc_stats.zero([slots.svc_id])
            self.maps.real_stats.zero(slots.real_ids)
            # as ip_vs_zero_estimator(): the estimates go to 0 with the counters
            self.maps.svc_rates.zero([slots.svc_id])
            self.maps.real_rates.zero(slots.real_ids)

    def connection_table_size(self) -> int:
        return int(self.maps.flows.max_entries)

    def timeouts(self) -> tuple[int, int, int]:
        tcp, tcp_fin, udp = (flow_timeout_ns(self.maps, state) // NSEC_PER_SEC
                             for state in (FlowState.ESTABLISHED, FlowState.FIN_WAIT, FlowState.UDP))
        return tcp, tcp_fin, udp

    def set_timeouts(self, tcp: int, tcp_fin: int, udp: int) -> None:
        apply(timeout_writes(tcp, tcp_fin, udp), self.maps)

    def drop_counts(self) -> dict[int, int]:
        return {reason: sum(v.value for v in self.maps.drops.get_all(U32(reason)))
                for reason in range(self.maps.drops.max_entries)}

    def icmp_counts(self) -> dict[int, int]:
        """lb_icmp: ICMP errors about services' flows forwarded (per type) or passed."""
        return {which: sum(v.value for v in self.maps.icmp.get_all(U32(which)))
                for which in range(self.maps.icmp.max_entries)}

    def settings(self) -> dict[Setting, bool]:
        """pyvs's own switches (lb_settings)."""
        return {which: bool(getattr(self.maps.settings.get(U32(which)), "value", 0)) for which in Setting}

    def set_setting(self, which: Setting, on: bool) -> None:
        self.maps.settings.put(U32(which), U32(int(on)))



