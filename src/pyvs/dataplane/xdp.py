"""The XDP data plane: loading the programs, and pyvsadm's view of the pinned maps.

The configuration lives only in the pinned maps (DESIGN.md, principle 1):
`XdpDataplane.read()` rebuilds the model from them and `commit()` writes the
difference. Writes are ordered so that the running program never sees a
service pointing at a half-written schedule: new real servers first, then the
schedule into the idle bank, then the service entry that flips the bank, and
only then are removed real servers freed.
"""

from __future__ import annotations

import ctypes
import fcntl
import ipaddress
import os
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from pyvs.bpf import build
from pyvs.control.config import Config
from pyvs.dataplane import abi, libbpf, pins
from pyvs.dataplane.base import Connection, Counters, RealStatus, ServiceStatus, sorted_services
from pyvs.dataplane.maps import BpfMap, PerCpuMap
from pyvs.model.enums import FlowState, Protocol, Scheduler
from pyvs.model.errors import ConfigError, DataplaneError
from pyvs.model.service import ServiceKey, VirtualService
from pyvs.sched import SCHED_SLOTS, SchedState, resume, schedule_sequence, state_at

DIRECTOR_PROGRAM = "lb_director"
DECAP_PROGRAM = "lb_decap"
FLOW_TIMEOUT_S = {
    FlowState.NONE: 2,
    FlowState.ESTABLISHED: 900,
    FlowState.SYN_RECV: 60,
    FlowState.FIN_WAIT: 120,
    FlowState.TIME_WAIT: 120,
    FlowState.CLOSE: 10,
    FlowState.UDP: 300,
}
_SVC_F_PERSISTENT = 1
FREE_SVC_ID = 0xFFFFFFFF  # lb_real.svc_id of a free real server id
U32 = ctypes.c_uint32


def ifindex_of(ifname: str) -> int:
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        raise ConfigError(f"no such interface: {ifname}") from None


def _write_sysctl(path: str, value: str) -> None:
    with open(f"/proc/sys/{path}", "w") as f:
        f.write(value)


def _attach(ifname: str, obj: libbpf.BpfObject, program: str) -> None:
    ifindex = ifindex_of(ifname)
    fd = obj.program_fd(program)
    try:
        libbpf.xdp_attach(ifindex, fd, libbpf.XDP_FLAGS_DRV_MODE)
    except DataplaneError:
        libbpf.xdp_attach(ifindex, fd, libbpf.XDP_FLAGS_SKB_MODE)


def _detach(ifname: str) -> None:
    ifindex = ifindex_of(ifname)
    for mode in (libbpf.XDP_FLAGS_DRV_MODE, libbpf.XDP_FLAGS_SKB_MODE):
        with suppress(DataplaneError):
            libbpf.xdp_detach(ifindex, mode)


def open_director_object(pin_dir: Path, *, max_flows: int | None = None,
                         max_services: int | None = None, max_reals: int | None = None) -> libbpf.BpfObject:
    """Open and load the director object with its maps pinned in pin_dir (reused if there)."""
    pin_dir.mkdir(parents=True, exist_ok=True)
    obj = libbpf.BpfObject(build.object_path("lb_xdp"), pin_root=pin_dir)
    try:
        if max_flows:
            obj.set_max_entries("lb_flows", max_flows)
            obj.set_max_entries("lb_persist", max_flows)
        if max_services:
            for name in ("lb_services", "lb_vip_addrs", "lb_sched_pos", "lb_svc_stats"):
                obj.set_max_entries(name, max_services)
            obj.set_max_entries("lb_sched", max_services * 2 * SCHED_SLOTS)
        if max_reals:
            obj.set_max_entries("lb_reals", max_reals)
            obj.set_max_entries("lb_real_stats", max_reals)
        obj.load()
    except BaseException:
        obj.close()
        raise
    return obj


def attach_director(ifname: str) -> None:
    """Load the director on an interface; its maps are this netns's pinned state."""
    ifindex_of(ifname)  # a bad name changes nothing
    pins.ensure_bpffs()
    with open_director_object(pins.netns_dir()) as obj:
        _attach(ifname, obj, DIRECTOR_PROGRAM)
    # The kernel forwards what the program passes back (unresolved neighbour,
    # fragmentation): that needs forwarding on, and accept_local because the
    # passed packet's outer source is this host's own address.
    _write_sysctl("net/ipv4/ip_forward", "1")
    _write_sysctl(f"net/ipv4/conf/{ifname}/forwarding", "1")
    _write_sysctl(f"net/ipv4/conf/{ifname}/accept_local", "1")


