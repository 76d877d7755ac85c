"""KernelFib's pure parts: netlink answers turned into what bpf_fib_lookup() returns."""

from __future__ import annotations

import errno
import ipaddress
from typing import Any

import pytest
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.ndmsg import ndmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from pyvs.dataplane.kernel_fib import (
    NUD_DELAY,
    NUD_NOARP,
    NUD_PERMANENT,
    NUD_PROBE,
    NUD_REACHABLE,
    NUD_STALE,
    KernelFib,
    LinkAnswer,
    RouteAnswer,
    fib_result,
    link_answer,
    mac_bytes,
    neighbour_mac,
    route_answer,
    route_error,
)
from pyvs.packet.fib import (
    FIB_BLACKHOLE,
    FIB_FRAG_NEEDED,
    FIB_NO_NEIGH,
    FIB_NOT_FWDED,
    FIB_PROHIBIT,
    FIB_SUCCESS,
    FIB_UNREACHABLE,
    FibResult,
)

IP = ipaddress.IPv4Address
REAL = IP("10.3.3.3")
ROUTER = IP("10.2.2.254")
DIRECTOR = IP("10.2.2.2")
ROUTER_MAC = bytes.fromhex("1a463d1805e6")
OWN_MAC = bytes.fromhex("e220b9b82e48")
NUD_INCOMPLETE, NUD_FAILED = 0x01, 0x20


def decoded(cls: Any, fields: dict[str, Any], attrs: list[tuple[str, Any]]) -> Any:
    """A message as pyroute2 hands it over: encoded to bytes and decoded again."""
    msg = cls()
    for name, value in fields.items():
        msg[name] = value
    msg["attrs"] = attrs
    msg.encode()
    parsed = cls(msg.data)
    parsed.decode()
    return parsed


def route(rtype: int = 1, **attrs: Any) -> Any:
    return decoded(rtmsg, {"family": 2, "dst_len": 32, "type": rtype},
                   [("RTA_DST", str(REAL)), *attrs.items()])


def test_route_via_gateway() -> None:
    msg = route(RTA_OIF=2, RTA_GATEWAY=str(ROUTER), RTA_PREFSRC=str(DIRECTOR))
    assert route_answer(msg, REAL) == RouteAnswer(FIB_SUCCESS, 2, ROUTER, DIRECTOR, 0)


def test_direct_route_has_the_destination_as_next_hop() -> None:
    msg = route(RTA_OIF=3, RTA_PREFSRC="10.3.3.254")
    assert route_answer(msg, REAL) == RouteAnswer(FIB_SUCCESS, 3, REAL, IP("10.3.3.254"), 0)


def test_route_mtu_metric() -> None:
    msg = route(RTA_OIF=2, RTA_GATEWAY=str(ROUTER), RTA_PREFSRC=str(DIRECTOR),
                RTA_METRICS={"attrs": [("RTAX_MTU", 1300)]})
    assert route_answer(msg, REAL).mtu == 1300


@pytest.mark.parametrize("rtype", [2, 3, 5], ids=["local", "broadcast", "multicast"])
def test_routes_that_do_not_forward(rtype: int) -> None:
    assert route_answer(route(rtype, RTA_OIF=1), REAL).rc == FIB_NOT_FWDED


@pytest.mark.parametrize(("code", "rc"), [
    (errno.EINVAL, FIB_BLACKHOLE), (errno.EHOSTUNREACH, FIB_UNREACHABLE), (errno.EACCES, FIB_PROHIBIT),
    (errno.ENETUNREACH, FIB_NOT_FWDED), (-errno.EHOSTUNREACH, FIB_UNREACHABLE),
])
def test_route_errors_map_as_bpf_fib_lookup_maps_them(code: int, rc: int) -> None:
    assert route_error(code) == RouteAnswer(rc)


@pytest.mark.parametrize("state", [NUD_REACHABLE, NUD_STALE, NUD_DELAY, NUD_PROBE, NUD_PERMANENT])
def test_resolved_neighbour_states(state: int) -> None:
    msg = decoded(ndmsg, {"family": 2, "ifindex": 2, "state": state},
                  [("NDA_DST", str(ROUTER)), ("NDA_LLADDR", "1a:46:3d:18:05:e6")])
    assert neighbour_mac(msg) == ROUTER_MAC


