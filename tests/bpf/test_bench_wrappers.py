"""The benchmark-only wrappers of bpf/bench_xdp.bpf.c against the production programs.

The wrappers must do exactly what lb_director and lb_decap do on the same frame
and the same maps, also when BPF_PROG_TEST_RUN repeats them (each run restores
the frame the previous one changed), and their new-flow mode must make every
run a new flow. Expected frames come from scapy (tests/vectors/frames.py).
"""

from __future__ import annotations

import ctypes
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from pyvs.bench import prog_cost
from pyvs.bench.runner import Options
from pyvs.bpf import build
from pyvs.dataplane import libbpf, pins
from pyvs.dataplane.libbpf import XdpMd
from pyvs.dataplane.maps import PerCpuMap
from pyvs.model.enums import Action, DecapCounter
from pyvs.packet import abi
from tests.bpf.conftest import Director
from tests.vectors.frames import (
    DIRECTOR,
    DIRECTOR_MAC,
    REAL1,
    REAL2,
    ROUTER_MAC,
    VIP,
    client_frame,
    client_ip,
    encapsulated,
    ipip_frame,
)

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_bpf]

U32 = ctypes.c_uint32


@dataclass
class Rig:
    """The director fixture's maps, the decapsulation object over the same pin directory, the wrappers."""

    director: Director
    decap: libbpf.BpfObject
    wrappers: prog_cost.Wrappers

    def wrap(self, program: str, frame: bytes, *, repeat: int = 1,
             new_flow: bool = False) -> tuple[Action, bytes]:
        self.wrappers.set_template(frame, new_flow=new_flow)
        action, out, _ = self.wrappers.run(program, ifindex=self.director.ifindex, repeat=repeat)
        return action, out

    def decap_run(self, frame: bytes) -> tuple[Action, bytes]:
        ctx = XdpMd(data=0, data_end=len(frame), ingress_ifindex=self.director.ifindex)
        rc, out, _ = libbpf.prog_test_run(self.decap.program_fd("lb_decap"), frame, ctx=ctx)
        return Action(rc), out

    def decap_packets(self) -> int:
        stats = PerCpuMap(self.decap.map_fd("lb_decap_stats"), U32, ctypes.c_uint64)
        return sum(v.value for v in stats.get_all(U32(DecapCounter.PACKETS)))

    def service_counters(self) -> tuple[int, int]:
        """(connections, packets) over all services."""
        maps = self.director.dataplane.maps
        per_cpu = [c for _key, svc in maps.services.all_items() for c in maps.svc_stats.get_all(U32(svc.id))]
        return sum(c.conns for c in per_cpu), sum(c.inpkts for c in per_cpu)


@pytest.fixture
def rig(director: Director) -> Iterator[Rig]:
    with libbpf.BpfObject(build.object_path("decap_xdp"), pin_root=pins.netns_dir()) as decap:
        decap.load()
        libbpf.map_update(decap.map_fd("lb_decap_vips"), abi.addr_key(ipaddress.IPv4Address(VIP)), U32(1))
        libbpf.map_update(decap.map_fd("lb_decap_locals"), abi.addr_key(ipaddress.IPv4Address(REAL1)), U32(1))
        wrappers = prog_cost.Wrappers(pins.netns_dir())
        try:
            yield Rig(director, decap, wrappers)
        finally:
            wrappers.close()


def checksum_is_right(header: bytes) -> bool:
    """Whether scapy computes the same checksum for this IPv4 header."""
    ip = IP(header)
    stored = ip.chksum
    del ip.chksum
    return bool(IP(bytes(ip)).chksum == stored)


def to_real(real: str, **kw: object) -> bytes:
    return encapsulated(client_ip(**kw), outer_src=DIRECTOR, real=real,  # type: ignore[arg-type]
                        src_mac=DIRECTOR_MAC, dst_mac=ROUTER_MAC)


@pytest.mark.parametrize("repeat", [1, 100])
def test_restore_gives_back_the_template(rig: Rig, repeat: int) -> None:
    frame = client_frame(flags="S")
    assert rig.wrap("bench_restore", frame, repeat=repeat) == (Action.TX, frame)
    assert rig.wrap("bench_empty", frame, repeat=repeat) == (Action.TX, frame)


@pytest.mark.parametrize("repeat", [1, 100])
def test_floor_pushes_one_constant_header(rig: Rig, repeat: int) -> None:
    frame = client_frame(flags="S")
    action, out = rig.wrap("bench_push_ipip", frame, repeat=repeat)
    assert action == Action.TX
    outer = IP(out[14:34])
    assert (outer.src, outer.dst, outer.proto, outer.ttl, int(outer.flags), outer.len) == \
        ("10.2.2.2", "10.3.3.3", 4, 64, 2, 60)
    assert checksum_is_right(out[14:34])
    assert out[:14] == frame[:14] and out[34:] == frame[14:]


@pytest.mark.parametrize("repeat", [1, 100])
def test_director_wrapper_sends_what_lb_director_sends(rig: Rig, repeat: int) -> None:
    rig.director.add_service(reals=((REAL1, 1), (REAL2, 1)))
    syn = client_frame(flags="S")
    action, out = rig.director.run(syn)
    real = REAL1 if out == to_real(REAL1, flags="S") else REAL2
    assert (action, out) == (Action.TX, to_real(real, flags="S"))
    # The same flow: the wrapper finds it and keeps it on its real server, as lb_director does.
    assert rig.wrap("bench_director", syn, repeat=repeat) == (Action.TX, to_real(real, flags="S"))
    ack = client_frame(flags="A")
    before = rig.service_counters()
    assert rig.wrap("bench_director", ack, repeat=repeat) == (Action.TX, to_real(real, flags="A"))
    assert rig.director.run(ack) == (Action.TX, to_real(real, flags="A"))
    assert rig.service_counters() == (before[0], before[1] + repeat + 1)


