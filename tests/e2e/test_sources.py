"""The outer source toward a real server, as `ip route get` reports it (pyvs.dataplane.sources)."""

from __future__ import annotations

import sys

import pytest

from pyvs.lab.netns import Topology

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns]

ASK = ("import ipaddress, sys\n"
       "from pyvs.dataplane.sources import KernelSources\n"
       "for dst in sys.argv[1:]:\n"
       "    print(dst, KernelSources().source(ipaddress.IPv4Address(dst)))\n")


def test_the_source_is_ip_route_gets_and_none_where_no_tunnel_goes() -> None:
    with Topology(prefix="pyvs-src") as t:
        director, peer = t.add_namespace("director"), t.add_namespace("peer")
        t.add_veth(director, "eth0", peer, "eth0")
        director.addr_add("eth0", "10.2.2.2/24")
        director.ip("addr", "add", "10.4.4.4/32", "dev", "lo")
        director.ip("route", "add", "10.3.3.0/24", "via", "10.2.2.1")
        director.ip("route", "add", "10.5.5.0/24", "via", "10.2.2.1", "src", "10.4.4.4")
        for kind, net in (("unreachable", "10.9.9.0/24"), ("blackhole", "10.8.8.0/24"),
                          ("prohibit", "10.7.7.0/24")):
            director.ip("route", "add", kind, net)
        asked = ["10.3.3.3", "10.5.5.5", "10.2.2.9", "10.9.9.9", "10.8.8.8", "10.7.7.7", "10.2.2.2",
                 "10.2.2.255", "192.0.2.1"]
        out = director.run_pyvs([sys.executable, "-c", ASK, *asked]).stdout
        assert dict(line.split() for line in out.splitlines()) == {
            "10.3.3.3": "10.2.2.2",  # the interface's address, as ip route get says
            "10.5.5.5": "10.4.4.4",  # the route's own src
            "10.2.2.9": "10.2.2.2",
            "10.9.9.9": "None", "10.8.8.8": "None", "10.7.7.7": "None",  # no route
            "10.2.2.2": "None", "10.2.2.255": "None",  # the host itself, broadcast
            "192.0.2.1": "None",  # no route at all
        }
        got = director.ip("route", "get", "10.5.5.5").stdout
        assert "src 10.4.4.4" in got
