"""The XDP data plane: loading and attaching the programs, and pyvsadm's
handle on the pinned maps (the map logic itself is pyvs.dataplane.state)."""

from __future__ import annotations

import contextlib
import ctypes
import enum
import errno
import ipaddress
import os
import socket
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pyvs.bpf import build
from pyvs.control import journal
from pyvs.control.config import Config
from pyvs.dataplane import features, libbpf, pins
from pyvs.dataplane.maps import BpfMap, pinned_counters, pinned_decap_maps, pinned_director_maps
from pyvs.dataplane.sources import KernelSources
from pyvs.dataplane.state import MapDataplane, apply
from pyvs.model.enums import FLOW_TIMEOUT_S, Action, DecapCounter, DropReason, IcmpCounter, Setting
from pyvs.model.errors import ConfigError, DataplaneError, LbError
from pyvs.model.status import DataplaneStats, DirectorCounters
from pyvs.packet import abi
from pyvs.packet.tables import DIRECTOR_MAPS, DIRECTOR_PREFIX, Capacity

__all__ = ["FLOW_TIMEOUT_S", "AttachMode", "XdpDataplane", "attach_decap", "attach_director", "decap_status",
           "detach_decap", "detach_director", "open_director_object", "read_stats", "remove_pins",
           "require_decap_kernel", "require_director_kernel"]

DIRECTOR_PROGRAM = "lb_director"
SWEEP_PROGRAM = "lb_sweep"  # one sweep of the flow table, run by BPF_PROG_TEST_RUN
SWEEPER_PROGRAM = "lb_sweeper_start"  # arms the sweeper's timer, run by BPF_PROG_TEST_RUN
ESTIMATE_PROGRAM = "lb_estimate"  # one rate estimation (estimator_xdp.bpf.c), BPF_PROG_TEST_RUN
ESTIMATOR_PROGRAM = "lb_estimator_start"  # arms the rate estimator's timer, BPF_PROG_TEST_RUN
SWEEPER_FRAME = 64  # bytes of the dummy frame these runs take (they do not read it)
DECAP_PROGRAM = "lb_decap"
U32 = ctypes.c_uint32
E = TypeVar("E", bound=enum.IntEnum)


def ifindex_of(ifname: str) -> int:
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        raise ConfigError(f"no such interface: {ifname}") from None


def _write_sysctl(path: str, value: str) -> None:
    with open(f"/proc/sys/{path}", "w") as f:
        f.write(value)


class AttachMode(enum.Enum):
    """How an XDP program runs on an interface."""

    NATIVE = "native"  # in the driver, before any socket buffer exists
    GENERIC = "generic"  # after the kernel built a socket buffer (drivers without XDP; Linux 4.12)


def _attach(ifname: str, obj: libbpf.BpfObject, program: str) -> AttachMode:
    ifindex = ifindex_of(ifname)
    fd = obj.program_fd(program)
    try:
        libbpf.xdp_attach(ifindex, fd, libbpf.XDP_FLAGS_DRV_MODE)
        return AttachMode.NATIVE
    except DataplaneError:
        libbpf.xdp_attach(ifindex, fd, libbpf.XDP_FLAGS_SKB_MODE)
        return AttachMode.GENERIC


def _detach(ifname: str) -> None:
    ifindex = ifindex_of(ifname)
    for mode in (libbpf.XDP_FLAGS_DRV_MODE, libbpf.XDP_FLAGS_SKB_MODE):
        with suppress(DataplaneError):
            libbpf.xdp_detach(ifindex, mode)


def open_director_object(pin_dir: Path, *, max_flows: int | None = None,
                         max_services: int | None = None, max_reals: int | None = None) -> libbpf.BpfObject:
    """Open and load the director object with its maps pinned in pin_dir (reused if there)."""
    pins.make(pin_dir)
    obj = libbpf.BpfObject(build.object_path("lb_xdp"), pin_root=pin_dir)
    capacity = Capacity(services=max_services, reals=max_reals, flows=max_flows)
    try:
        for spec in DIRECTOR_MAPS:
            entries = spec.entries(capacity)
            if entries:
                obj.set_max_entries(DIRECTOR_PREFIX + spec.field, entries)
        obj.load()
    except BaseException:
        obj.close()
        raise
    return obj


def run_once(obj: libbpf.BpfObject, program: str, what: str) -> int:
    """One BPF_PROG_TEST_RUN of one of the director's never-attached programs (the
    sweeper's and the estimator's), which answer XDP_PASS when they did `what`;
    returns the run's duration in ns."""
    rc, _, ns = libbpf.prog_test_run(obj.program_fd(program), bytes(SWEEPER_FRAME))
    if rc != Action.PASS:
        raise DataplaneError(errno.EINVAL, what)
    return ns


