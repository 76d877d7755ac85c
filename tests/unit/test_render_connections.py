"""Golden `ipvsadm -L -c` listings of pyvs.cli.render (pure, no root).

ipvsadm's list_conn() prints "IPVS connection entries", then the title
"pro expire %-11s %-18s %-18s %s" and one print_conn() line per entry of
/proc/net/ip_vs_conn: "%-3s %-6s %-11s %-18s %-18s %s" of protocol, expire
time ("%02d:%02d" of minutes and seconds), the kernel's state name, client,
virtual and real server. The goldens below were derived by hand from those
formats; the last column has no trailing blanks.
"""

from __future__ import annotations

import ipaddress

import pytest

from pyvs.cli.address import NUMERIC
from pyvs.cli.render import STATE_NAMES, connection_entry, expire, list_connections
from pyvs.model.enums import FlowState, Protocol
from pyvs.model.status import Connection

IP = ipaddress.IPv4Address

TITLE = (
    "IPVS connection entries\n"  # list_conn()'s header
    "pro expire state       source             virtual            destination\n"
)


def conn(
    protocol: Protocol,
    client: str,
    virtual: str,
    real: str,
    state: FlowState,
    expires_s: int,
) -> Connection:
    def split(text: str) -> tuple[ipaddress.IPv4Address, int]:
        address, port = text.split(":")
        return IP(address), int(port)

    return Connection(protocol, split(client), split(virtual), split(real), state, expires_s)


ESTABLISHED = conn(Protocol.TCP, "10.1.1.1:40000", "10.2.2.3:80", "10.3.3.3:80", FlowState.ESTABLISHED, 899)
SYN_RECV = conn(Protocol.TCP, "10.1.1.2:40001", "10.2.2.3:80", "10.3.3.4:80", FlowState.SYN_RECV, 59)
DNS = conn(Protocol.UDP, "10.1.1.1:5353", "10.2.2.3:53", "10.3.3.5:53", FlowState.UDP, 300)
TLS = conn(Protocol.TCP, "10.1.1.9:2000", "10.2.2.10:443", "10.3.3.3:443", FlowState.TIME_WAIT, 120)
FIN = conn(Protocol.TCP, "10.1.1.10:1", "10.2.2.3:80", "10.3.3.3:80", FlowState.FIN_WAIT, 7)


def test_title_alone_for_an_empty_table() -> None:
    assert list_connections([]) == TITLE


def test_numeric_listing() -> None:
    assert list_connections([ESTABLISHED, SYN_RECV, DNS]) == TITLE + (
        "TCP 14:59  ESTABLISHED 10.1.1.1:40000     10.2.2.3:80        10.3.3.3:80\n"
        "TCP 00:59  SYN_RECV    10.1.1.2:40001     10.2.2.3:80        10.3.3.4:80\n"
        "UDP 05:00  UDP         10.1.1.1:5353      10.2.2.3:53        10.3.3.5:53\n"
    )


def test_sorted_by_protocol_virtual_then_client() -> None:
    # Given out of order: UDP first, 10.2.2.10 before 10.2.2.3, 10.1.1.10 before 10.1.1.1.
    listing = list_connections([DNS, TLS, FIN, SYN_RECV, ESTABLISHED], NUMERIC)
    assert listing == TITLE + (
        "TCP 14:59  ESTABLISHED 10.1.1.1:40000     10.2.2.3:80        10.3.3.3:80\n"
        "TCP 00:59  SYN_RECV    10.1.1.2:40001     10.2.2.3:80        10.3.3.4:80\n"
        "TCP 00:07  FIN_WAIT    10.1.1.10:1        10.2.2.3:80        10.3.3.3:80\n"
        "TCP 02:00  TIME_WAIT   10.1.1.9:2000      10.2.2.10:443      10.3.3.3:443\n"
        "UDP 05:00  UDP         10.1.1.1:5353      10.2.2.3:53        10.3.3.5:53\n"
    )


class Names:
    """Names as a resolver and /etc/services would give them (ipvsadm without -n)."""

    def host(self, address: ipaddress.IPv4Address) -> str:
        return {IP("10.2.2.3"): "www.example.test", IP("10.3.3.3"): "real1"}.get(address, str(address))

    def service(self, port: int, protocol: Protocol) -> str:
        return {(80, Protocol.TCP): "http", (53, Protocol.UDP): "domain"}.get((port, protocol), str(port))


def test_names_are_not_cut_and_push_the_columns() -> None:
    assert list_connections([ESTABLISHED, DNS], Names()).splitlines()[2:] == [
        "TCP 14:59  ESTABLISHED 10.1.1.1:40000     www.example.test:http real1:http",
        "UDP 05:00  UDP         10.1.1.1:5353      www.example.test:domain 10.3.3.5:domain",
    ]


def test_names_stop_at_ipvsadm_buffer_of_59_characters() -> None:
    class Long(Names):
        def host(self, address: ipaddress.IPv4Address) -> str:
            return "h" * 70

    line = connection_entry(ESTABLISHED, Long())
    assert line == f"TCP 14:59  ESTABLISHED {'h' * 59} {'h' * 59} {'h' * 59}"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "00:00"),
        (1, "00:01"),
        (59, "00:59"),
        (60, "01:00"),
        (899, "14:59"),
        (3600, "60:00"),
        (5999, "99:59"),
        (6000, "100:00"),
        (100_000, "1666:40"),
        (-3, "00:00"),
    ],
)
def test_expire_is_minutes_and_seconds(seconds: int, text: str) -> None:
    assert expire(seconds) == text


def test_long_expire_widens_its_column() -> None:
    template = conn(Protocol.TCP, "10.1.1.1:0", "10.2.2.3:80", "10.3.3.3:80", FlowState.NONE, 100_000)
    assert connection_entry(template, NUMERIC) == (
        "TCP 1666:40 NONE        10.1.1.1:0         10.2.2.3:80        10.3.3.3:80"
    )


@pytest.mark.parametrize(
    ("state", "name"),
    [
        (FlowState.NONE, "NONE"),
        (FlowState.ESTABLISHED, "ESTABLISHED"),
        (FlowState.SYN_RECV, "SYN_RECV"),
        (FlowState.FIN_WAIT, "FIN_WAIT"),
        (FlowState.TIME_WAIT, "TIME_WAIT"),
        (FlowState.CLOSE, "CLOSE"),
        (FlowState.UDP, "UDP"),
    ],
)
def test_state_names_are_the_kernels(state: FlowState, name: str) -> None:
    assert STATE_NAMES[state] == name
    line = connection_entry(
        conn(Protocol.TCP, "10.1.1.1:1", "10.2.2.3:80", "10.3.3.3:80", state, 10), NUMERIC
    )
    assert line == f"TCP 00:10  {name:<11} 10.1.1.1:1         10.2.2.3:80        10.3.3.3:80"


def test_every_flow_state_has_a_name() -> None:
    assert set(STATE_NAMES) == set(FlowState)
