"""A sender on the director's host that leaves its checksums to offload (veth's default):
the director finishes them before it transmits, and only then (bpf/csum_offload.h).

Such a packet's checksum field holds the pseudo-header's sum (what the kernel writes for a
CHECKSUM_PARTIAL socket buffer); scapy computes the complete one for the expected frame.
"""

from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from pyvs.model.enums import Action, Setting
from tests.bpf.conftest import Director
from tests.bpf.test_director import expected_to
from tests.vectors.frames import DIRECTOR_MAC, REAL1, ROUTER_MAC, client_ip

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_bpf]


def pseudo_header_sum(ip: Packet) -> int:
    """The kernel's ~csum_tcpudp_magic(): the pseudo-header's one's complement sum, folded."""
    raw = bytes(ip)
    l4_len = len(raw) - ip.ihl * 4
    words = struct.unpack("!4H", raw[12:20]) + (ip.proto, l4_len)
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def left_to_offload(ip: Packet) -> bytes:
    """The frame as a local sender hands it over: the L4 checksum only begun."""
    ip = IP(bytes(ip))
    layer = ip[TCP] if TCP in ip else ip[UDP]
    layer.chksum = pseudo_header_sum(ip)
    return bytes(Ether(src=ROUTER_MAC, dst=DIRECTOR_MAC) / ip)


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
@pytest.mark.parametrize("size", [0, 1, 3, 255, 256, 257, 1000, 1400])
def test_a_checksum_left_to_offload_is_finished(director: Director, udp: bool, size: int) -> None:
    director.add_service(udp=udp, port=80)
    ip = client_ip(flags="PA", payload=bytes(range(256)) * (size // 256) + b"\x5a" * (size % 256), udp=udp)
    action, out = director.run(left_to_offload(ip))
    assert action == Action.TX
    assert out == expected_to(REAL1, flags="PA", udp=udp, payload=bytes(ip.payload.payload))


def test_a_complete_checksum_is_left_as_it_is(director: Director) -> None:
    director.add_service()
    frame = Ether(src=ROUTER_MAC, dst=DIRECTOR_MAC) / client_ip(flags="PA", payload=b"hello")
    assert director.run(bytes(frame)) == (Action.TX, expected_to(REAL1, flags="PA", payload=b"hello"))


def test_in_generic_mode_the_kernel_finishes_it(director: Director) -> None:
    """The socket buffer goes on with its CHECKSUM_PARTIAL state: finishing it here too
    would make the kernel's sum wrong."""
    director.dataplane.set_setting(Setting.SKB_MODE, True)
    director.add_service()
    frame = left_to_offload(client_ip(flags="PA", payload=b"hello"))
    action, out = director.run(frame)
    assert action == Action.TX
    assert Ether(out)[IP].payload[TCP].chksum == Ether(frame)[TCP].chksum


def test_a_packet_passed_to_the_kernel_keeps_its_state(director: Director) -> None:
    """An unresolved next hop: the kernel gets the packet, with its socket buffer's state."""
    director.add_service(reals=(("10.5.5.5", 1),))
    frame = left_to_offload(client_ip(flags="PA", payload=b"hello"))
    action, out = director.run(frame)
    assert action == Action.PASS
    assert Ether(out)[IP].payload[TCP].chksum == Ether(frame)[TCP].chksum
