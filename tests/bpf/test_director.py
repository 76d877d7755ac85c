"""The director XDP program under BPF_PROG_TEST_RUN: exact frames in, exact frames out."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import subprocess

import pytest
from scapy.layers.inet import ICMP, IP, TCP
from scapy.layers.l2 import Ether

from pyvs.dataplane import libbpf
from pyvs.dataplane.maps import BpfMap
from pyvs.model.enums import Action, DropReason, FlowState, Scheduler, Setting, SvcFlag
from pyvs.model.errors import DataplaneError
from pyvs.packet import abi
from pyvs.packet.pipeline import mh_pick
from pyvs.sched.mh import TABLE_SIZE, mh_hash, mh_table
from tests.bpf.conftest import OTHER_MAC, OTHER_ROUTER_MAC, Director
from tests.vectors.frames import (
    CLIENT,
    DIRECTOR,
    DIRECTOR_MAC,
    REAL1,
    REAL2,
    ROUTER_MAC,
    VIP,
    client_frame,
    client_ip,
    encapsulated,
)

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_bpf]


def expected_to(real: str, **kw: object) -> bytes:
    vlan = kw.pop("vlan", None)
    return encapsulated(client_ip(**kw), outer_src=DIRECTOR, real=real, src_mac=DIRECTOR_MAC,  # type: ignore[arg-type]
                        dst_mac=ROUTER_MAC, vlan=vlan)  # type: ignore[arg-type]


def test_syn_to_vip_is_encapsulated_toward_the_real_server(director: Director) -> None:
    director.add_service()
    action, out = director.run(client_frame(flags="S"))
    assert action == Action.TX
    assert out == expected_to(REAL1, flags="S")


def test_outer_header_copies_tos_and_takes_inner_id_without_df(director: Director) -> None:
    director.add_service()
    kw = dict(flags="S", tos=0x28, ip_flags=0, ip_id=0x1234, ttl=17)
    action, out = director.run(client_frame(**kw))
    assert action == Action.TX
    assert out == expected_to(REAL1, **kw)
    outer = Ether(out)[IP]
    assert (outer.tos, outer.id, outer.ttl, int(outer.flags)) == (0x28, 0x1234, 16, 0)


def test_ip_options_and_payload_are_kept(director: Director) -> None:
    director.add_service()
    kw = dict(flags="PA", payload=b"GET / HTTP/1.1\r\n\r\n", options=[b"\x01\x01\x01\x00"])
    director.run(client_frame(flags="S"))
    action, out = director.run(client_frame(**kw))
    assert action == Action.TX
    assert out == expected_to(REAL1, **kw)


def test_vlan_tag_is_kept_in_front(director: Director) -> None:
    director.add_service()
    action, out = director.run(client_frame(vlan=7, flags="S"))
    assert action == Action.TX
    assert out == expected_to(REAL1, vlan=7, flags="S")


def test_ethernet_padding_is_cut(director: Director) -> None:
    director.add_service()
    frame = client_frame(flags="S")
    padded = frame + b"\x00" * (60 - len(frame))
    assert len(padded) == 60 and len(frame) == 54
    action, out = director.run(padded)
    assert action == Action.TX
    assert out == expected_to(REAL1, flags="S")


def test_udp_service(director: Director) -> None:
    director.add_service(port=53, udp=True)
    kw = dict(udp=True, dport=53, payload=b"query")
    action, out = director.run(client_frame(**kw))
    assert action == Action.TX
    assert out == expected_to(REAL1, **kw)


def test_other_egress_interface_is_a_redirect(director: Director) -> None:
    director.add_service(reals=(("10.4.4.4", 1),))
    action, out = director.run(client_frame(flags="S"))
    assert action == Action.REDIRECT
    assert out == encapsulated(client_ip(flags="S"), outer_src="10.9.9.2", real="10.4.4.4",
                               src_mac=OTHER_MAC, dst_mac=OTHER_ROUTER_MAC)


def test_unresolved_neighbour_passes_the_encapsulated_packet_to_the_kernel(director: Director) -> None:
    director.add_service(reals=(("10.5.5.5", 1),))
    action, out = director.run(client_frame(flags="S"))
    assert action == Action.PASS
    # MACs unchanged: the kernel receives it as addressed to this host and routes it.
    assert out == encapsulated(client_ip(flags="S"), outer_src=DIRECTOR, real="10.5.5.5",
                               src_mac=ROUTER_MAC, dst_mac=DIRECTOR_MAC)


def test_established_flow_stays_on_its_real_server_after_weight_change(director: Director) -> None:
    key = director.add_service(reals=((REAL1, 1), (REAL2, 1)))
    _, out = director.run(client_frame(sport=5000, flags="S"))
    first = Ether(out)[IP].dst
    other = REAL2 if first == REAL1 else REAL1
    director.set_weight(key, first, 0)
    for flags in ("A", "PA", "FA"):
        action, out = director.run(client_frame(sport=5000, flags=flags))
        assert action == Action.TX
        assert out == expected_to(first, sport=5000, flags=flags)
    for sport in range(5001, 5005):  # quiescent: new flows all go to the other one
        action, out = director.run(client_frame(sport=sport, flags="S"))
        assert out == expected_to(other, sport=sport, flags="S")


def test_rr_alternates_newest_real_server_first(director: Director) -> None:
    director.add_service(reals=((REAL1, 1), (REAL2, 1)))
    picks = [Ether(director.run(client_frame(sport=6000 + i))[1])[IP].dst for i in range(6)]
    assert picks == [REAL2, REAL1] * 3


def test_wrr_three_to_one(director: Director) -> None:
    director.add_service(scheduler=Scheduler.WRR, reals=((REAL1, 3), (REAL2, 1)))
    picks = [Ether(director.run(client_frame(sport=7000 + i))[1])[IP].dst for i in range(100)]
    assert picks.count(REAL1) == 75 and picks.count(REAL2) == 25


def test_deleted_real_server_gets_no_new_flows(director: Director) -> None:
    key = director.add_service(reals=((REAL1, 1), (REAL2, 1)))
    director.delete_real(key, REAL2)
    picks = {Ether(director.run(client_frame(sport=8000 + i))[1])[IP].dst for i in range(6)}
    assert picks == {REAL1}


def test_no_real_server_with_weight_is_a_counted_drop(director: Director) -> None:
    director.add_service(reals=((REAL1, 0),))
    action, _ = director.run(client_frame())
    assert action == Action.DROP
    assert director.drops()[DropReason.NO_REAL_SERVER] == 1


def test_counters_per_service_and_real(director: Director) -> None:
    director.add_service()
    director.run(client_frame(flags="S"))
    director.run(client_frame(flags="A"))
    [status] = director.dataplane.status()
    assert status.stats.conns == 1 and status.stats.inpkts == 2 and status.stats.inbytes == 80
    assert status.reals[0].stats == status.stats
    assert (status.reals[0].active_conns, status.reals[0].inactive_conns) == (1, 0)


@pytest.mark.parametrize("frame", [
    client_frame(dst="10.2.2.9"),                      # not a VIP
    client_frame(dport=81),                            # VIP, but no service on that port
    client_frame(udp=True),                            # VIP, other protocol
    bytes(Ether(src=ROUTER_MAC, dst=DIRECTOR_MAC) / IP(src="10.1.1.1", dst="10.2.2.3") / b"\x08\x00"),
    bytes.fromhex("ffffffffffff" "020000000101" "0806") + bytes(28),  # ARP
    bytes(Ether(src=ROUTER_MAC, dst=DIRECTOR_MAC, type=0x86DD)) + bytes(40),  # IPv6
], ids=["non-vip", "other-port", "other-proto", "ip-proto-0", "arp", "ipv6"])
def test_traffic_not_for_a_service_passes_unchanged(director: Director, frame: bytes) -> None:
    director.add_service()
    action, out = director.run(frame)
    assert action == Action.PASS
    assert out == frame


def _corrupt(frame: bytes, offset: int, value: bytes) -> bytes:
    return frame[:offset] + value + frame[offset + len(value):]


def _ip_fix_csum(frame: bytes) -> bytes:
    pkt = Ether(frame)
    del pkt[IP].chksum
    return bytes(pkt)


SYN = client_frame(flags="S")
MALFORMED_FOR_VIP = [
    ("bad-ip-checksum", _corrupt(SYN, 24, b"\xde\xad"), DropReason.BAD_IP_CHECKSUM),
    ("ihl-below-5", _corrupt(SYN, 14, b"\x44"), DropReason.BAD_IP_HEADER),
    ("version-6-in-ipv4", _corrupt(SYN, 14, b"\x65"), DropReason.BAD_IP_HEADER),
    ("total-length-beyond-frame", _ip_fix_csum(_corrupt(SYN, 16, b"\x05\xdc")), DropReason.BAD_IP_HEADER),
    ("total-length-below-header", _ip_fix_csum(_corrupt(SYN, 16, b"\x00\x10")), DropReason.BAD_IP_HEADER),
    ("truncated-tcp-header", _ip_fix_csum(_corrupt(SYN, 16, b"\x00\x24"))[:50], DropReason.BAD_L4_HEADER),
    ("tcp-doff-below-5", _corrupt(SYN, 46, b"\x40"), DropReason.BAD_L4_HEADER),
    ("tcp-doff-beyond-packet", _corrupt(SYN, 46, b"\xf0"), DropReason.BAD_L4_HEADER),
    # a datagram's later fragment whose first fragment never came: nowhere to send it
    ("later-fragment-without-its-first",
     bytes(Ether(SYN[:14]) / IP(src="10.1.1.1", dst="10.2.2.3", proto=6, frag=100) / (b"x" * 20)),
     DropReason.FRAGMENT),
    ("udp-length-below-8", _corrupt(client_frame(udp=True, dport=53), 38, b"\x00\x04"),
     DropReason.BAD_L4_HEADER),
    ("udp-length-beyond-packet", _corrupt(client_frame(udp=True, dport=53), 38, b"\x01\x00"),
     DropReason.BAD_L4_HEADER),
    ("ttl-1", client_frame(ttl=1), DropReason.TTL_EXCEEDED),
]


@pytest.mark.parametrize("name,frame,reason", MALFORMED_FOR_VIP, ids=[m[0] for m in MALFORMED_FOR_VIP])
def test_malformed_frames_for_a_vip_are_dropped_and_counted(director: Director, name: str, frame: bytes,
                                                            reason: DropReason) -> None:
    director.add_service()
    director.add_service(port=53, udp=True)
    action, _ = director.run(frame)
    assert action == Action.DROP
    drops = director.drops()
    assert drops[reason] == 1
    assert sum(drops.values()) == 1


TRUNCATED = [
    ("empty", b""),
    ("half-ethernet", SYN[:7]),
    ("ethernet-only", SYN[:14]),
    ("half-ip-header", SYN[:24]),
    ("vlan-tag-cut", client_frame(vlan=5)[:16]),
    ("ip-header-19-bytes", SYN[:33]),
]


@pytest.mark.parametrize("name,frame", TRUNCATED, ids=[t[0] for t in TRUNCATED])
def test_truncated_frames_are_never_forwarded(director: Director, name: str, frame: bytes) -> None:
    director.add_service()
    if len(frame) < 14:
        # No device delivers less than an Ethernet header; the kernel refuses to run such input.
        with pytest.raises(DataplaneError):
            director.run(frame)
        return
    action, out = director.run(frame)
    assert action in (Action.PASS, Action.DROP)
    assert action == Action.DROP or out == frame


def test_persistent_service_keeps_a_client_on_one_real_server(director: Director) -> None:
    key = director.add_service(reals=((REAL1, 1), (REAL2, 1)))
    config = director.dataplane.read()
    director.apply({key: dataclasses.replace(config[key], persistence_timeout=300)})
    picks = {Ether(director.run(client_frame(sport=9000 + i))[1])[IP].dst for i in range(4)}
    assert len(picks) == 1  # rr would alternate; the template holds the client
    [held] = picks
    templates = [c for c in director.dataplane.connections() if c.client[1] == 0]
    summary = [(str(t.client[0]), str(t.real[0]), t.state) for t in templates]
    assert summary == [("10.1.1.1", held, FlowState.NONE)]
    assert 299 <= templates[0].expires_s <= 300
    other_client = bytes(Ether(src=ROUTER_MAC, dst=DIRECTOR_MAC)
                         / IP(src="10.1.1.2", dst="10.2.2.3", flags="DF", id=1)
                         / TCP(sport=9100, dport=80, flags="S", seq=1000))
    assert Ether(director.run(other_client)[1])[IP].dst != held
    director.set_weight(key, held, 0)  # quiescent: the template still holds, as in IPVS
    assert Ether(director.run(client_frame(sport=9200))[1])[IP].dst == held


def test_a_persistent_port_0_service_takes_every_port_of_its_vip(director: Director) -> None:
    key = director.add_service(port=0, reals=((REAL1, 1), (REAL2, 1)))
    director.apply({key: dataclasses.replace(director.dataplane.read()[key], persistence_timeout=300)})
    picks = {Ether(director.run(client_frame(sport=9300 + i, dport=port))[1])[IP].dst
             for i, port in enumerate([80, 443, 22, 8080])}
    assert len(picks) == 1  # one template for the client, whatever the port
    director.add_service(port=443, reals=((REAL1, 1),))  # a service of its own port comes first
    action, out = director.run(client_frame(sport=9400, dport=443))
    assert action == Action.TX and Ether(out)[IP].dst == REAL1
    assert director.run(client_frame(sport=9401, dport=22, dst="10.2.2.9"))[0] == Action.PASS


def test_too_big_with_df_gets_icmp_fragmentation_needed_from_the_vip(director: Director) -> None:
    director.add_service(reals=(("10.6.6.6", 1),))
    frame = client_frame(flags="PA", payload=b"x" * 960)  # 1000-byte IP packet: 1020 once encapsulated
    action, out = director.run(frame)
    assert action == Action.TX
    forwarded = Ether(frame)[IP]  # as the kernel's icmp_send() quotes it: TTL one less, 576 bytes in all
    forwarded.ttl -= 1
    del forwarded.chksum
    quoted = bytes(forwarded)[:576 - 28]
    expected = bytes(Ether(src=DIRECTOR_MAC, dst=ROUTER_MAC)
                     / IP(src="10.2.2.3", dst="10.1.1.1", tos=0xC0, ttl=64, id=0, flags=0, proto=1)
                     / ICMP(type=3, code=4, nexthopmtu=980) / quoted)
    assert out == expected
    assert director.drops()[DropReason.FRAG_NEEDED] == 1


def test_too_big_without_df_is_passed_encapsulated_for_the_kernel_to_fragment(director: Director) -> None:
    director.add_service(reals=(("10.6.6.6", 1),))
    kw = dict(flags="PA", payload=b"x" * 960, ip_flags=0)
    action, out = director.run(client_frame(**kw))
    assert action == Action.PASS
    assert out == encapsulated(client_ip(**kw), outer_src=DIRECTOR, real="10.6.6.6",
                               src_mac=ROUTER_MAC, dst_mac=DIRECTOR_MAC)


def test_just_fitting_packet_is_forwarded(director: Director) -> None:
    director.add_service(reals=(("10.6.6.6", 1),))
    kw = dict(flags="PA", payload=b"x" * 940)  # 980 + 20 = the route's MTU
    action, out = director.run(client_frame(**kw))
    assert action == Action.TX
    assert out == encapsulated(client_ip(**kw), outer_src=DIRECTOR, real="10.6.6.6",
                               src_mac=DIRECTOR_MAC, dst_mac=ROUTER_MAC)


def test_packets_of_a_deleted_real_servers_flow_are_dropped_not_rescheduled(director: Director) -> None:
    key = director.add_service(reals=((REAL1, 1), (REAL2, 1)))
    _, out = director.run(client_frame(sport=5555, flags="S"))
    assert Ether(out)[IP].dst == REAL2  # newest first
    director.delete_real(key, REAL2)
    director.add_real(key, "10.3.3.5")
    # As IPVS (expire_nodest_conn=0): the connection's packets are dropped, a SYN on it too,
    # and no other real server (not the new one either) gets them.
    assert director.run(client_frame(sport=5555, flags="A"))[0] == Action.DROP
    assert director.run(client_frame(sport=5555, flags="S"))[0] == Action.DROP
    assert director.drops()[DropReason.REAL_SERVER_GONE] == 2
    [status] = director.dataplane.status()
    assert sum(r.stats.conns for r in status.reals) == 0
    assert director.run(client_frame(sport=5556, flags="S"))[0] == Action.TX  # new ones go on


def test_drained_a_deleted_real_servers_flow_goes_on_to_it(director: Director) -> None:
    director.dataplane.set_setting(Setting.DRAIN, True)
    key = director.add_service(reals=((REAL1, 1), (REAL2, 1)))
    director.run(client_frame(sport=5557, flags="S"))  # to REAL2
    director.delete_real(key, REAL2)
    director.add_real(key, "10.3.3.5")
    assert director.run(client_frame(sport=5557, flags="PA")) == (Action.TX, expected_to(REAL2, sport=5557,
                                                                                          flags="PA"))
    assert Ether(director.run(client_frame(sport=5558, flags="S"))[1])[IP].dst != REAL2


def test_connection_table_lists_live_flows(director: Director) -> None:
    director.add_service()
    director.run(client_frame(sport=4321, flags="S"))
    director.run(client_frame(sport=4321, flags="A"))
    [conn] = director.dataplane.connections()
    assert (str(conn.client[0]), conn.client[1]) == ("10.1.1.1", 4321)
    assert (str(conn.virtual[0]), conn.virtual[1]) == ("10.2.2.3", 80)
    assert (str(conn.real[0]), conn.real[1]) == (REAL1, 80)
    assert conn.state == FlowState.ESTABLISHED and 899 <= conn.expires_s <= 900


def test_rr_goes_on_from_its_cursor_after_a_real_server_is_added(director: Director) -> None:
    key = director.add_service(reals=((REAL1, 1), (REAL2, 1)))
    picks = [Ether(director.run(client_frame(sport=3000 + i))[1])[IP].dst for i in range(3)]
    assert picks == [REAL2, REAL1, REAL2]  # cursor now on REAL2, the list being [REAL2, REAL1]
    director.add_real(key, "10.3.3.5")
    # IPVS adds at the list head, [10.3.3.5, REAL2, REAL1], and moves on from REAL2.
    picks = [Ether(director.run(client_frame(sport=3100 + i))[1])[IP].dst for i in range(4)]
    assert picks == [REAL1, "10.3.3.5", REAL2, REAL1]


# -- the outer source address: the route's choice, resolved by the control plane ------

def ip(*args: str) -> None:
    """`ip ARGS` in the test's namespace (this process is inside it)."""
    subprocess.run(["ip", *args], check=True, capture_output=True)