def detach_director(ifname: str) -> None:
    _detach(ifname)


@dataclass(frozen=True)
class DecapStatus:
    attached: bool
    vips: list[ipaddress.IPv4Address] = field(default_factory=list)
    local_addrs: list[ipaddress.IPv4Address] = field(default_factory=list)


def _decap_dir() -> Path:
    return pins.netns_dir() / "decap"


def attach_decap(ifname: str, vips: Sequence[ipaddress.IPv4Address],
                 local_addrs: Sequence[ipaddress.IPv4Address]) -> None:
    """Attach the real-server decapsulation program; its address maps become exactly these."""
    ifindex_of(ifname)  # a bad name changes nothing
    pins.ensure_bpffs()
    directory = _decap_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with libbpf.BpfObject(build.object_path("decap_xdp"), pin_root=directory) as obj:
        obj.load()
        for name, addrs in (("lb_decap_vips", vips), ("lb_decap_locals", local_addrs)):
            wanted = {abi.be32(a) for a in addrs}
            addr_map = BpfMap(obj.map_fd(name), U32, U32)
            for key in list(addr_map.keys()):
                if key.value not in wanted:
                    addr_map.delete(key)
            for value in wanted:
                addr_map.put(U32(value), U32(1))
        _attach(ifname, obj, DECAP_PROGRAM)


def detach_decap(ifname: str) -> None:
    _detach(ifname)
    pins.remove_dir(_decap_dir())


def decap_status(ifname: str) -> DecapStatus | None:
    directory = _decap_dir()
    if not (directory / "lb_decap_vips").exists():
        return None
    attached = libbpf.xdp_query_id(ifindex_of(ifname)) != 0

    def addrs(name: str) -> list[ipaddress.IPv4Address]:
        m = BpfMap.pinned(directory, name, U32, U32)
        try:
            return sorted(abi.from_be32(k.value) for k in m)
        finally:
            m.close()

    return DecapStatus(attached, addrs("lb_decap_vips"), addrs("lb_decap_locals"))


def decap_counters() -> list[int]:
    """[packets, bytes, dropped] of the decapsulation program, summed over CPUs."""
    m = PerCpuMap.pinned(_decap_dir(), "lb_decap_stats", U32, ctypes.c_uint64)
    try:
        return [sum(v.value for v in m.get_all(U32(i))) for i in range(3)]
    finally:
        m.close()


def remove_pins() -> None:
    pins.remove_dir(pins.netns_dir())


@dataclass
class _ServiceSlots:
    """Where one service sits in the maps, as read back from them."""

    svc_id: int
    value: abi.Svc
    real_ids: list[int]  # insertion order (ascending generation)


