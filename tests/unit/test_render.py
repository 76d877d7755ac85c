"""Golden listings of pyvs.cli.render against ipvsadm's printf formats (pure, no root),
and of `pyvs director stats` (pyvs.cli.stats, pyvs's own).

Each expected line was derived by hand from ipvsadm's formats, e.g. a real
server is "  -> %-28s %-7s %-6d %-10u %-10u": the trailing blanks of the last
column are part of ipvsadm's output and of these goldens.
"""

from __future__ import annotations

import ipaddress
import json

import pytest

from pyvs.cli import stats
from pyvs.cli.render import ListFormat, largenum, list_all, list_service, save
from pyvs.model.enums import DecapCounter, DropReason, FwdMethod, IcmpCounter, Protocol, Scheduler
from pyvs.model.service import RealServer, ServiceKey, VirtualService
from pyvs.model.status import Counters, DataplaneStats, DirectorCounters, RealStatus, ServiceStatus

IP = ipaddress.IPv4Address


def _real(
    address: str, port: int, weight: int, active: int = 0, inactive: int = 0, stats: Counters | None = None
) -> RealStatus:
    real = RealServer(IP(address), port, weight, FwdMethod.TUNNEL)
    return RealStatus(real, active, inactive, stats if stats is not None else Counters())


WEB = ServiceKey(Protocol.TCP, IP("10.2.2.3"), 80)
TLS = ServiceKey(Protocol.TCP, IP("10.2.2.10"), 443)
DNS = ServiceKey(Protocol.UDP, IP("10.2.2.3"), 53)

BIG = Counters(
    conns=5,
    inpkts=123_456_789,
    outpkts=0,
    inbytes=98_765_432_109,
    outbytes=1_234_567_890_123,
)

# Deliberately out of order: the listing sorts by protocol, address (as a
# number, so 10.2.2.3 before 10.2.2.10), port; real servers by address, port.
STATUSES = [
    ServiceStatus(
        VirtualService(
            DNS, Scheduler.WRR, persistence_timeout=300, reals=(RealServer(IP("10.3.3.5"), 53, 0),)
        ),
        reals=(_real("10.3.3.5", 53, 0, inactive=7),),
    ),
    ServiceStatus(VirtualService(TLS, Scheduler.WRR)),
    ServiceStatus(
        VirtualService(WEB, Scheduler.RR),
        reals=(
            _real("10.3.3.4", 80, 2, stats=Counters(1, 2, 3, 4, 5)),
            _real("10.3.3.3", 80, 1, active=12, inactive=3, stats=BIG),
        ),
        stats=BIG,
    ),
]


def lines(text: str) -> list[str]:
    assert text.endswith("\n")
    return text.split("\n")[:-1]


def test_list_numeric() -> None:
    assert lines(list_all(STATUSES, 4096)) == [
        "IP Virtual Server version 1.2.1 (size=4096)",
        "Prot LocalAddress:Port Scheduler Flags",
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
        "TCP  10.2.2.3:80 rr",
        "  -> 10.3.3.3:80                  Tunnel  1      12         3         ",
        "  -> 10.3.3.4:80                  Tunnel  2      0          0         ",
        "TCP  10.2.2.10:443 wrr",
        "UDP  10.2.2.3:53 wrr persistent 300",
        "  -> 10.3.3.5:53                  Tunnel  0      0          7         ",
    ]


def test_list_header_carries_the_table_size() -> None:
    assert list_all([], 65536) == (
        "IP Virtual Server version 1.2.1 (size=65536)\n"
        "Prot LocalAddress:Port Scheduler Flags\n"
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
    )


def test_list_stats_with_suffixes() -> None:
    assert lines(list_all(STATUSES, 4096, ListFormat(stats=True))) == [
        "IP Virtual Server version 1.2.1 (size=4096)",
        "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
        "  -> RemoteAddress:Port",
        "TCP  10.2.2.3:80                         5  123456K        0   98765M    1234G",
        "  -> 10.3.3.3:80                         5  123456K        0   98765M    1234G",
        "  -> 10.3.3.4:80                         1        2        3        4        5",
        "TCP  10.2.2.10:443                       0        0        0        0        0",
        "UDP  10.2.2.3:53                         0        0        0        0        0",
        "  -> 10.3.3.5:53                         0        0        0        0        0",
    ]


def test_list_stats_exact() -> None:
    assert lines(list_all(STATUSES, 4096, ListFormat(stats=True, exact=True)))[3:6] == [
        "TCP  10.2.2.3:80                         5 123456789        0 98765432109 1234567890123",
        "  -> 10.3.3.3:80                         5 123456789        0 98765432109 1234567890123",
        "  -> 10.3.3.4:80                         1        2        3        4        5",
    ]


def test_exact_alone_changes_nothing_in_the_plain_listing() -> None:
    assert list_all(STATUSES, 4096, ListFormat(exact=True)) == list_all(STATUSES, 4096)


def test_list_tun_info() -> None:
    assert lines(list_all(STATUSES, 4096, ListFormat(tun_info=True)))[1:5] == [
        "Prot LocalAddress:Port Scheduler Flags",
        "  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn",
        "TCP  10.2.2.3:80 rr",
        "  -> 10.3.3.3:80                  Tunnel  ipip          1      12         3         ",
    ]


