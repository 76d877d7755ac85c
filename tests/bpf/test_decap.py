"""The real-server decapsulation XDP program under BPF_PROG_TEST_RUN."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether

from pyvs.model.enums import Action
from tests.bpf.conftest import Decap
from tests.vectors.frames import DIRECTOR_MAC, REAL1, ROUTER_MAC, client_ip, ipip_frame

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_bpf]


def inner_frame(**kw: object) -> bytes:
    return bytes(Ether(src=ROUTER_MAC, dst=DIRECTOR_MAC) / client_ip(**kw))  # type: ignore[arg-type]


def test_tunnel_packet_for_a_vip_is_decapsulated(decap: Decap) -> None:
    inner = client_ip(flags="S", ttl=63)
    action, out = decap.run(ipip_frame(inner))
    assert action == Action.PASS
    assert out == bytes(Ether(src=ROUTER_MAC, dst=DIRECTOR_MAC) / inner)
    assert decap.counter(0) == 1 and decap.counter(1) == 40


def test_padding_is_cut_before_decapsulation(decap: Decap) -> None:
    inner = client_ip(flags="A", ttl=63)
    frame = ipip_frame(inner)
    action, out = decap.run(frame + b"\0" * 6)
    assert action == Action.PASS
    assert out == bytes(Ether(src=ROUTER_MAC, dst=DIRECTOR_MAC) / inner)


@pytest.mark.parametrize("frame", [
    ipip_frame(client_ip(dst="10.9.9.9")),        # inner destination is not a VIP here
    ipip_frame(client_ip(), outer_dst="10.3.3.99"),  # tunnel packet for another host
    inner_frame(),                                 # plain traffic
    bytes.fromhex("ffffffffffff" "020000000101" "0806") + bytes(28),  # ARP
], ids=["inner-not-vip", "outer-not-local", "plain", "arp"])
def test_everything_else_passes_unchanged(decap: Decap, frame: bytes) -> None:
    action, out = decap.run(frame)
    assert (action, out) == (Action.PASS, frame)
    assert decap.counter(0) == 0


def _corrupt(frame: bytes, offset: int, value: bytes) -> bytes:
    return frame[:offset] + value + frame[offset + len(value):]


GOOD = ipip_frame(client_ip(flags="S", ttl=63))
MALFORMED = [
    ("outer-bad-checksum", _corrupt(GOOD, 24, b"\xbe\xef")),
    ("inner-bad-checksum", _corrupt(GOOD, 44, b"\xbe\xef")),
    ("inner-truncated", bytes(Ether(GOOD[:14]) / IP(bytes(Ether(GOOD)[IP])[:20] + bytes(10)))[:44]),
    ("inner-version-5", _corrupt(GOOD, 34, b"\x55")),
    ("outer-fragment", bytes(Ether(GOOD[:14]) / IP(src="10.2.2.2", dst=REAL1, proto=4, flags="MF")
                             / client_ip(flags="S"))),
]


@pytest.mark.parametrize("name,frame", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_tunnel_packets_to_this_host_are_dropped(decap: Decap, name: str, frame: bytes) -> None:
    action, _ = decap.run(frame)
    assert action == Action.DROP
    assert decap.counter(2) == 1
