"""The UDP generator (pyvs.lab.udpgen, bpf/udpgen_xdp.bpf.c): its frames byte for byte, and in the lab."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from pyvs.bench import packet_rate
from pyvs.lab.udpgen import FRAME_LEN, Flow, UdpGen
from pyvs.model.enums import Action
from pyvs.packet.headers import mac_bytes

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_bpf, pytest.mark.needs_clang]

FLOW = Flow(src_mac=mac_bytes("02:00:00:00:01:01"), dst_mac=mac_bytes("02:00:00:00:01:fe"),
            saddr=ipaddress.IPv4Address("10.1.1.1"), daddr=ipaddress.IPv4Address("10.2.2.3"),
            dport=9000, sources=1000, sport_base=20000)


def expected_frame(sequence: int, source: int, saddr: str = "10.1.1.1") -> bytes:
    """The frame built independently with scapy: what the program must write."""
    frame = (Ether(dst="02:00:00:00:01:fe", src="02:00:00:00:01:01")
             / IP(src=saddr, dst="10.2.2.3", id=sequence & 0xFFFF, flags="DF", ttl=64)
             / UDP(sport=20000 + source, dport=9000, chksum=0)
             / Raw(sequence.to_bytes(8, "big") + bytes(10)))
    return bytes(frame)


@pytest.fixture
def gen() -> Iterator[UdpGen]:
    with UdpGen() as loaded:
        yield loaded


@pytest.mark.parametrize(("sequence", "source"), [(0, 0), (0x1_2345_6789, 999)],
                         ids=["first frame", "last source port, sequence past 16 bits"])
def test_frame_matches_scapy(gen: UdpGen, sequence: int, source: int) -> None:
    gen.configure(FLOW, sequence=sequence, next_source=source)
    # A buffer full of junk: live frames recycle pages that hold earlier frames.
    action, frame = gen.build_one(b"\xa5" * FRAME_LEN)
    assert action == Action.TX
    want = expected_frame(sequence, source)
    assert len(want) == FRAME_LEN == 60  # 64 bytes on the wire with the FCS
    assert frame.hex() == want.hex()
    state = gen.state()
    assert state.sequence == sequence + 1
    assert state.next_source == (source + 1) % FLOW.sources  # 999 wraps to 0


def test_source_address_moves_on_each_time_the_ports_wrap(gen: UdpGen) -> None:
    flow = Flow(FLOW.src_mac, FLOW.dst_mac, FLOW.saddr, FLOW.daddr, FLOW.dport, sources=2,
                sport_base=20000, addrs=3)
    gen.configure(flow)
    frames = [gen.build_one(b"\xa5" * FRAME_LEN)[1] for _ in range(7)]
    sources = [0, 1, 0, 1, 0, 1, 0]
    addresses = ["10.1.1.1", "10.1.1.1", "10.1.1.2", "10.1.1.2", "10.1.1.3", "10.1.1.3", "10.1.1.1"]
    assert [f.hex() for f in frames] == [expected_frame(seq, src, addr).hex()
                                         for seq, (src, addr) in enumerate(zip(sources, addresses,
                                                                               strict=True))]


def test_wrong_frame_length_is_aborted(gen: UdpGen) -> None:
    gen.configure(FLOW)
    assert gen.build_one(bytes(FRAME_LEN + 4))[0] == Action.ABORTED
    assert gen.state().sequence == 0


@pytest.mark.needs_netns
def test_every_generated_frame_reaches_the_real_server() -> None:
    count = 3000
    with packet_rate.pyvs_lab("xdp") as lab:
        sample = packet_rate.measure(
            lab, lambda: packet_rate.send(lab, seconds=60, pps=2000, count=count, sources=100))
    assert sample.sent == count
    assert sample.received == count, sample.deltas
    assert sample.deltas["decap_packets"] == count
    assert sample.pyvs_dropped == 0