def test_list_one_service_has_no_version_header() -> None:
    assert lines(list_service(STATUSES[2])) == [
        "Prot LocalAddress:Port Scheduler Flags",
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
        "TCP  10.2.2.3:80 rr",
        "  -> 10.3.3.3:80                  Tunnel  1      12         3         ",
        "  -> 10.3.3.4:80                  Tunnel  2      0          0         ",
    ]


def test_save_numeric() -> None:
    assert lines(save(STATUSES)) == [
        "-A -t 10.2.2.3:80 -s rr",
        "-a -t 10.2.2.3:80 -r 10.3.3.3:80 -i -w 1 --tun-type ipip",
        "-a -t 10.2.2.3:80 -r 10.3.3.4:80 -i -w 2 --tun-type ipip",
        "-A -t 10.2.2.10:443 -s wrr",
        "-A -u 10.2.2.3:53 -s wrr -p 300",
        "-a -u 10.2.2.3:53 -r 10.3.3.5:53 -i -w 0 --tun-type ipip",
    ]


def test_save_of_an_empty_table_is_empty() -> None:
    assert save([]) == ""


class Names:
    """A Namer with fixed answers, standing in for reverse DNS and /etc/services."""

    HOSTS = {
        IP("10.2.2.3"): "virtual-service.example.test",
        IP("10.3.3.3"): "a-very-long-real-server-name.example.test",
    }

    def host(self, address: ipaddress.IPv4Address) -> str:
        return self.HOSTS.get(address, str(address))

    def service(self, port: int, protocol: Protocol) -> str:
        return {80: "http", 53: "domain"}.get(port, str(port))


def test_names_are_cut_to_ipvsadm_column_widths() -> None:
    # The service name is cut to 33 characters, the real server's to 28.
    assert lines(list_service(STATUSES[2], namer=Names()))[2:4] == [
        "TCP  virtual-service.example.test rr",
        "  -> a-very-long-real-server-name Tunnel  1      12         3         ",
    ]


def test_save_with_names_is_not_cut() -> None:
    assert lines(save(STATUSES[2:], Names()))[:2] == [
        "-A -t virtual-service.example.test:http -s rr",
        "-a -t virtual-service.example.test:http -r a-very-long-real-server-name.example.test:http"
        " -i -w 1 --tun-type ipip",
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "        0"),
        (99_999_999, " 99999999"),
        (100_000_000, "  100000K"),
        (999_999_999, "  999999K"),
        (1_000_000_000, "    1000M"),
        (99_999_999_999, "   99999M"),
        (100_000_000_000, "     100G"),
        (99_999_999_999_999, "   99999G"),
        (100_000_000_000_000, "     100T"),
        (123_456_789_012_345_678, "  123456T"),
    ],
)
def test_largenum_suffixes(value: int, text: str) -> None:
    assert largenum(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "        0"),
        (12_345_678, " 12345678"),
        (123_456_789, " 123456789"),
        (18_446_744_073_709_551_615, " 18446744073709551615"),
    ],
)
def test_largenum_exact_is_at_least_nine_wide_with_a_leading_blank(value: int, text: str) -> None:
    assert largenum(value, exact=True) == text


# -- pyvs director stats ------------------------------------------------------------


def test_director_stats_table_keeps_zeros_and_leaves_out_what_is_not_pinned() -> None:
    drops = {DropReason.TTL_EXCEEDED: 3, DropReason.FLOW_BUSY: 12345}
    counters = DataplaneStats(DirectorCounters(drops, 5, 262144, {IcmpCounter.FWD_FRAG_NEEDED: 7}), None)
    assert stats.render(counters) == (
        "SECTION  COUNTER             VALUE\n"
        "drops    bad_ip_header           0\n"
        "drops    bad_ip_checksum         0\n"
        "drops    fragment                0\n"
        "drops    bad_l4_header           0\n"
        "drops    ttl_exceeded            3\n"
        "drops    no_real_server          0\n"
        "drops    no_headroom             0\n"
        "drops    no_route                0\n"
        "drops    frag_needed             0\n"
        "drops    flow_table_full         0\n"
        "drops    flow_busy           12345\n"
        "drops    real_server_gone        0\n"
        "flows    entries                 5\n"
        "flows    max_entries        262144\n"
        "icmp     fwd_unreach             0\n"
        "icmp     fwd_frag_needed         7\n"
        "icmp     fwd_time_exceeded       0\n"
        "icmp     passed                  0\n"
    )


def test_director_stats_json_has_the_same_keys_whatever_is_pinned() -> None:
    decap_only = DataplaneStats(None, {DecapCounter.PACKETS: 4, DecapCounter.BYTES: 512})
    assert json.loads(stats.as_json(decap_only)) == {
        "drops": None, "flows": None, "icmp": None, "decap": {"packets": 4, "bytes": 512, "dropped": 0}}
    assert stats.render(decap_only) == (
        "SECTION  COUNTER  VALUE\n"
        "decap    packets      4\n"
        "decap    bytes      512\n"
        "decap    dropped      0\n"
    )