class XdpDataplane:
    """pyvsadm's data plane: the director's pinned maps of this netns."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # One writer at a time, as ipvsadm's commands are serialised by the kernel.
        self._lock = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        d = directory
        self.services = BpfMap.pinned(d, "lb_services", abi.SvcKey, abi.Svc)
        self.vip_addrs = BpfMap.pinned(d, "lb_vip_addrs", U32, U32)
        self.reals = BpfMap.pinned(d, "lb_reals", U32, abi.Real)
        self.sched = BpfMap.pinned(d, "lb_sched", U32, U32)
        self.sched_pos = BpfMap.pinned(d, "lb_sched_pos", U32, U32)
        self.flows = BpfMap.pinned(d, "lb_flows", abi.FlowKey, abi.Flow)
        self.persist = BpfMap.pinned(d, "lb_persist", abi.PersistKey, abi.Persist)
        self.svc_stats = PerCpuMap.pinned(d, "lb_svc_stats", U32, abi.Counters)
        self.real_stats = PerCpuMap.pinned(d, "lb_real_stats", U32, abi.Counters)
        self.drops = PerCpuMap.pinned(d, "lb_drops", U32, ctypes.c_uint64)
        self._slots: dict[ServiceKey, _ServiceSlots] = {}
        self._real_values: dict[int, abi.Real] = {}
        self._max_gen = 0

    @classmethod
    def open_pinned(cls) -> XdpDataplane:
        """Open this netns's director state, creating the maps if no director ran yet."""
        pins.ensure_bpffs()
        directory = pins.netns_dir()
        if not (directory / "lb_services").exists():
            open_director_object(directory).close()
        return cls(directory)

    def close(self) -> None:
        for m in (self.services, self.vip_addrs, self.reals, self.sched, self.sched_pos, self.flows,
                  self.persist, self.svc_stats, self.real_stats, self.drops):
            m.close()
        os.close(self._lock)

    def __enter__(self) -> XdpDataplane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------

    def _read_reals(self) -> dict[int, abi.Real]:
        size = ctypes.sizeof(abi.Real)
        _keys, values, count = libbpf.map_lookup_batch(
            self.reals.fd, ctypes.sizeof(U32), size, self.reals.max_entries)
        words = memoryview(values).cast("I")
        gens = words[abi.Real.gen.offset // 4:: size // 4]
        svc_ids = words[abi.Real.svc_id.offset // 4:: size // 4]
        self._max_gen = max(gens, default=0)
        return {i: abi.Real.from_buffer_copy(values, i * size) for i in range(count)
                if gens[i] and svc_ids[i] != FREE_SVC_ID}

    def read(self) -> Config:
        self._real_values = self._read_reals()
        by_svc: dict[int, list[int]] = {}
        for real_id, real in sorted(self._real_values.items(), key=lambda kv: kv[1].gen):
            by_svc.setdefault(real.svc_id, []).append(real_id)
        config: dict[ServiceKey, VirtualService] = {}
        self._slots = {}
        for key, value in self.services.items():
            model_key = key.to_model()
            real_ids = by_svc.get(value.id, [])
            timeout = value.timeout if value.flags & _SVC_F_PERSISTENT else None
            config[model_key] = VirtualService(
                model_key, Scheduler(value.sched), timeout,
                tuple(self._real_values[i].to_model() for i in real_ids))
            self._slots[model_key] = _ServiceSlots(value.id, value, real_ids)
        return config

    # -- writing -----------------------------------------------------------

    def commit(self, old: Config, new: Config) -> None:
        for key in old:
            if key not in new:
                self._remove_service(key)
        for key, service in new.items():
            if old.get(key) != service:
                self._write_service(service)

    def _free_service_id(self) -> int:
        used = {slots.svc_id for slots in self._slots.values()}
        for svc_id in range(self.svc_stats.max_entries):
            if svc_id not in used:
                return svc_id
        raise DataplaneError(28, "too many virtual services")

    def _free_real_id(self) -> int:
        for real_id in range(self.reals.max_entries):
            if real_id not in self._real_values:
                return real_id
        raise DataplaneError(28, "too many real servers")

    def _next_gen(self) -> int:
        self._max_gen += 1
        return self._max_gen

    def _write_service(self, service: VirtualService) -> None:
        slots = self._slots.get(service.key)
        existing = slots is not None
        if slots is None:
            svc_id = self._free_service_id()
            slots = _ServiceSlots(svc_id, abi.Svc(id=svc_id, bank=1), [])
            self.svc_stats.zero(U32(svc_id))
            self._add_vip_addr(service.key.address)
        svc_id = slots.svc_id
        # Where the running schedule stands, to resume it as IPVS would; a new
        # scheduler starts afresh, as IPVS initialises it.
        old_list = [(i, self._real_values[i].weight) for i in reversed(slots.real_ids)]
        state = SchedState()
        if existing and slots.value.sched == service.scheduler:
            pos = self.sched_pos.get(U32(svc_id))
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
                real_id = self._free_real_id()
                gen = self._next_gen()
                self.real_stats.zero(U32(real_id))
            real_value = abi.Real.from_model(real, svc_id=svc_id, gen=gen)
            self.reals.put(U32(real_id), real_value)
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
            self.sched.put(U32(base + offset), U32(real_id))
        new_list = [(i, self._real_values[i].weight) for i in list_order]
        start, state = resume(service.scheduler, state, old_list, new_list)
        self.sched_pos.put(U32(svc_id), U32(start))
        value = abi.Svc(id=svc_id, sched=int(service.scheduler), bank=bank, sched_len=len(sequence),
                        sched_start=start, sched_state=state.encode(service.scheduler))
        if service.persistence_timeout is not None:
            value.flags = _SVC_F_PERSISTENT
            value.timeout = service.persistence_timeout
        self.services.put(abi.SvcKey.from_model(service.key), value)
        for real_id in kept.values():
            self._free_real(real_id)
        self._slots[service.key] = _ServiceSlots(svc_id, value, ordered_ids)

    def _free_real(self, real_id: int) -> None:
        gen = self._real_values.pop(real_id).gen
        self.reals.put(U32(real_id), abi.Real(svc_id=FREE_SVC_ID, gen=gen))

    def _remove_service(self, key: ServiceKey) -> None:
        slots = self._slots.pop(key)
        self.services.delete(abi.SvcKey.from_model(key))
        for real_id in slots.real_ids:
            self._free_real(real_id)
        self._drop_vip_addr(key.address)

    def _add_vip_addr(self, address: ipaddress.IPv4Address) -> None:
        count = self.vip_addrs.get(abi.addr_key(address))
        self.vip_addrs.put(abi.addr_key(address), U32((count.value if count else 0) + 1))

    def _drop_vip_addr(self, address: ipaddress.IPv4Address) -> None:
        count = self.vip_addrs.get(abi.addr_key(address))
        if count is None or count.value <= 1:
            self.vip_addrs.delete(abi.addr_key(address))
        else:
            self.vip_addrs.put(abi.addr_key(address), U32(count.value - 1))

    # -- status ------------------------------------------------------------

    def _sum(self, stats: PerCpuMap[U32, abi.Counters], index: int) -> Counters:
        per_cpu = stats.get_all(U32(index))
        return Counters(*(sum(getattr(c, name) for c in per_cpu)
                          for name in ("conns", "inpkts", "outpkts", "inbytes", "outbytes")))

    def _live_flows(self) -> Iterator[tuple[abi.FlowKey, abi.Flow, int]]:
        """Flows whose real server is current and whose timeout has not passed,
        with the nanoseconds each has left."""
        now = time.monotonic_ns()
        for key, flow in self.flows.all_items():
            real = self._real_values.get(flow.real_id)
            if real is None or real.gen != flow.real_gen:
                continue
            left = FLOW_TIMEOUT_S[FlowState(flow.state)] * 1_000_000_000 - (now - flow.last_seen_ns)
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
                left // 1_000_000_000,
            ))
        return result + self._persistence_templates()

    def _persistence_templates(self) -> list[Connection]:
        """Live templates of persistent services, shown as IPVS shows them:
        client port 0, state NONE."""
        now = time.monotonic_ns()
        by_id = {slots.svc_id: (key, slots.value) for key, slots in self._slots.items()}
        result = []
        for key, tpl in self.persist.all_items():
            service = by_id.get(key.svc_id)
            real = self._real_values.get(tpl.real_id)
            if service is None or real is None or real.gen != tpl.real_gen:
                continue
            svc_key, svc = service
            left = svc.timeout * 1_000_000_000 - (now - tpl.last_seen_ns)
            if not svc.flags & _SVC_F_PERSISTENT or left < 0:
                continue
            result.append(Connection(
                svc_key.protocol, (abi.from_be32(key.client), 0), (svc_key.address, svc_key.port),
                (abi.from_be32(real.addr), abi.from_be16(real.port)), FlowState.NONE,
                left // 1_000_000_000))
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
                reals.append(RealStatus(real, active, inactive, self._sum(self.real_stats, real_id)))
            result.append(ServiceStatus(service, tuple(reals), self._sum(self.svc_stats, slots.svc_id)))
        return result

    def zero(self, key: ServiceKey | None) -> None:
        self.read()
        for service_key, slots in self._slots.items():
            if key is not None and service_key != key:
                continue
            self.svc_stats.zero(U32(slots.svc_id))
            for real_id in slots.real_ids:
                self.real_stats.zero(U32(real_id))

    def connection_table_size(self) -> int:
        return int(self.flows.max_entries)

    def drop_counts(self) -> dict[int, int]:
        return {reason: sum(v.value for v in self.drops.get_all(U32(reason)))
                for reason in range(self.drops.max_entries)}

    def real_ids(self, key: ServiceKey) -> list[int]:
        """Ids of a service's real servers in insertion order (for tests and tools)."""
        self.read()
        return list(self._slots[key].real_ids)


@contextmanager
def opened() -> Iterator[XdpDataplane]:
    dataplane = XdpDataplane.open_pinned()
    try:
        yield dataplane
    finally:
        dataplane.close()