def test_outer_source_is_the_one_the_route_to_the_real_server_chooses(director: Director) -> None:
    ip("addr", "add", "10.2.2.9/24", "dev", "lb0")
    ip("route", "replace", "10.3.3.0/24", "via", "10.2.2.254", "dev", "lb0", "src", "10.2.2.9")
    director.add_service()
    action, out = director.run(client_frame(flags="S"))
    assert action == Action.TX
    assert out == encapsulated(client_ip(flags="S"), outer_src="10.2.2.9", real=REAL1, src_mac=DIRECTOR_MAC,
                               dst_mac=ROUTER_MAC)


def test_a_route_change_shows_after_the_sources_are_resolved_again(director: Director) -> None:
    ip("addr", "add", "10.2.2.9/24", "dev", "lb0")
    director.add_service()
    ip("route", "replace", "10.3.3.0/24", "via", "10.2.2.254", "dev", "lb0", "src", "10.2.2.9")
    _, before = director.run(client_frame(sport=1, flags="S"))
    assert Ether(before)[IP].src == DIRECTOR  # written when the service was added
    director.dataplane.read()
    assert director.dataplane.refresh_sources() == 1
    _, after = director.run(client_frame(sport=2, flags="S"))
    assert Ether(after)[IP].src == "10.2.2.9"