def start_sweeper(obj: libbpf.BpfObject) -> None:
    """Arm the timer that expires flows (bpf/sweeper.h): it runs for as long as lb_sweeper
    stays pinned, whatever becomes of this process; arming it again restarts it."""
    run_once(obj, SWEEPER_PROGRAM, "start the flow sweeper's timer")


def size_like_pins(obj: libbpf.BpfObject, pin_dir: Path) -> None:
    """Size each map of the opened `obj` that is pinned in `pin_dir` like its pin: libbpf
    reuses a pinned map only if it has the same size, and the director's loader may have
    resized them."""
    for spec in obj.object_maps():
        if "." in spec.name:  # an object's own .bss or .data: never pinned (bpffs refuses the name)
            continue
        pin = pin_dir / spec.name
        if not pin.exists():
            continue
        fd = libbpf.obj_get(pin)
        try:
            entries = libbpf.map_info(fd).max_entries
        finally:
            libbpf.close_fd(fd)
        obj.set_max_entries(spec.name, entries)


def start_estimator(pin_dir: Path) -> bool:
    """Load the rate estimator (estimator_xdp.bpf.c) on the maps pinned in `pin_dir` and
    arm its timer, when this kernel can run it (Linux 5.19); returns whether it runs."""
    if not features.has_all(features.estimator_needs()):
        return False
    with libbpf.BpfObject(build.object_path("estimator_xdp"), pin_root=pin_dir) as obj:
        size_like_pins(obj, pin_dir)
        obj.load()
        run_once(obj, ESTIMATOR_PROGRAM, "start the rate estimator's timer")
    return True


def require_director_kernel() -> None:
    """MissingFeature unless this kernel has all the XDP director needs (probed);
    PinDirError if its pin directory is one pyvs refuses (pins.check())."""
    features.require(features.director_needs())
    pins.check(pins.netns_dir())


def attach_director(ifname: str) -> AttachMode:
    """Load the director on an interface; its maps are this netns's pinned state.

    Call require_director_kernel() first. Attaching also resolves every real
    server's outer source address again (routes may have changed).
    """
    ifindex_of(ifname)  # a bad name changes nothing
    pins.ensure_bpffs()
    with pins.locked(pins.netns_dir()), open_director_object(pins.netns_dir()) as obj:
        start_sweeper(obj)
        start_estimator(pins.netns_dir())
        mode = _attach(ifname, obj, DIRECTOR_PROGRAM)
    # The kernel forwards what the program passes back (unresolved neighbour,
    # fragmentation): that needs forwarding on, and accept_local because the
    # passed packet's outer source is this host's own address.
    _write_sysctl("net/ipv4/ip_forward", "1")
    _write_sysctl(f"net/ipv4/conf/{ifname}/forwarding", "1")
    _write_sysctl(f"net/ipv4/conf/{ifname}/accept_local", "1")
    with XdpDataplane(pins.netns_dir()) as plane:
        plane.read()
        plane.refresh_sources()
    return mode


def set_settings(*, skb_mode: bool, drain: bool) -> None:
    """pyvs's own switches (lb_settings) in this namespace's pinned maps."""
    with XdpDataplane(pins.netns_dir()) as plane:
        plane.set_setting(Setting.SKB_MODE, skb_mode)
        plane.set_setting(Setting.DRAIN, drain)


def detach_director(ifname: str) -> None:
    _detach(ifname)


@dataclass(frozen=True)
class DecapStatus:
    attached: bool
    vips: list[ipaddress.IPv4Address] = field(default_factory=list)
    local_addrs: list[ipaddress.IPv4Address] = field(default_factory=list)


def _decap_dir() -> Path:
    return pins.netns_dir() / "decap"


def require_decap_kernel() -> None:
    """MissingFeature unless this kernel has all the XDP decapsulation needs (probed);
    PinDirError if its pin directory is one pyvs refuses (pins.check())."""
    features.require(features.decap_needs())
    pins.check(_decap_dir())


def attach_decap(ifname: str, vips: Sequence[ipaddress.IPv4Address],
                 local_addrs: Sequence[ipaddress.IPv4Address]) -> AttachMode:
    """Attach the real-server decapsulation program; its address maps become exactly these.
    Call require_decap_kernel() first."""
    ifindex_of(ifname)  # a bad name changes nothing
    pins.ensure_bpffs()
    directory = pins.make(_decap_dir())
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
        return _attach(ifname, obj, DECAP_PROGRAM)


def detach_decap(ifname: str) -> None:
    _detach(ifname)
    pins.remove_dir(_decap_dir())