@pytest.mark.parametrize("repeat", [1, 100])
def test_director_wrapper_passes_what_is_not_for_a_service(rig: Rig, repeat: int) -> None:
    rig.director.add_service()
    frame = client_frame(flags="A", dst=DIRECTOR, dport=22)
    assert rig.director.run(frame) == (Action.PASS, frame)
    assert rig.wrap("bench_director", frame, repeat=repeat) == (Action.PASS, frame)
    assert rig.service_counters() == (0, 0)


@pytest.mark.parametrize("repeat", [1, 100])
def test_decap_wrapper_strips_what_lb_decap_strips(rig: Rig, repeat: int) -> None:
    inner = client_ip(flags="S", ttl=63)
    frame = ipip_frame(inner)
    expected = bytes(Ether(src=ROUTER_MAC, dst=DIRECTOR_MAC) / inner)
    assert rig.decap_run(frame) == (Action.PASS, expected)
    before = rig.decap_packets()
    assert rig.wrap("bench_decap", frame, repeat=repeat) == (Action.PASS, expected)
    assert rig.decap_packets() == before + repeat


@pytest.mark.parametrize("n", [0, 1, 0xFFFF, 0x10000, 0x1234ABCD, 0xFFFFFFFF])
def test_new_flow_rewrite_is_the_documented_one(rig: Rig, n: int) -> None:
    frame = client_frame(flags="S")
    rig.wrappers.set_template(frame, new_flow=True)
    rig.wrappers.counter = n
    action, out, _ = rig.wrappers.run("bench_restore", ifindex=rig.director.ifindex)
    assert action == Action.TX
    assert out == prog_cost.new_flow_frame(frame, n)
    ip = IP(out[14:])
    assert (ip.src, ip[TCP].sport) == (f"10.1.{n >> 24}.{n >> 16 & 0xFF}", n & 0xFFFF)
    assert checksum_is_right(out[14:34])  # patched incrementally in C
    assert rig.wrappers.counter == (n + 1) & 0xFFFFFFFF


def test_new_flow_mode_makes_a_new_flow_per_run(rig: Rig) -> None:
    rig.director.add_service(reals=((REAL1, 1), (REAL2, 1)))
    frame = client_frame(flags="S")
    runs = 1000
    action, out = rig.wrap("bench_director", frame, repeat=runs, new_flow=True)
    inner = IP(prog_cost.new_flow_frame(frame, runs - 1)[14:])
    assert action == Action.TX
    assert out in [encapsulated(inner, outer_src=DIRECTOR, real=real, src_mac=DIRECTOR_MAC,
                                dst_mac=ROUTER_MAC) for real in (REAL1, REAL2)]
    assert rig.service_counters() == (runs, runs)
    flows = rig.director.dataplane.maps.flows
    assert len({(k.saddr, k.sport) for k in flows}) == runs
    real_ids = [flow.real_id for _key, flow in flows.all_items()]
    assert sorted(real_ids.count(i) for i in set(real_ids)) == [runs // 2, runs // 2]  # rr over both
    for n in (0, 1, runs // 2, runs - 1):
        assert flows.get(prog_cost.flow_key(prog_cost.new_flow_frame(frame, n))) is not None


def test_the_benchmark_checks_every_case_and_catches_a_wrong_one(monkeypatch: pytest.MonkeyPatch) -> None:
    with prog_cost.open_lab() as lab:
        bench = prog_cost.Bench(lab)
        for case in prog_cost.CASES:
            bench.measure(case, 1000)
        # A wrong expectation fails the check: the benchmark would not time a case it cannot vouch for.
        wrong = prog_cost.ipv4_header(ipaddress.IPv4Address("10.2.2.2"), ipaddress.IPv4Address("10.3.3.3"),
                                      4, 40, ttl=63, ident=0)
        monkeypatch.setattr(prog_cost, "FLOOR_HEADER", wrong)
        with pytest.raises(RuntimeError, match="bench_push_ipip gave TX"):
            bench.check(prog_cost.CASES[0])


def test_run_reports_every_figure_against_the_floor() -> None:
    figures = prog_cost.run(Options(reps=2, repeat=2000, smoke=True))
    assert [f.name for f in figures] == [c.name for c in prog_cost.CASES]
    floor = figures[0]
    assert floor.name == prog_cost.FLOOR and floor.baseline is None
    for fig in figures:
        assert fig.section == prog_cost.SECTION and fig.unit == "ns/packet"
        assert len(fig.samples) == 2 and all(s > 0 for s in fig.samples)
        assert fig is floor or fig.baseline == prog_cost.FLOOR
    syn = next(f for f in figures if f.name == prog_cost.SYN)
    assert syn.extra["includes"] == prog_cost.RESTORE_NEW_FLOW
    fill = syn.extra["flow_table_capacity"] // 2
    assert syn.extra["flows_after_fill"] == syn.extra["flows_before_fill"] + fill