def test_a_real_server_without_a_route_is_dropped_until_one_is_resolved(director: Director) -> None:
    director.add_service(reals=(("10.7.7.7", 1),))
    action, out = director.run(client_frame(flags="S"))
    assert (action, out) == (Action.DROP, client_frame(flags="S"))
    assert director.drops()[DropReason.NO_ROUTE] == 1
    ip("route", "add", "10.7.7.0/24", "via", "10.2.2.254", "dev", "lb0")
    director.dataplane.read()
    director.dataplane.refresh_sources()
    action, out = director.run(client_frame(sport=2, flags="S"))
    assert action == Action.TX
    assert out == encapsulated(client_ip(sport=2, flags="S"), outer_src=DIRECTOR, real="10.7.7.7",
                               src_mac=DIRECTOR_MAC, dst_mac=ROUTER_MAC)


# -- sh and dh: the kernel's 256-bucket tables ------------------------------------------

def _sh_bucket(client: str, port: int = 0) -> int:
    """ip_vs_sh_hashkey(), worked out here on its own."""
    return ((int(ipaddress.IPv4Address(client)) + port) * 2654435761) % 256


def _picks(director: Director, clients: list[str], sport: int = 40000) -> list[str]:
    return [Ether(director.run(client_frame(src=c, sport=sport))[1])[IP].dst for c in clients]


