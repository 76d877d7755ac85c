"""The reference pipeline on its own (no kernel): the same vectors as tests/bpf.

tests/bpf/test_differential.py compares it with the XDP program on generated
frames; these examples pin down what both must do, in the same words as
tests/bpf/test_director.py.
"""

from __future__ import annotations

import ctypes
import ipaddress

from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether

from pyvs.control import config as cfg
from pyvs.dataplane.state import MapDataplane
from pyvs.model import FwdMethod, Protocol, RealServer, Scheduler, ServiceKey, VirtualService
from pyvs.model.enums import Action, DropReason
from pyvs.packet import abi
from pyvs.packet.fib import Route, StaticFib
from pyvs.packet.pipeline import process_decap, process_director
from pyvs.packet.tables import DecapMaps, DirectorMaps
from tests.vectors.frames import (
    DIRECTOR,
    DIRECTOR_MAC,
    REAL1,
    REAL2,
    ROUTER_MAC,
    client_frame,
    client_ip,
    encapsulated,
    ipip_frame,
)

LB0, LB1 = 2, 4
FIB = StaticFib([
    Route(ipaddress.IPv4Network("10.3.3.0/24"), LB0, ipaddress.IPv4Address(DIRECTOR),
          bytes.fromhex(DIRECTOR_MAC.replace(":", "")), bytes.fromhex(ROUTER_MAC.replace(":", ""))),
    Route(ipaddress.IPv4Network("10.5.5.0/24"), LB0, ipaddress.IPv4Address(DIRECTOR),
          bytes.fromhex(DIRECTOR_MAC.replace(":", "")), None),
    Route(ipaddress.IPv4Network("10.6.6.0/24"), LB0, ipaddress.IPv4Address(DIRECTOR),
          bytes.fromhex(DIRECTOR_MAC.replace(":", "")), bytes.fromhex(ROUTER_MAC.replace(":", "")), mtu=1000),
])


def director(reals: tuple[tuple[str, int], ...] = ((REAL1, 1),), scheduler: Scheduler = Scheduler.RR
             ) -> MapDataplane:
    plane = MapDataplane(DirectorMaps.in_memory(), FIB)
    key = ServiceKey(Protocol.TCP, ipaddress.IPv4Address("10.2.2.3"), 80)
    config = cfg.add_service({}, VirtualService(key, scheduler))
    for address, weight in reals:
        real = RealServer(ipaddress.IPv4Address(address), 80, weight, FwdMethod.TUNNEL)
        config = cfg.add_real(config, key, real)
    plane.commit({}, config)
    return plane


def run(plane: MapDataplane, frame: bytes, now: int = 10**12) -> tuple[Action, bytes]:
    verdict = process_director(frame, plane.maps, FIB, now_ns=now, ingress_ifindex=LB0)
    return verdict.action, verdict.frame


def expected_to(real: str, **kw: object) -> bytes:
    return encapsulated(client_ip(**kw), outer_src=DIRECTOR, real=real, src_mac=DIRECTOR_MAC,  # type: ignore[arg-type]
                        dst_mac=ROUTER_MAC)


def test_syn_to_vip_is_encapsulated() -> None:
    assert run(director(), client_frame(flags="S")) == (Action.TX, expected_to(REAL1, flags="S"))


def test_rr_alternates_newest_first_and_flows_stick() -> None:
    plane = director(((REAL1, 1), (REAL2, 1)))
    picks = [Ether(run(plane, client_frame(sport=6000 + i))[1])[IP].dst for i in range(4)]
    assert picks == [REAL2, REAL1, REAL2, REAL1]
    assert Ether(run(plane, client_frame(sport=6000, flags="A"))[1])[IP].dst == REAL2


def test_wrr_three_to_one() -> None:
    plane = director(((REAL1, 3), (REAL2, 1)), Scheduler.WRR)
    picks = [Ether(run(plane, client_frame(sport=7000 + i))[1])[IP].dst for i in range(100)]
    assert (picks.count(REAL1), picks.count(REAL2)) == (75, 25)


def test_unresolved_neighbour_passes_encapsulated() -> None:
    action, out = run(director(((("10.5.5.5", 1)),)), client_frame(flags="S"))
    assert action == Action.PASS
    assert out == encapsulated(client_ip(flags="S"), outer_src=DIRECTOR, real="10.5.5.5",
                               src_mac=ROUTER_MAC, dst_mac=DIRECTOR_MAC)


def test_too_big_with_df_gets_icmp() -> None:
    frame = client_frame(flags="PA", payload=b"x" * 960)
    action, out = run(director(((("10.6.6.6", 1)),)), frame)
    forwarded = Ether(frame)[IP]  # as the kernel's icmp_send() quotes it: TTL one less, 576 bytes in all
    forwarded.ttl -= 1
    del forwarded.chksum
    quoted = bytes(forwarded)[:576 - 28]
    assert action == Action.TX
    assert out == bytes(Ether(src=DIRECTOR_MAC, dst=ROUTER_MAC)
                        / IP(src="10.2.2.3", dst="10.1.1.1", tos=0xC0, ttl=64, id=0, flags=0, proto=1)
                        / ICMP(type=3, code=4, nexthopmtu=980) / quoted)


def test_not_for_a_service_passes_unchanged() -> None:
    frame = client_frame(dport=81)
    assert run(director(), frame) == (Action.PASS, frame)


def test_malformed_for_a_vip_is_dropped_and_counted() -> None:
    plane = director()
    frame = client_frame(ttl=1)
    assert run(plane, frame)[0] == Action.DROP
    assert plane.drop_counts()[DropReason.TTL_EXCEEDED] == 1


def test_decap_strips_the_outer_header_for_a_vip() -> None:
    maps = DecapMaps.in_memory()
    maps.vips.put(*_addr("10.2.2.3"))
    maps.locals.put(*_addr(REAL1))
    inner = client_ip(flags="S", ttl=63)
    verdict = process_decap(ipip_frame(inner), maps)
    expected = bytes(Ether(src=ROUTER_MAC, dst=DIRECTOR_MAC) / inner)
    assert (verdict.action, verdict.frame) == (Action.PASS, expected)


def _addr(text: str) -> tuple[object, object]:
    return abi.addr_key(ipaddress.IPv4Address(text)), ctypes.c_uint32(1)
