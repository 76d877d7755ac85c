"""pyvs.packet.gso: a TCP super-packet (GRO, or TSO of a local sender) cut as the kernel's
GSO would, for the live Python data plane; checked against scapy's parsing (pure)."""

from __future__ import annotations

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from pyvs.packet.gso import segments

PAYLOAD = bytes(range(256)) * 20  # 5,120 bytes


def super_packet(flags: str = "PA", **ip: object) -> bytes:
    return bytes(Ether() / IP(src="10.1.1.1", dst="10.2.2.3", id=100, **ip)  # type: ignore[arg-type]
                 / TCP(sport=40000, dport=80, seq=1000, flags=flags) / Raw(PAYLOAD))


def test_a_super_packet_becomes_segments_that_fit_with_every_checksum_right() -> None:
    pieces = segments(super_packet("FPA"), 14, 1500)
    assert pieces is not None and len(pieces) == 4  # 1460 + 1460 + 1460 + 740
    parsed = [Ether(p) for p in pieces]
    assert b"".join(bytes(p[TCP].payload) for p in parsed) == PAYLOAD
    assert [p[TCP].seq for p in parsed] == [1000, 2460, 3920, 5380]
    assert [p[IP].id for p in parsed] == [100, 101, 102, 103]
    assert [str(p[TCP].flags) for p in parsed] == ["A", "A", "A", "FPA"]
    for piece, p in zip(pieces, parsed, strict=True):
        assert len(piece) - 14 <= 1500
        rebuilt = IP(bytes(p[IP]))
        del rebuilt.chksum, rebuilt[TCP].chksum
        assert bytes(IP(bytes(rebuilt))) == bytes(p[IP])  # scapy's checksums are the same


def test_what_fits_or_is_no_tcp_stays_whole() -> None:
    assert segments(super_packet(), 14, 9000) is None
    udp = bytes(Ether() / IP(src="10.1.1.1", dst="10.2.2.3") / UDP() / Raw(PAYLOAD))
    assert segments(udp, 14, 1500) is None
    fragment = bytes(Ether() / IP(src="10.1.1.1", dst="10.2.2.3", flags="MF") / TCP() / Raw(PAYLOAD))
    assert segments(fragment, 14, 1500) is None