CLIENTS = [f"10.1.{n // 250}.{n % 250 + 1}" for n in range(300)]


def test_sh_sends_each_client_to_the_real_server_of_its_bucket(director: Director) -> None:
    # Kernel list order is newest first: REAL2 (weight 1), then REAL1 (weight 3), so the
    # buckets go REAL2, REAL1, REAL1, REAL1, REAL2, ...
    director.add_service(scheduler=Scheduler.SH, reals=((REAL1, 3), (REAL2, 1)))
    expected = [REAL2 if _sh_bucket(c) % 4 == 0 else REAL1 for c in CLIENTS]
    assert _picks(director, CLIENTS) == expected
    assert _picks(director, CLIENTS, sport=41000) == expected  # the port does not count without sh-port


def test_sh_port_hashes_the_source_port_too(director: Director) -> None:
    director.add_service(scheduler=Scheduler.SH, reals=((REAL1, 1), (REAL2, 1)),
                         sched_flags=SvcFlag.SCHED2)
    picks = [Ether(director.run(client_frame(sport=p))[1])[IP].dst for p in range(40000, 40064)]
    client = int(ipaddress.IPv4Address(CLIENT))
    assert picks == [REAL2 if ((client + p) * 2654435761) % 2 == 0 else REAL1 for p in range(40000, 40064)]


