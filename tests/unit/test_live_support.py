"""The live Python data plane's pure helpers: fragmenting what goes to the kernel,
the nft table's text, and reading a forwarder's interfaces from its command line."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from pyvs.daemon.forwarder import MAX_BACKOFF_S, backoff, killed
from pyvs.dataplane import nft_guard
from pyvs.dataplane.forwarder_process import MODULE, daemon_ifaces
from pyvs.dataplane.kernel_handoff import IP_DF, IP_MF, KernelHandoff, fragment_ipv4, ipv4_checksum
from pyvs.model.enums import Protocol
from pyvs.model.service import ServiceKey

IP = ipaddress.IPv4Address


def ipv4(payload_len: int, *, frag: int = 0, ident: int = 0x1234) -> bytes:
    header = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, ident, frag, 63, 4, 0,
                                   IP("10.2.2.2").packed, IP("10.3.3.3").packed))
    struct.pack_into("!H", header, 10, ipv4_checksum(bytes(header)))
    return bytes(header) + bytes(i % 251 for i in range(payload_len))


def test_a_packet_that_fits_is_left_alone() -> None:
    packet = ipv4(1480)
    assert fragment_ipv4(packet, 1500) == [packet]


def test_fragments_reassemble_to_the_packet() -> None:
    packet = ipv4(1500)  # 1520 bytes: an encapsulated full-size packet
    pieces = fragment_ipv4(packet, 1500)
    assert [len(p) for p in pieces] == [1500, 40]
    payload = b""
    for i, piece in enumerate(pieces):
        tot_len, ident, frag = struct.unpack_from("!HHH", piece, 2)
        assert tot_len == len(piece) and ident == 0x1234
        assert bool(frag & IP_MF) == (i < len(pieces) - 1)
        assert (frag & 0x1FFF) * 8 == len(payload)
        assert ipv4_checksum(piece[:20]) == 0  # the checksum field is right
        assert piece[8:10] == packet[8:10] and piece[12:20] == packet[12:20]
        payload += piece[20:]
    assert payload == packet[20:]


def test_fragment_data_is_a_multiple_of_eight() -> None:
    pieces = fragment_ipv4(ipv4(3000), 1006)
    assert [len(p) - 20 for p in pieces] == [984, 984, 984, 48]


def test_fragmenting_a_fragment_keeps_its_offset_and_more_fragments() -> None:
    pieces = fragment_ipv4(ipv4(1600, frag=IP_MF | 100), 1000)
    offsets = [struct.unpack_from("!H", p, 6)[0] for p in pieces]
    assert offsets == [IP_MF | 100, IP_MF | (100 + 122)]


def test_df_packets_are_not_fragmented() -> None:
    with pytest.raises(ValueError, match="DF"):
        fragment_ipv4(ipv4(1500, frag=IP_DF), 1500)


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, address: tuple[str, int], /) -> int:
        self.sent.append((data, address))
        return len(data)

    def close(self) -> None:
        pass


def test_handoff_sends_to_the_outer_destination() -> None:
    sender = RecordingSender()
    packet = ipv4(100)
    assert KernelHandoff(sender, lambda _dst, _length: None).send(packet) == 1
    assert sender.sent == [(packet, ("10.3.3.3", 0))]


def test_handoff_fragments_to_the_route_mtu() -> None:
    sender = RecordingSender()
    asked: list[tuple[IP, int]] = []

    def route_mtu(dst: IP, length: int) -> int | None:
        asked.append((dst, length))
        return 1500

    assert KernelHandoff(sender, route_mtu).send(ipv4(1500)) == 2
    assert asked == [(IP("10.3.3.3"), 1520)]
    assert [len(data) for data, _address in sender.sent] == [1500, 40]


WEB = ServiceKey(Protocol.TCP, IP("10.2.2.3"), 80)
DNS = ServiceKey(Protocol.UDP, IP("10.2.2.3"), 53)


def test_ruleset_replaces_the_table_with_the_services() -> None:
    text = nft_guard.ruleset([WEB, DNS, WEB])
    assert text.startswith("add table ip pyvs\ndelete table ip pyvs\ntable ip pyvs {")
    assert "elements = { 10.2.2.3 . tcp . 80, 10.2.2.3 . udp . 53 }" in text
    assert "type filter hook prerouting priority raw; policy accept;" in text
    assert "ip daddr . meta l4proto . th dport @services drop" in text


def test_ruleset_without_services_has_an_empty_set() -> None:
    assert "elements" not in nft_guard.ruleset([])


def test_guard_runs_nft_only_on_change(monkeypatch: pytest.MonkeyPatch) -> None:
    scripts: list[str] = []
    monkeypatch.setattr(nft_guard, "_nft", scripts.append)
    guard = nft_guard.ServiceGuard()
    assert guard.sync([WEB]) is True
    assert guard.sync({WEB}) is False
    assert guard.sync([WEB, DNS]) is True
    guard.close()
    assert len(scripts) == 3 and scripts[-1] == "add table ip pyvs\ndelete table ip pyvs\n"


def test_daemon_ifaces_from_the_command_line() -> None:
    cmdline = ["/usr/bin/python3", "-m", MODULE, "--pid-file", "/run/pyvs/x.pid", "eth0",
               "--sync-interval", "0.5", "--adopt", "1234", "eth1"]
    assert daemon_ifaces(cmdline) == ("eth0", "eth1")
    assert daemon_ifaces(["/usr/bin/python3", "-m", "http.server"]) is None


def test_a_forwarder_that_keeps_failing_is_restarted_ever_later() -> None:
    assert [backoff(n) for n in range(1, 9)] == [0.0, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, MAX_BACKOFF_S]


def test_a_forwarder_killed_from_outside_is_told_from_one_that_failed() -> None:
    def exited(code: int) -> int:
        return code << 8

    def signalled(sig: int) -> int:
        return sig

    outside = (signalled(9), signalled(15), exited(0), exited(143), exited(130), None)
    assert [killed(s) for s in outside] == [True] * len(outside)
    assert [killed(s) for s in (exited(1), signalled(11), signalled(6))] == [False] * 3
