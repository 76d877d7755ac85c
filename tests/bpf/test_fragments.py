"""The fragments of a datagram to a virtual service all reach one real server
(bpf/fragments.h): the first fragment is scheduled as the whole datagram would be, the
later ones follow it. Expected frames: scapy's fragments, encapsulated."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, UDP, fragment
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from pyvs.model.enums import Action, DropReason
from tests.bpf.conftest import Director
from tests.vectors.frames import CLIENT, DIRECTOR, DIRECTOR_MAC, REAL1, REAL2, ROUTER_MAC, VIP

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_bpf]


def datagram_fragments(sport: int, ip_id: int, size: int = 4000) -> list[IP]:
    payload = (bytes(range(256)) * 16)[:size]
    whole = IP(src=CLIENT, dst=VIP, id=ip_id, flags=0) / UDP(sport=sport, dport=53) / Raw(payload)
    return list(fragment(IP(bytes(whole)), fragsize=1000))


def run(director: Director, ip: IP) -> tuple[Action, bytes]:
    return director.run(bytes(Ether(src=ROUTER_MAC, dst=DIRECTOR_MAC) / ip))


def to_real(ip: IP, real: str) -> bytes:
    inner = IP(bytes(ip))
    inner.ttl -= 1
    del inner.chksum
    outer = IP(src=DIRECTOR, dst=real, proto=4, ttl=inner.ttl, flags=0, id=inner.id)
    return bytes(Ether(src=DIRECTOR_MAC, dst=ROUTER_MAC) / outer / IP(bytes(inner)))


def test_every_fragment_of_a_datagram_goes_where_its_first_went(director: Director) -> None:
    director.add_service(udp=True, port=53, reals=((REAL1, 1), (REAL2, 1)))
    seen = []
    for sport, ip_id in ((5300, 7), (5301, 8)):
        pieces = datagram_fragments(sport, ip_id)
        assert len(pieces) == 5
        action, out = run(director, pieces[0])
        real = str(Ether(out)[IP].dst)
        assert action == Action.TX and out == to_real(pieces[0], real)
        for piece in pieces[1:]:
            assert run(director, piece) == (Action.TX, to_real(piece, real))
        seen.append(real)
    assert sorted(seen) == [REAL1, REAL2]  # two datagrams of two flows: rr gave each its own
    [status] = director.dataplane.status()
    assert status.stats.inpkts == 10 and status.stats.conns == 2


def test_a_later_fragment_before_its_first_is_dropped(director: Director) -> None:
    director.add_service(udp=True, port=53)
    pieces = datagram_fragments(5302, 9)
    assert run(director, pieces[1])[0] == Action.DROP
    assert director.drops()[DropReason.FRAGMENT] == 1
    assert run(director, pieces[0])[0] == Action.TX
    assert run(director, pieces[2])[0] == Action.TX