def test_sh_quiescent_real_server_fails_its_clients_unless_sh_fallback(director: Director) -> None:
    key = director.add_service(scheduler=Scheduler.SH, reals=((REAL1, 1), (REAL2, 1)))
    director.set_weight(key, REAL2, 0)  # buckets alternate REAL2, REAL1: REAL2's are now unavailable
    outcomes = [director.run(client_frame(src=c, sport=9000 + i))[0] for i, c in enumerate(CLIENTS)]
    dropped = [c for c, action in zip(CLIENTS, outcomes, strict=True) if action == Action.DROP]
    assert dropped == [c for c in CLIENTS if _sh_bucket(c) % 2 == 0]
    director.apply({key: dataclasses.replace(director.dataplane.read()[key], sched_flags=SvcFlag.SCHED1)})
    assert set(_picks(director, CLIENTS, sport=9500)) == {REAL1}  # every client falls back to REAL1


def test_dh_sends_every_client_of_a_vip_to_one_real_server(director: Director) -> None:
    director.add_service(scheduler=Scheduler.DH, reals=((REAL1, 1), (REAL2, 5)))
    bucket = (int(ipaddress.IPv4Address(VIP)) * 2654435761) % 256
    assert set(_picks(director, CLIENTS)) == {REAL2 if bucket % 2 == 0 else REAL1}


