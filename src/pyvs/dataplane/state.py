"""The director's configuration and status as kept in its maps.

`MapDataplane` implements the Dataplane protocol over a `DirectorMaps`: the
pinned BPF maps for pyvsadm and the XDP program, or dict-backed twins holding
the same bytes for the reference pipeline and its tests. The configuration
lives only in the maps (DESIGN.md, principle 1): `read()` rebuilds the model
from them and `commit()` writes the difference. Writes are ordered so that the
running program never sees a service pointing at a half-written schedule: new
real servers first, then the schedule into the idle bank, then the service
entry that flips the bank, and only then are removed real servers freed.
Each real server's entry also holds the outer source address toward it, which
`Sources` (the kernel's route lookup, or a test's StaticFib) resolves: on every
commit for every real server, so that a commit also catches up with route
changes (`refresh_sources()` does only that).
"""

from __future__ import annotations

import ctypes
import heapq
import ipaddress
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pyvs.control.config import Config
from pyvs.dataplane.base import sorted_services
from pyvs.model.enums import FLOW_TIMEOUT_S, NSEC_PER_SEC, FlowState, Protocol, Scheduler, SvcFlag
from pyvs.model.errors import ConfigError, DataplaneError
from pyvs.model.service import ServiceKey, VirtualService
from pyvs.model.status import Connection, Counters, RealStatus, ServiceStatus
from pyvs.packet import abi
from pyvs.packet.fib import Sources
from pyvs.packet.tables import DirectorMaps, PerCpuHandle
from pyvs.sched import SCHED_SLOTS, SchedState, resume, schedule_sequence, state_at

FREE_SVC_ID = 0xFFFFFFFF  # lb_real.svc_id of a free real server id
U32 = ctypes.c_uint32


class _IdPool:
    """Free map slots, lowest first (what a scan from 0 would find) in O(log n).

    Built from the ids in use when the maps are read; ids above the highest
    one in use are all free, so only the holes below it are kept.
    """

    def __init__(self, used: Iterable[int], limit: int, what: str) -> None:
        taken = set(used)
        self._next = max(taken, default=-1) + 1
        self._holes = [i for i in range(self._next) if i not in taken]  # ascending: a valid heap
        self._limit = limit
        self._what = what

    def take(self) -> int:
        if self._holes:
            return heapq.heappop(self._holes)
        if self._next >= self._limit:
            raise DataplaneError(28, f"too many {self._what}")
        self._next += 1
        return self._next - 1

    def give_back(self, slot: int) -> None:
        heapq.heappush(self._holes, slot)


@dataclass
class _ServiceSlots:
    """Where one service sits in the maps, as read back from them."""

    svc_id: int
    value: abi.Svc
    real_ids: list[int]  # insertion order (ascending generation)