def decap_status(ifname: str) -> DecapStatus | None:
    directory = _decap_dir()
    pins.check(directory)
    if not (directory / "lb_decap_vips").exists():
        return None
    attached = libbpf.xdp_query_id(ifindex_of(ifname)) != 0
    maps = pinned_decap_maps(directory)
    try:
        return DecapStatus(attached, sorted(abi.from_be32(k.value) for k in maps.vips),
                           sorted(abi.from_be32(k.value) for k in maps.locals))
    finally:
        maps.close()


def remove_pins() -> None:
    pins.remove_state(pins.netns_dir())


def director_maps_pinned(directory: Path) -> bool:
    return all((directory / (DIRECTOR_PREFIX + spec.field)).exists() for spec in DIRECTOR_MAPS)


def _by(names: type[E], counts: Sequence[int]) -> dict[E, int]:
    """A counter array's entries by their enum names (those it has)."""
    return {name: counts[name] for name in names if name < len(counts)}


def read_stats(directory: Path | None = None) -> DataplaneStats:
    """The drop and pressure counters pinned in `directory` (default: this network
    namespace's), read without changing or creating anything. The director's come
    from the maps both data planes write (the XDP program and the live Python one);
    the decapsulation's from its subdirectory, where `pyvs realserver up` pinned them.
    LbError when neither is pinned there."""
    directory = directory or pins.netns_dir()
    pins.check(directory / "decap")  # and every directory above it
    director = None
    if director_maps_pinned(directory):
        drops = pinned_counters(directory, DIRECTOR_PREFIX + "drops")
        flows = BpfMap.pinned(directory, DIRECTOR_PREFIX + "flows", abi.FlowKey, abi.Flow)
        try:
            icmp = pinned_counters(directory, DIRECTOR_PREFIX + "icmp")
            director = DirectorCounters(_by(DropReason, drops), flows.count(), flows.max_entries,
                                        _by(IcmpCounter, icmp))
        finally:
            flows.close()
    counts = pinned_counters(directory / "decap", "lb_decap_stats")
    decap = _by(DecapCounter, counts) if counts else None
    if director is None and decap is None:
        raise LbError(f"no pyvs director or decapsulation in this network namespace ({directory} holds "
                      "no maps): run `pyvs director attach IFACE` or `pyvs realserver up --decap xdp` first")
    return DataplaneStats(director, decap)


class XdpDataplane(MapDataplane):
    """pyvsadm's data plane: the director's pinned maps of this netns, one writer at a time.

    It holds the pin directory's lock (pins.locked()) from opening to close();
    with `create`, maps that are missing are made under that lock, so that
    concurrent first uses in a new namespace neither race nor fail.

    Every commit is journalled (pyvs.control.journal): the configuration it
    heads for is written to pins.journal_path() before the first map write and
    removed after the last. Opening finds the journal of a writer killed
    halfway and finishes that change first, so a change is never seen in part.
    """

    def __init__(self, directory: Path, *, create: bool = False) -> None:
        self.directory = directory
        self._held = contextlib.ExitStack()  # closed last to first: maps, route socket, lock
        self._held.enter_context(pins.locked(directory))
        try:
            if create and not director_maps_pinned(directory):
                open_director_object(directory).close()
            sources = self._held.enter_context(contextlib.closing(KernelSources()))
            super().__init__(pinned_director_maps(directory), sources)
            self._held.callback(self.maps.close)
            self._journal = pins.journal_path(directory)
            self._finish_interrupted_change()
        except BaseException:
            self._held.close()
            raise

    def _finish_interrupted_change(self) -> None:
        try:
            text = self._journal.read_text()
        except FileNotFoundError:
            return
        try:
            wanted = journal.loads(text)
        except (ValueError, KeyError, TypeError) as exc:
            raise DataplaneError(74, f"the journal of an interrupted change, {self._journal}, is unreadable "
                                     f"({exc}): remove it to go on") from None
        self.commit(self.read(), wanted)

    def commit(self, old: Config, new: Config) -> None:
        writes = self.plan(new)  # may refuse the change: then nothing is journalled or written
        self._journal.parent.mkdir(pins.PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        partial = self._journal.with_suffix(".tmp")
        partial.unlink(missing_ok=True)  # a killed writer's: made anew, mode 0600
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(journal.dumps(new))
        partial.replace(self._journal)
        apply(writes, self.maps)
        self._journal.unlink()
        self._read = None

    @classmethod
    def open_pinned(cls) -> XdpDataplane:
        """Open this netns's director state, creating the maps if no director ran yet."""
        pins.ensure_bpffs()
        return cls(pins.netns_dir(), create=True)

    def close(self) -> None:
        self._held.close()

    def __enter__(self) -> XdpDataplane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