@pytest.mark.parametrize("state", [NUD_INCOMPLETE, NUD_FAILED])
def test_unresolved_neighbour_states(state: int) -> None:
    msg = decoded(ndmsg, {"family": 2, "ifindex": 2, "state": state}, [("NDA_DST", str(ROUTER))])
    assert neighbour_mac(msg) is None


def test_noarp_neighbour_without_address() -> None:
    msg = decoded(ndmsg, {"family": 2, "ifindex": 2, "state": NUD_NOARP}, [("NDA_DST", str(ROUTER))])
    assert neighbour_mac(msg) == bytes(6)


def test_link_answer() -> None:
    msg = decoded(ifinfmsg, {"family": 0, "index": 2},
                  [("IFLA_IFNAME", "eth0"), ("IFLA_ADDRESS", "e2:20:b9:b8:2e:48"), ("IFLA_MTU", 1500)])
    assert link_answer(msg) == LinkAnswer(OWN_MAC, 1500)


def test_mac_bytes() -> None:
    assert mac_bytes("00:00:00:00:00:01") == bytes(5) + b"\x01"
    assert mac_bytes(None) is None
    assert mac_bytes("") is None


GOOD_ROUTE = RouteAnswer(FIB_SUCCESS, 2, ROUTER, DIRECTOR, 0)
LINK = LinkAnswer(OWN_MAC, 1500)


def test_fib_result_success() -> None:
    assert fib_result(GOOD_ROUTE, LINK, ROUTER_MAC, tot_len=1500) == FibResult(
        FIB_SUCCESS, 2, OWN_MAC, ROUTER_MAC)


def test_fib_result_without_length_never_needs_fragmenting() -> None:
    assert fib_result(GOOD_ROUTE, LINK, ROUTER_MAC, tot_len=0).rc == FIB_SUCCESS


def test_fib_result_no_neighbour() -> None:
    assert fib_result(GOOD_ROUTE, LINK, None, tot_len=100) == FibResult(FIB_NO_NEIGH, 2, OWN_MAC)


def test_fib_result_too_big_for_the_link() -> None:
    result = fib_result(GOOD_ROUTE, LINK, ROUTER_MAC, tot_len=1501)
    assert (result.rc, result.mtu) == (FIB_FRAG_NEEDED, 1500)


def test_fib_result_route_mtu_wins_over_the_link() -> None:
    route_1300 = RouteAnswer(FIB_SUCCESS, 2, ROUTER, DIRECTOR, 1300)
    assert fib_result(route_1300, LINK, None, tot_len=1400).mtu == 1300
    assert fib_result(route_1300, LINK, None, tot_len=1300).rc == FIB_NO_NEIGH


def test_fib_result_route_failure_is_passed_on() -> None:
    assert fib_result(RouteAnswer(FIB_UNREACHABLE), None, None, tot_len=60) == FibResult(FIB_UNREACHABLE)


class CountingFib(KernelFib):
    """KernelFib whose kernel answers are canned, counting how often it asks."""

    def __init__(self) -> None:
        super().__init__(watch=False)
        self.asked = 0
        self.dmac: bytes | None = ROUTER_MAC

    def _forwards(self, ifindex: int) -> bool:
        return True

    def _route(self, dst: ipaddress.IPv4Address) -> RouteAnswer:
        self.asked += 1
        return GOOD_ROUTE

    def _link(self, ifindex: int) -> LinkAnswer | None:
        return LINK

    def _neighbour(self, ifindex: int, address: ipaddress.IPv4Address) -> bytes | None:
        return self.dmac


def test_answers_are_cached_until_invalidated() -> None:
    with CountingFib() as fib:
        first = fib.lookup(REAL, tot_len=100, ingress_ifindex=2)
        assert fib.lookup(REAL, tot_len=1500, ingress_ifindex=2) == first
        assert fib.lookup(REAL, tot_len=0, ingress_ifindex=2) == first
        assert fib.asked == 1
        assert fib.lookup(REAL, tot_len=1501, ingress_ifindex=2).rc == FIB_FRAG_NEEDED
        fib.dmac = None
        fib.invalidate()
        assert fib.lookup(REAL, tot_len=100, ingress_ifindex=2).rc == FIB_NO_NEIGH


def test_cache_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    with CountingFib() as fib:
        fib.lookup(REAL, tot_len=100, ingress_ifindex=2)
        fib.dmac = None
        monkeypatch.setattr(fib, "_stamp", fib._stamp - fib.max_age_s)
        assert fib.lookup(REAL, tot_len=100, ingress_ifindex=2).rc == FIB_NO_NEIGH
        assert fib.asked == 2