class MapDataplane:
    """The Dataplane protocol over a director's maps."""

    def __init__(self, maps: DirectorMaps, sources: Sources) -> None:
        self.maps = maps
        self.sources = sources
        self._resolved: dict[ipaddress.IPv4Address, int] = {}  # real address -> saddr, this operation's
        self._slots: dict[ServiceKey, _ServiceSlots] = {}
        self._real_values: dict[int, abi.Real] = {}
        self._max_gen = 0
        self._svc_ids = _IdPool((), maps.svc_stats.max_entries, "virtual services")
        self._real_ids = _IdPool((), maps.reals.max_entries, "real servers")

    # -- reading -----------------------------------------------------------

    def _read_reals(self) -> dict[int, abi.Real]:
        used = self.maps.reals.all_items()  # every id ever given out: generations only grow
        self._max_gen = max((real.gen for _, real in used), default=0)
        return {key.value: real for key, real in used if real.gen and real.svc_id != FREE_SVC_ID}

    def read(self) -> Config:
        self._real_values = self._read_reals()
        by_svc: dict[int, list[int]] = {}
        for real_id, real in sorted(self._real_values.items(), key=lambda kv: kv[1].gen):
            by_svc.setdefault(real.svc_id, []).append(real_id)
        config: dict[ServiceKey, VirtualService] = {}
        self._slots = {}
        for key, value in self.maps.services.items():
            model_key = key.to_model()
            real_ids = by_svc.get(value.id, [])
            timeout = value.timeout if value.flags & SvcFlag.PERSISTENT else None
            config[model_key] = VirtualService(
                model_key, Scheduler(value.sched), timeout,
                tuple(self._real_values[i].to_model() for i in real_ids))
            self._slots[model_key] = _ServiceSlots(value.id, value, real_ids)
        self._svc_ids = _IdPool((s.svc_id for s in self._slots.values()), self.maps.svc_stats.max_entries,
                                "virtual services")
        self._real_ids = _IdPool(self._real_values, self.maps.reals.max_entries, "real servers")
        return config

    # -- writing -----------------------------------------------------------

    def commit(self, old: Config, new: Config) -> None:
        self._resolved.clear()
        for key in old:
            if key not in new:
                self._remove_service(key)
        for key, service in new.items():
            if old.get(key) != service:
                self._write_service(service)
        self._rewrite_sources()

    def refresh_sources(self) -> int:
        """Rewrite the outer source address of every real server whose route now gives
        another one (read() first); returns how many entries changed."""
        self._resolved.clear()
        return self._rewrite_sources()

    def _rewrite_sources(self) -> int:
        changed = 0
        for real_id, value in self._real_values.items():
            saddr = self._saddr(abi.from_be32(value.addr))
            if value.saddr != saddr:
                value.saddr = saddr
                self.maps.reals.put(U32(real_id), value)
                changed += 1
        return changed

    def _saddr(self, address: ipaddress.IPv4Address) -> int:
        """The outer source toward `address` in lb_real.saddr's form (0: no route), asked once
        per operation however many services the real server is in."""
        if address not in self._resolved:
            source = self.sources.source(address)
            self._resolved[address] = abi.be32(source) if source is not None else 0
        return self._resolved[address]

    def _next_gen(self) -> int:
        self._max_gen += 1
        return self._max_gen

    def _write_service(self, service: VirtualService) -> None:
        slots = self._slots.get(service.key)
        existing = slots is not None
        if slots is None:
            svc_id = self._svc_ids.take()
            slots = _ServiceSlots(svc_id, abi.Svc(id=svc_id, bank=1), [])
            self.maps.svc_stats.zero(U32(svc_id))
            self._add_vip_addr(service.key.address)
        svc_id = slots.svc_id
        # Where the running schedule stands, to resume it as IPVS would; a new
        # scheduler starts afresh, as IPVS initialises it.
        old_list = [(i, self._real_values[i].weight) for i in reversed(slots.real_ids)]
        state = SchedState()
        if existing and slots.value.sched == service.scheduler:
            pos = self.maps.sched_pos.get(U32(svc_id))
            state = state_at(service.scheduler, old_list, pos.value if pos else 0, slots.value.sched_start,
                             SchedState.decode(service.scheduler, slots.value.sched_state))
        # Real servers: keep ids (and so flows) of those that stay.
        kept: dict[tuple[ipaddress.IPv4Address, int], int] = {}
        for real_id in slots.real_ids:
            current = self._real_values[real_id]
            kept[(abi.from_be32(current.addr), abi.from_be16(current.port))] = real_id
        ordered_ids: list[int] = []
        for real in service.reals:
            found = kept.pop((real.address, real.port), None)
            if found is not None:
                real_id = found
                gen = self._real_values[real_id].gen
            else:
                real_id = self._real_ids.take()
                gen = self._next_gen()
                self.maps.real_stats.zero(U32(real_id))
            real_value = abi.Real.from_model(real, svc_id=svc_id, gen=gen, saddr=self._saddr(real.address))
            self.maps.reals.put(U32(real_id), real_value)
            self._real_values[real_id] = real_value
            ordered_ids.append(real_id)
        # Schedule over the kernel's list order: newest real server first.
        list_order = list(reversed(ordered_ids))
        weights = [self._real_values[i].weight for i in list_order]
        try:
            sequence = [list_order[i] for i in schedule_sequence(service.scheduler, weights)]
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        bank = slots.value.bank ^ 1
        base = (svc_id * 2 + bank) * SCHED_SLOTS
        for offset, real_id in enumerate(sequence):
            self.maps.sched.put(U32(base + offset), U32(real_id))
        new_list = [(i, self._real_values[i].weight) for i in list_order]
        start, state = resume(service.scheduler, state, old_list, new_list)
        self.maps.sched_pos.put(U32(svc_id), U32(start))
        value = abi.Svc(id=svc_id, sched=int(service.scheduler), bank=bank, sched_len=len(sequence),
                        sched_start=start, sched_state=state.encode(service.scheduler))
        if service.persistence_timeout is not None:
            value.flags = SvcFlag.PERSISTENT
            value.timeout = service.persistence_timeout
        self.maps.services.put(abi.SvcKey.from_model(service.key), value)
        for real_id in kept.values():
            self._free_real(real_id)
        self._slots[service.key] = _ServiceSlots(svc_id, value, ordered_ids)

    def _free_real(self, real_id: int) -> None:
        gen = self._real_values.pop(real_id).gen
        self._real_ids.give_back(real_id)
        self.maps.reals.put(U32(real_id), abi.Real(svc_id=FREE_SVC_ID, gen=gen))

    def _remove_service(self, key: ServiceKey) -> None:
        slots = self._slots.pop(key)
        self._svc_ids.give_back(slots.svc_id)
        self.maps.services.delete(abi.SvcKey.from_model(key))
        for real_id in slots.real_ids:
            self._free_real(real_id)
        self._drop_vip_addr(key.address)

    def _add_vip_addr(self, address: ipaddress.IPv4Address) -> None:
        count = self.maps.vip_addrs.get(abi.addr_key(address))
        self.maps.vip_addrs.put(abi.addr_key(address), U32((count.value if count else 0) + 1))

    def _drop_vip_addr(self, address: ipaddress.IPv4Address) -> None:
        count = self.maps.vip_addrs.get(abi.addr_key(address))
        if count is None or count.value <= 1:
            self.maps.vip_addrs.delete(abi.addr_key(address))
        else:
            self.maps.vip_addrs.put(abi.addr_key(address), U32(count.value - 1))

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
            real = self._real_values.get(flow.real_id)
            if real is None or real.gen != flow.real_gen:
                continue
            left = FLOW_TIMEOUT_S[FlowState(flow.state)] * NSEC_PER_SEC - (now - flow.last_seen_ns)
            if left >= 0:
                yield key, flow, left

    def _conn_counts(self) -> dict[int, tuple[int, int]]:
        """real id -> (active, inactive) connections alive now, as IPVS counts them."""
        counts: dict[int, list[int]] = {}
        for _key, flow, _left in self._live_flows():
            pair = counts.setdefault(flow.real_id, [0, 0])
            pair[0 if flow.state == FlowState.ESTABLISHED else 1] += 1
        return {k: (v[0], v[1]) for k, v in counts.items()}

    def connections(self) -> list[Connection]:
        self.read()
        result = []
        for key, flow, left in self._live_flows():
            real = self._real_values[flow.real_id]
            result.append(Connection(
                Protocol(key.proto),
                (abi.from_be32(key.saddr), abi.from_be16(key.sport)),
                (abi.from_be32(key.daddr), abi.from_be16(key.dport)),
                (abi.from_be32(real.addr), abi.from_be16(real.port)),
                FlowState(flow.state),
                left // NSEC_PER_SEC,
            ))
        return result + self._persistence_templates()

    def _persistence_templates(self) -> list[Connection]:
        """Live templates of persistent services, shown as IPVS shows them:
        client port 0, state NONE."""
        now = time.monotonic_ns()
        by_id = {slots.svc_id: (key, slots.value) for key, slots in self._slots.items()}
        result = []
        for key, tpl in self.maps.persist.all_items():
            service = by_id.get(key.svc_id)
            real = self._real_values.get(tpl.real_id)
            if service is None or real is None or real.gen != tpl.real_gen:
                continue
            svc_key, svc = service
            left = svc.timeout * NSEC_PER_SEC - (now - tpl.last_seen_ns)
            if not svc.flags & SvcFlag.PERSISTENT or left < 0:
                continue
            result.append(Connection(
                svc_key.protocol, (abi.from_be32(key.client), 0), (svc_key.address, svc_key.port),
                (abi.from_be32(real.addr), abi.from_be16(real.port)), FlowState.NONE,
                left // NSEC_PER_SEC))
        return result

    def status(self) -> list[ServiceStatus]:
        config = self.read()
        conns = self._conn_counts()
        result = []
        for service in sorted_services(config):
            slots = self._slots[service.key]
            reals = []
            for real_id, real in zip(slots.real_ids, service.reals, strict=True):
                active, inactive = conns.get(real_id, (0, 0))
                reals.append(RealStatus(real, active, inactive, self._sum(self.maps.real_stats, real_id)))
            result.append(ServiceStatus(service, tuple(reals), self._sum(self.maps.svc_stats, slots.svc_id)))
        return result

    def zero(self, key: ServiceKey | None) -> None:
        self.read()
        for service_key, slots in self._slots.items():
            if key is not None and service_key != key:
                continue
            self.maps.svc_stats.zero(U32(slots.svc_id))
            for real_id in slots.real_ids:
                self.maps.real_stats.zero(U32(real_id))

    def connection_table_size(self) -> int:
        return int(self.maps.flows.max_entries)

    def drop_counts(self) -> dict[int, int]:
        return {reason: sum(v.value for v in self.maps.drops.get_all(U32(reason)))
                for reason in range(self.maps.drops.max_entries)}



