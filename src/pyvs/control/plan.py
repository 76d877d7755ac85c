"""From a configuration to the map writes that make the director forward by it.

`plan(current, config, saddr)` takes what the director's maps hold now (a
`MapState`, read by the adapter), the wanted `Config` and the outer source
address of each real server, and returns the writes (`Put`, `PutRun`,
`Delete`, `Zero`) that the adapter's `apply()` carries out in order.

Rule 1: pure. No I/O, no clock: maps in, writes out; tests drive it with
dict-backed twins (pyvs.packet.tables).
Rule 2: deterministic. The same MapState, Config and addresses give the same
plan, write for write (services are taken in sorted order).
Rule 3: whole. The plan makes the maps what the Config asks for, whatever
they held: real-server entries no service owns are freed, the VIP address
counts are recounted. Planning again after an interrupted apply mends it.
Rule 4: no half-written service is ever visible to the data path, after
any prefix of the plan: the counters of the ids given out are reset first
(nothing refers to those ids yet), services that go are deleted before their
real servers are freed, then come new real servers, then each schedule into
its service's idle bank and its position, then the service entry that flips
the bank; real servers a service dropped are freed only after that (and not
given out again by the same plan), and VIP addresses are counted in before
and out after. The writes are grouped by these phases (`_Phase`), all
services' together, so that the adapter needs a few batches, not a few per
service.

Ids: a service keeps its id and a real server of a service that stays keeps
its id and generation (so its flows go on); new ones take the lowest free
ids, the generation counter only grows (a flow of a freed id never matches
its successor); an id a service drops is free for the next plan. A service
whose configuration and real servers' addresses are unchanged gets no write
at all. rr and wrr resume where the data path's
position says the running sequence is, as IPVS's schedulers would.
"""

from __future__ import annotations

import ctypes
import enum
import heapq
import ipaddress
import socket
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pyvs.control.config import Config
from pyvs.model.enums import SCHED_FLAGS_MASK, FlowState, Scheduler, SvcFlag
from pyvs.model.errors import ConfigError, DataplaneError
from pyvs.model.service import RealServer, ServiceKey, VirtualService
from pyvs.packet import abi
from pyvs.packet.tables import LB_MAX_MH_SERVICES
from pyvs.sched import SCHED_SLOTS, SEQUENCES, SchedState, resume, slots, state_at
from pyvs.sched.mh import TABLE_SIZE as MH_TABLE_SIZE
from pyvs.sched.mh import mh_table

FREE_SVC_ID = 0xFFFFFFFF  # lb_real.svc_id of a free real server id
U32 = ctypes.c_uint32

# Outer source address toward a real server, as lb_real.saddr holds it (0: no route).
SaddrOf = Callable[[ipaddress.IPv4Address], int]


class _MapWrite:
    """Writes compare by their bytes (ctypes values compare by identity)."""

    __slots__ = ()

    def _bytes(self) -> tuple[object, ...]:
        return (type(self), *(bytes(v) if isinstance(v, ctypes.Structure | ctypes._SimpleCData) else v
                              for v in (getattr(self, f) for f in self.__dataclass_fields__)))  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _MapWrite) and self._bytes() == other._bytes()

    def __hash__(self) -> int:
        return hash(self._bytes())


@dataclass(slots=True, eq=False)
class Put(_MapWrite):
    table: str  # a field of pyvs.packet.tables.DirectorMaps
    key: Any  # the map's ctypes key
    value: Any  # the map's ctypes value


@dataclass(slots=True, eq=False)
class Delete(_MapWrite):
    table: str
    key: Any


@dataclass(slots=True, eq=False)
class PutRun(_MapWrite):
    """Consecutive entries of an array of u32: table[first + i] = values[i]."""

    table: str
    first: int
    values: tuple[int, ...]


@dataclass(slots=True, eq=False)
class Zero(_MapWrite):
    """Reset counter entries, per CPU or not (of ids about to be given out)."""

    table: str
    indices: tuple[int, ...]


Write = Put | PutRun | Delete | Zero


