"""Fixtures for BPF_PROG_TEST_RUN tests.

`director` loads the director object (maps pinned in a private bpffs
directory) inside a private network namespace whose routes and permanent
neighbour entries make bpf_fib_lookup deterministic (pyvs.lab.fib_netns):

    lb0 10.2.2.2/24 (DIRECTOR_MAC) -- 10.3.3.0/24 via 10.2.2.254 (ROUTER_MAC, permanent)
                                   -- 10.5.5.0/24 via 10.2.2.253 (no neighbour entry)
                                   -- 10.6.6.0/24 via 10.2.2.254, route MTU 1000
    lb1 10.9.9.2/24 (OTHER_MAC)    -- 10.4.4.0/24 via 10.9.9.254 (OTHER_ROUTER_MAC, permanent)

The test process enters the namespace for the test's duration (BPF_PROG_TEST_RUN
resolves routes in the caller's namespace) and always leaves and removes it.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyvs.bpf import build
from pyvs.control import config as cfg
from pyvs.dataplane import libbpf, pins, xdp
from pyvs.dataplane.libbpf import XdpMd
from pyvs.dataplane.maps import PerCpuMap
from pyvs.lab import fib_netns as lab_fib
from pyvs.lab.fib_netns import OTHER_MAC as OTHER_MAC  # re-exported for the tests
from pyvs.lab.fib_netns import OTHER_ROUTER_MAC as OTHER_ROUTER_MAC
from pyvs.model import FwdMethod, Protocol, RealServer, Scheduler, ServiceKey, VirtualService
from pyvs.model.enums import Action
from pyvs.packet import abi
from tests.vectors.frames import DIRECTOR_MAC, ROUTER_MAC


@contextmanager
def private_pins() -> Iterator[Path]:
    """PYVS_BPF_ROOT pointed at a fresh bpffs directory, removed afterwards."""
    root = Path(f"/sys/fs/bpf/pyvs-test-{uuid.uuid4().hex[:8]}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYVS_BPF_ROOT", str(root))
        pins.ensure_bpffs()
        try:
            yield root
        finally:
            pins.remove_dir(root)


@contextmanager
def fib_namespace() -> Iterator[str]:
    """pyvs.lab.fib_netns's namespace with the MAC addresses of tests/vectors/frames.py."""
    if os.geteuid() != 0:
        pytest.fail("BPF tests need root (CAP_BPF, CAP_NET_ADMIN)")
    with lab_fib.fib_namespace(director_mac=DIRECTOR_MAC, router_mac=ROUTER_MAC) as name:
        yield name


@pytest.fixture
def fib_netns() -> Iterator[str]:
    with fib_namespace() as name:
        yield name


@dataclass
class Director:
    """The loaded director program, its maps, and a way to run frames through it."""

    obj: libbpf.BpfObject
    dataplane: xdp.XdpDataplane
    ifindex: int
    config: cfg.Config

    def run(self, frame: bytes, *, ifindex: int | None = None) -> tuple[Action, bytes]:
        ctx = XdpMd(data=0, data_end=len(frame), ingress_ifindex=ifindex or self.ifindex)
        rc, out, _ = libbpf.prog_test_run(self.obj.program_fd("lb_director"), frame, ctx=ctx)
        return Action(rc), out

    def apply(self, new: cfg.Config) -> None:
        self.dataplane.commit(self.dataplane.read(), new)
        self.config = new

    def add_service(self, vip: str = "10.2.2.3", port: int = 80, *, scheduler: Scheduler = Scheduler.RR,
                    reals: tuple[tuple[str, int], ...] = (("10.3.3.3", 1),), udp: bool = False,
                    sched_flags: int = 0) -> ServiceKey:
        key = ServiceKey(Protocol.UDP if udp else Protocol.TCP, ipaddress.IPv4Address(vip), port)
        new = cfg.add_service(self.dataplane.read(), VirtualService(key, scheduler, sched_flags=sched_flags))
        for address, weight in reals:
            new = cfg.add_real(new, key, RealServer(ipaddress.IPv4Address(address), port, weight,
                                                    FwdMethod.TUNNEL))
        self.apply(new)
        return key

    def set_weight(self, key: ServiceKey, address: str, weight: int) -> None:
        self.apply(cfg.edit_real(self.dataplane.read(), key,
                                 RealServer(ipaddress.IPv4Address(address), key.port, weight)))

    def add_real(self, key: ServiceKey, address: str, weight: int = 1) -> None:
        self.apply(cfg.add_real(self.dataplane.read(), key,
                                RealServer(ipaddress.IPv4Address(address), key.port, weight)))

    def delete_real(self, key: ServiceKey, address: str) -> None:
        self.apply(cfg.delete_real(self.dataplane.read(), key, ipaddress.IPv4Address(address), key.port))

    def drops(self) -> dict[int, int]:
        return self.dataplane.drop_counts()


@pytest.fixture
def director(fib_netns: str) -> Iterator[Director]:
    with private_pins():
        obj = xdp.open_director_object(pins.netns_dir(), max_flows=4096, max_services=64, max_reals=256)
        dataplane = xdp.XdpDataplane(pins.netns_dir())
        try:
            yield Director(obj, dataplane, xdp.ifindex_of("lb0"), {})
        finally:
            dataplane.close()
            obj.close()


def u32(value: int) -> ctypes.c_uint32:
    return ctypes.c_uint32(value)


# The decapsulation program under test: its VIP and its host's own address.
DECAP_VIP = ipaddress.IPv4Address("10.2.2.3")
DECAP_LOCAL = ipaddress.IPv4Address("10.3.3.3")

class Decap:
    """The loaded decapsulation program, and a way to run frames through it."""

    def __init__(self, obj: libbpf.BpfObject) -> None:
        self.obj = obj
        self.stats = PerCpuMap(obj.map_fd("lb_decap_stats"), ctypes.c_uint32, ctypes.c_uint64)

    def run(self, frame: bytes) -> tuple[Action, bytes]:
        ctx = XdpMd(data=0, data_end=len(frame), ingress_ifindex=1)
        rc, out, _ = libbpf.prog_test_run(self.obj.program_fd("lb_decap"), frame, ctx=ctx)
        return Action(rc), out

    def counter(self, index: int) -> int:
        return sum(v.value for v in self.stats.get_all(ctypes.c_uint32(index)))


@pytest.fixture
def decap(monkeypatch: pytest.MonkeyPatch) -> Iterator[Decap]:
    root = Path(f"/sys/fs/bpf/pyvs-test-{uuid.uuid4().hex[:8]}")
    pins.ensure_bpffs()
    root.mkdir(parents=True)
    try:
        with libbpf.BpfObject(build.object_path("decap_xdp"), pin_root=root) as obj:
            obj.load()
            libbpf.map_update(obj.map_fd("lb_decap_vips"), abi.addr_key(DECAP_VIP), ctypes.c_uint32(1))
            libbpf.map_update(obj.map_fd("lb_decap_locals"), abi.addr_key(DECAP_LOCAL), ctypes.c_uint32(1))
            yield Decap(obj)
    finally:
        pins.remove_dir(root)