def test_mh_sends_each_client_to_the_real_server_of_its_bucket(director: Director) -> None:
    director.add_service(scheduler=Scheduler.MH, reals=((REAL1, 1), (REAL2, 3)))
    listed = [(int(ipaddress.IPv4Address(r)), 80, w) for r, w in ((REAL2, 3), (REAL1, 1))]  # newest first
    table = mh_table(listed)
    buckets = [mh_hash(int(ipaddress.IPv4Address(c)), 0) % TABLE_SIZE for c in CLIENTS]
    expected = [str(ipaddress.IPv4Address(listed[table[b]][0])) for b in buckets]
    assert _picks(director, CLIENTS) == expected
    assert 0.6 < expected.count(REAL2) / len(expected) < 0.9  # about 3 in 4


def test_persistence_netmask_keeps_a_clients_subnet_on_one_real_server(director: Director) -> None:
    key = director.add_service(reals=((REAL1, 1), (REAL2, 1)))
    service = director.dataplane.read()[key]
    director.apply({key: dataclasses.replace(service, persistence_timeout=300,
                                             netmask=ipaddress.IPv4Address("255.255.255.0"))})
    subnet = [f"10.1.7.{n}" for n in range(1, 41)]
    assert len(set(_picks(director, subnet))) == 1  # rr would alternate: the /24 has one template
    other = [f"10.1.8.{n}" for n in range(1, 41)]
    assert len(set(_picks(director, other))) == 1
    assert {_picks(director, subnet[:1])[0], _picks(director, other[:1])[0]} == {REAL1, REAL2}
    templates = [c for c in director.dataplane.connections() if c.client[1] == 0]
    assert sorted(str(c.client[0]) for c in templates) == ["10.1.7.0", "10.1.8.0"]