@dataclass
class MapState:
    """What the planner needs of the director's maps, as read."""

    services: dict[ServiceKey, abi.Svc]
    reals: dict[int, abi.Real]  # every id ever given out (gen > 0), free ones included
    sched_pos: dict[int, int]  # service id -> position in its schedule
    vip_addrs: dict[int, int]  # VIP (be32) -> services on it
    max_services: int
    max_reals: int
    max_mh_services: int = LB_MAX_MH_SERVICES  # tables lb_mh has room for

    def service_reals(self) -> dict[int, list[int]]:
        """service id -> its real server ids, oldest first (the order they were added)."""
        by_svc: dict[int, list[int]] = {}
        for real_id, real in sorted(self.reals.items(), key=lambda kv: (kv[1].gen, kv[0])):
            if real.gen and real.svc_id != FREE_SVC_ID:
                by_svc.setdefault(real.svc_id, []).append(real_id)
        return by_svc


def config_of(state: MapState) -> Config:
    """The configuration the maps hold (real servers in the order they were added)."""
    by_svc = state.service_reals()
    config: dict[ServiceKey, VirtualService] = {}
    for key, value in state.services.items():
        timeout = value.timeout if value.flags & SvcFlag.PERSISTENT else None
        reals = tuple(state.reals[i].to_model() for i in by_svc.get(value.id, []))
        flags = value.flags & SCHED_FLAGS_MASK
        config[key] = VirtualService(key, Scheduler(value.sched), timeout, reals, flags,
                                     abi.from_be32(value.netmask), bool(value.flags & SvcFlag.ONEPACKET))
    return config


def overload_epoch(held: abi.Real, real: RealServer) -> int:
    """lb_real.overload_epoch after an edit of real server `held` into `real`: moved on
    (clearing the overloaded flag) where IPVS's __ip_vs_update_dest() clears it, when
    the upper threshold goes away or rises; kept otherwise (never 0)."""
    if held.u_threshold and (real.u_threshold == 0 or real.u_threshold > held.u_threshold):
        return int(held.overload_epoch) % 0xFFFFFFFF + 1
    return int(held.overload_epoch) or 1


class IdPool:
    """Free ids, lowest first (what a scan from 0 would find), in O(log n).

    With `generation_of` (real server ids): the ids never given out come first, lowest
    first, and an id given out before comes back only when none is left, the one given
    out longest ago first (the lowest generation). A removed real server's id keeps its
    address for its connections to drain to (LB_SETTING_DRAIN), so it is the last reused.
    """

    def __init__(self, used: Iterable[int], limit: int, what: str,
                 generation_of: Callable[[int], int] | None = None, given_out: Iterable[int] = ()) -> None:
        taken = set(used)
        self._generation_of = generation_of or (lambda slot: 0)
        self._next = max(taken.union(given_out), default=-1) + 1
        # ascending (generation, id): a valid heap
        self._holes = sorted((self._generation_of(i), i) for i in range(self._next) if i not in taken)
        self._limit = limit
        self._what = what

    def take(self) -> int:
        if self._holes and (self._holes[0][0] == 0 or self._next >= self._limit):
            return heapq.heappop(self._holes)[1]
        if self._next >= self._limit:
            raise DataplaneError(28, f"too many {self._what}")
        self._next += 1
        return self._next - 1

    def give_back(self, slot: int) -> None:
        heapq.heappush(self._holes, (self._generation_of(slot), slot))


class _Phase(enum.IntEnum):
    """The order in which a plan's writes are applied (rule 4), every service's
    writes of one phase together, so that the adapter writes each phase of a
    large change in a few batches."""

    ZERO = 0  # counters of the ids given out
    REMOVE = 1  # services that go: their entries, then their real servers freed
    VIPS_UP = 2  # VIP counts that rise
    REALS = 3  # real servers' entries, new and changed
    SCHEDULES = 4  # schedules, into each service's idle bank
    POSITIONS = 5  # where each schedule starts
    SERVICES = 6  # service entries: each flips its bank
    FREE = 7  # real servers that services dropped
    VIPS_DOWN = 8  # VIP counts that fall


