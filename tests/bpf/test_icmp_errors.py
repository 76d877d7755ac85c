"""ICMP errors about a virtual service's connections go to its real server (bpf/icmp_errors.h).

A router on the client's side answers a reply that a real server sent from the VIP: the
error comes to the VIP, quoting that reply (VIP:port -> client:port); the director sends it
through the tunnel to the real server of that connection. Expected frames: scapy's.
"""

from __future__ import annotations

import pytest
from scapy.layers.inet import ICMP, IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from pyvs.model.enums import Action, IcmpCounter, Scheduler
from tests.bpf.conftest import Director
from tests.vectors.frames import (
    CLIENT,
    DIRECTOR,
    DIRECTOR_MAC,
    REAL1,
    REAL2,
    ROUTER_MAC,
    VIP,
    client_frame,
    encapsulated,
)

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_bpf]

ROUTER = "10.1.1.254"


def error_about(cport: int, *, icmp_type: int = 3, code: int = 4, vport: int = 80) -> Packet:
    """`ROUTER`'s ICMP error about a reply VIP:vport -> CLIENT:cport, as Linux quotes it."""
    reply = IP(src=VIP, dst=CLIENT, ttl=63) / TCP(sport=vport, dport=cport, flags="A") / Raw(b"y" * 100)
    fields = {"nexthopmtu": 1400} if (icmp_type, code) == (3, 4) else {}
    return IP(src=ROUTER, dst=VIP, ttl=64) / ICMP(type=icmp_type, code=code, **fields) / bytes(reply)


def frame_of(ip: Packet) -> bytes:
    return bytes(Ether(src=ROUTER_MAC, dst=DIRECTOR_MAC) / ip)


def to_real(ip: Packet, real: str) -> bytes:
    return encapsulated(ip, outer_src=DIRECTOR, real=real, src_mac=DIRECTOR_MAC, dst_mac=ROUTER_MAC)


def real_of(out: bytes) -> str:
    return str(Ether(out)[IP].dst)


@pytest.mark.parametrize(("icmp_type", "code", "counter"), [
    (3, 4, IcmpCounter.FWD_FRAG_NEEDED), (3, 1, IcmpCounter.FWD_UNREACH),
    (11, 0, IcmpCounter.FWD_TIME_EXCEEDED)])
def test_an_error_about_a_flow_goes_to_its_real_server(director: Director, icmp_type: int, code: int,
                                                       counter: IcmpCounter) -> None:
    director.add_service(reals=((REAL1, 1), (REAL2, 1)))
    real = real_of(director.run(client_frame(sport=41000, flags="S"))[1])
    other = real_of(director.run(client_frame(sport=41001, flags="S"))[1])
    assert {real, other} == {REAL1, REAL2}
    error = error_about(41000, icmp_type=icmp_type, code=code)
    assert director.run(frame_of(error)) == (Action.TX, to_real(error, real))
    error = error_about(41001, icmp_type=icmp_type, code=code)
    assert director.run(frame_of(error)) == (Action.TX, to_real(error, other))
    counts = director.dataplane.icmp_counts()
    assert counts == {c: (2 if c == counter else 0) for c in IcmpCounter}


def test_without_a_flow_a_hashing_scheduler_places_it(director: Director) -> None:
    director.add_service(scheduler=Scheduler.SH, reals=((REAL1, 1), (REAL2, 1)))
    error = error_about(42000)  # no connection from this port: sh hashes the client's address
    action, out = director.run(frame_of(error))
    assert action == Action.TX
    assert out == to_real(error, real_of(director.run(client_frame(sport=42001, flags="S"))[1]))


def test_without_a_flow_or_a_hash_the_kernel_gets_it(director: Director) -> None:
    director.add_service(reals=((REAL1, 1), (REAL2, 1)))
    frame = frame_of(error_about(43000))
    assert director.run(frame) == (Action.PASS, frame)
    assert director.dataplane.icmp_counts()[IcmpCounter.PASSED] == 1


@pytest.mark.parametrize("ip", [
    IP(src=CLIENT, dst=VIP) / ICMP(type=8) / Raw(b"ping"),  # echo request: the director answers
    IP(src=ROUTER, dst="10.2.2.9") / ICMP(type=3, code=4) / bytes(IP(src="10.2.2.9", dst=CLIENT) / TCP()),
    IP(src=ROUTER, dst=VIP) / ICMP(type=3, code=4) / bytes(IP(src=VIP, dst=CLIENT) / TCP(sport=22)),
    IP(src=ROUTER, dst=VIP) / ICMP(type=3, code=4) / bytes(IP(src=VIP, dst=CLIENT, proto=6))[:20],
], ids=["echo-request", "not-a-vip", "not-a-service-port", "quote-without-ports"])
def test_other_icmp_is_the_kernels(director: Director, ip: Packet) -> None:
    director.add_service()
    director.run(client_frame(sport=40000, flags="S"))
    frame = frame_of(ip)
    assert director.run(frame) == (Action.PASS, frame)
    assert sum(director.dataplane.icmp_counts().values()) == 0