def test_one_packet_scheduling_schedules_every_udp_packet_and_keeps_no_flow(director: Director) -> None:
    key = director.add_service(port=53, udp=True, reals=((REAL1, 1), (REAL2, 1)))
    director.apply({key: dataclasses.replace(director.dataplane.read()[key], one_packet=True)})
    picks = [Ether(director.run(client_frame(udp=True, dport=53, sport=5353))[1])[IP].dst for _ in range(4)]
    assert picks == [REAL2, REAL1, REAL2, REAL1]  # the same 5-tuple, scheduled afresh each time
    assert director.dataplane.connections() == []
    [status] = director.dataplane.status()
    assert status.stats.conns == 4  # a connection per packet, as IPVS counts them


def test_persistent_conn_counts_each_real_servers_live_templates(director: Director) -> None:
    key = director.add_service(reals=((REAL1, 1), (REAL2, 1)))
    director.apply({key: dataclasses.replace(director.dataplane.read()[key], persistence_timeout=300)})
    picks = _picks(director, ["10.1.5.1", "10.1.5.2", "10.1.5.3"])
    [status] = director.dataplane.status()
    counts = {str(r.real.address): r.persistent_conns for r in status.reals}
    assert counts == {REAL1: picks.count(REAL1), REAL2: picks.count(REAL2)}
    assert sum(counts.values()) == 3


def test_mh_fallback_takes_the_kernels_walk(director: Director) -> None:

    reals = (("10.3.3.5", 1), (REAL1, 1), ("10.3.3.6", 1), (REAL2, 1))
    key = director.add_service(scheduler=Scheduler.MH, reals=reals, sched_flags=SvcFlag.SCHED1)
    director.set_weight(key, REAL1, 0)  # keeps its buckets (last weight 1), unavailable in them
    maps = director.dataplane.maps
    [svc] = [v for _k, v in maps.services.items()]
    expected, clients = [], []
    for n in range(400):
        client = f"10.1.{n // 250}.{n % 250 + 1}"
        flow = abi.FlowKey(saddr=abi.be32(ipaddress.IPv4Address(client)), sport=socket.htons(40000))
        picked = mh_pick(maps, svc, flow)  # the reference pipeline, read from the kernel's maps
        clients.append(client)
        expected.append(str(abi.from_be32(director.dataplane.real_values[picked].addr)))
    assert REAL1 not in expected and len(set(expected)) == 3
    assert _picks(director, clients) == expected


def test_a_map_pinned_by_another_pyvs_version_is_refused_not_misread() -> None:
    older = libbpf.map_create(1, 8, 28, 4)  # lb_services as a pyvs with 28-byte lb_svc made it
    try:
        with pytest.raises(DataplaneError) as refused:
            BpfMap(older, abi.SvcKey, abi.Svc)
        assert "28-byte values where this pyvs needs 8 and 32" in str(refused.value)
    finally:
        libbpf.close_fd(older)