@dataclass
class _Planner:
    state: MapState
    saddr: SaddrOf
    phases: dict[_Phase, list[Write]] = field(default_factory=lambda: {phase: [] for phase in _Phase})
    # Counters of the ids given out, reset before any write that uses them.
    zeroed: dict[str, list[int]] = field(default_factory=lambda: {
        "svc_stats": [], "real_stats": [], "conns": [], "svc_rates": [], "real_rates": []})

    def __post_init__(self) -> None:
        self.by_svc = self.state.service_reals()
        self.max_gen = max((r.gen for r in self.state.reals.values()), default=0)
        self.reals = dict(self.state.reals)  # as written so far
        live_svc_ids = {v.id for v in self.state.services.values()}
        self.svc_ids = IdPool(live_svc_ids, self.state.max_services, "virtual services")
        owned = {i for ids in self.by_svc.values() for i in ids}
        self.real_ids = IdPool(owned, self.state.max_reals, "real servers",
                               lambda real_id: self.reals[real_id].gen if real_id in self.reals else 0,
                               given_out=(i for i, r in self.reals.items() if r.gen))
        mh_slots = {v.table for v in self.state.services.values() if v.sched == Scheduler.MH}
        self.mh_slots = IdPool(mh_slots, self.state.max_mh_services, "services with the mh scheduler")
        self._saddrs: dict[int, int] = {}  # by int(address): hashing an IPv4Address is slow
        self._templates: dict[tuple[int, int], bytes] = {}

    def source(self, address: ipaddress.IPv4Address) -> int:
        saddr = self._saddrs.get(int(address))
        if saddr is None:
            saddr = self._saddrs[int(address)] = self.saddr(address)
        return saddr

    def writes(self) -> list[Write]:
        self.phases[_Phase.ZERO] = [Zero(table, tuple(ids)) for table, ids in self.zeroed.items() if ids]
        return [write for phase in _Phase for write in self.phases[phase]]

    def real_entry(self, real: RealServer, svc_id: int, gen: int, last_weight: int,
                   overload_epoch: int) -> abi.Real:
        """The lb_real entry of `real` in service `svc_id`; built once per real server and
        last weight and copied (the same pool of real servers often serves many services)."""
        key = (id(real), last_weight)  # `real` lives in the Config, as long as the plan
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = bytes(abi.Real.from_model(
                real, svc_id=0, gen=0, saddr=self.source(real.address), last_weight=last_weight))
        value = abi.Real.from_buffer_copy(template)
        value.svc_id, value.gen, value.overload_epoch = svc_id, gen, overload_epoch
        return value

    def put_real(self, phase: _Phase, real_id: int, value: abi.Real) -> None:
        old = self.reals.get(real_id)
        if old is None or bytes(old) != bytes(value):
            self.phases[phase].append(Put("reals", U32(real_id), value))
        self.reals[real_id] = value

    def free_real(self, phase: _Phase, real_id: int) -> None:
        # Its address stays, for connections drained to it (LB_SETTING_DRAIN) until the id
        # is given out again; its generation says it is not that real server any more.
        old = self.reals[real_id]
        self.put_real(phase, real_id, abi.Real(addr=old.addr, port=old.port, fwd=old.fwd, saddr=old.saddr,
                                               svc_id=FREE_SVC_ID, gen=old.gen))
        # An id a service dropped is freed after the flips: this plan does not give it out
        # again (the next one sees it free). Ids freed before any real server is written are.
        if phase is not _Phase.FREE:
            self.real_ids.give_back(real_id)

    def forget_cache(self, phase: _Phase, key: ServiceKey, value: abi.Svc) -> None:
        """An lblc or lblcr service's cache goes with it, as the kernel's done_service() flushes it
        (for a virtual service, the one destination address is its VIP)."""
        if value.sched in (Scheduler.LBLC, Scheduler.LBLCR):
            cache = abi.LblcKey(svc_id=value.id, daddr=abi.be32(key.address))
            self.phases[phase].append(Delete("lblc", cache))

    def remove_service(self, key: ServiceKey) -> None:
        value = self.state.services[key]
        self.phases[_Phase.REMOVE].append(Delete("services", abi.SvcKey.from_model(key)))
        self.forget_cache(_Phase.REMOVE, key, value)
        for real_id in self.by_svc.pop(value.id, []):
            self.free_real(_Phase.REMOVE, real_id)
        self.svc_ids.give_back(value.id)
        if value.sched == Scheduler.MH:
            self.mh_slots.give_back(value.table)

    def write_service(self, service: VirtualService) -> None:
        current = self.state.services.get(service.key)
        if current is None:
            svc_id = self.svc_ids.take()
            current = abi.Svc(id=svc_id, bank=1)
            self.zeroed["svc_stats"].append(svc_id)
            self.zeroed["svc_rates"].append(svc_id)
        svc_id = current.id
        old_ids = self.by_svc.get(svc_id, [])
        # Where the running schedule stands, to resume it as IPVS would; a new
        # scheduler starts afresh, as IPVS initialises it.
        old_list = [(i, self.reals[i].weight) for i in reversed(old_ids)]
        sched_state = SchedState()
        sequence_kept = service.key in self.state.services and current.sched == service.scheduler
        if sequence_kept and service.scheduler in SEQUENCES:
            held = SchedState.decode(service.scheduler, current.sched_state)
            sched_state = state_at(service.scheduler, old_list, self.state.sched_pos.get(svc_id, 0),
                                   current.sched_start, held)
        # Real servers: keep the ids (and so the flows) of those that stay.
        kept: dict[tuple[int, int], int] = {}  # (be32 address, be16 port) -> id
        for real_id in old_ids:
            entry = self.reals[real_id]
            kept.setdefault((entry.addr, entry.port), real_id)
        placed: list[tuple[int, int]] = []  # (id, generation) of each real server, in order
        for real in service.reals:
            found = kept.pop((abi.be32(real.address), abi.be16(real.port)), None) if kept else None
            if found is not None:
                placed.append((found, self.reals[found].gen))
            else:
                self.max_gen += 1
                placed.append((self.real_ids.take(), self.max_gen))
                self.zeroed["real_stats"].append(placed[-1][0])
                self.zeroed["conns"].append(placed[-1][0])
                self.zeroed["real_rates"].append(placed[-1][0])
        for real, (real_id, gen) in zip(service.reals, placed, strict=True):
            held_real = self.reals.get(real_id) if real_id in old_ids else None
            # IPVS's last_weight: the weight, unless an edit set it to 0 (then the one before).
            last = held_real.last_weight if held_real is not None and real.weight == 0 else real.weight
            epoch = 1 if held_real is None else overload_epoch(held_real, real)
            self.put_real(_Phase.REALS, real_id, self.real_entry(real, svc_id, gen, last, epoch))
        ordered = [real_id for real_id, _ in placed]
        # The schedule runs over the kernel's list order: newest real server first.
        list_order = list(reversed(ordered))
        new_list = [(i, self.reals[i].weight) for i in list_order]
        bank = current.bank ^ 1
        table_slot = self.mh_table_slot(service, current)
        if service.scheduler == Scheduler.MH:
            entries = [self.reals[i] for i in list_order]
            table = mh_table([(socket.ntohl(e.addr), socket.ntohs(e.port), e.last_weight) for e in entries])
            sequence = [list_order[i] for i in table]
            self.phases[_Phase.SCHEDULES].append(PutRun("mh", (table_slot * 2 + bank) * MH_TABLE_SIZE,
                                                        tuple(sequence)))
        else:
            try:
                weights = [w for _, w in new_list]
                sequence = [list_order[i] for i in slots(service.scheduler, weights, service.sched_flags)]
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            self.phases[_Phase.SCHEDULES].append(PutRun("sched", (svc_id * 2 + bank) * SCHED_SLOTS,
                                                        tuple(sequence)))
        start = 0
        if service.scheduler in SEQUENCES:
            start, sched_state = resume(service.scheduler, sched_state, old_list, new_list)
        self.phases[_Phase.POSITIONS].append(Put("sched_pos", U32(svc_id), U32(start)))
        value = abi.Svc(id=svc_id, sched=int(service.scheduler), bank=bank, sched_len=len(sequence),
                        sched_start=start, sched_state=sched_state.encode(service.scheduler),
                        table=table_slot, netmask=abi.be32(service.netmask))
        value.flags = service.sched_flags & SCHED_FLAGS_MASK
        if service.one_packet:
            value.flags |= SvcFlag.ONEPACKET
        if service.persistence_timeout is not None:
            value.flags |= SvcFlag.PERSISTENT
            value.timeout = service.persistence_timeout
        self.phases[_Phase.SERVICES].append(Put("services", abi.SvcKey.from_model(service.key), value))
        for real_id in old_ids:
            if real_id not in ordered:
                self.free_real(_Phase.FREE, real_id)
        if service.key in self.state.services and current.sched != service.scheduler:
            self.forget_cache(_Phase.FREE, service.key, current)
        self.by_svc[svc_id] = ordered

    def mh_table_slot(self, service: VirtualService, current: abi.Svc) -> int:
        """The service's slot in lb_mh: kept while it stays mh, given out when it becomes
        mh; 0 for the others. A slot a service stops using is not given out again by
        the same plan (its old table stays live until the flip): the next plan sees it free."""
        was_mh = service.key in self.state.services and current.sched == Scheduler.MH
        if service.scheduler == Scheduler.MH:
            return current.table if was_mh else self.mh_slots.take()
        return 0

    def refresh_sources(self, real_ids: Iterable[int]) -> None:
        for real_id in real_ids:
            value = self.reals[real_id]
            saddr = self.source(abi.from_be32(value.addr))
            if value.saddr != saddr:
                fresh = abi.Real.from_buffer_copy(value)
                fresh.saddr = saddr
                self.put_real(_Phase.REALS, real_id, fresh)

    def count_vips(self, config: Config, *, increases: bool) -> None:
        """Puts that raise or add VIP counts (before the services), or lower or delete them (after)."""
        wanted = Counter(abi.be32(key.address) for key in config)
        for addr in sorted(set(wanted) | set(self.state.vip_addrs)):
            have, want = self.state.vip_addrs.get(addr, 0), wanted.get(addr, 0)
            if increases and want > have:
                self.phases[_Phase.VIPS_UP].append(Put("vip_addrs", U32(addr), U32(want)))
            elif not increases and want < have:
                self.phases[_Phase.VIPS_DOWN].append(Put("vip_addrs", U32(addr), U32(want)) if want
                                                     else Delete("vip_addrs", U32(addr)))


def timeout_writes(tcp: int, tcp_fin: int, udp: int) -> list[Write]:
    """The writes of `ipvsadm --set tcp tcpfin udp`: the idle timeouts, in seconds, of TCP
    ESTABLISHED, TCP FIN_WAIT and UDP flows; 0 leaves one as it is (as IPVS does)."""
    return [Put("timeouts", U32(int(state)), U32(seconds))
            for state, seconds in ((FlowState.ESTABLISHED, tcp), (FlowState.FIN_WAIT, tcp_fin),
                                   (FlowState.UDP, udp)) if seconds]


def plan(current: MapState, config: Config, saddr: SaddrOf) -> list[Write]:
    """The writes that take the maps from `current` to forwarding by `config`.

    Raises ConfigError (a schedule that cannot be built) or DataplaneError (no
    free id) before anything is written: a plan is applied whole or not at all.
    """
    planner = _Planner(current, saddr)
    held = config_of(current)
    live_ids = {v.id for v in current.services.values()}
    for svc_id in sorted(set(planner.by_svc) - live_ids):  # orphans: owned by no service
        for real_id in planner.by_svc.pop(svc_id):
            planner.free_real(_Phase.REMOVE, real_id)
    for key in sorted(held):
        if key not in config:
            planner.remove_service(key)
    planner.count_vips(config, increases=True)
    for key in sorted(config):
        if held.get(key) != config[key]:
            planner.write_service(config[key])
        else:
            planner.refresh_sources(planner.by_svc.get(current.services[key].id, []))
    planner.count_vips(config, increases=False)
    return planner.writes()
