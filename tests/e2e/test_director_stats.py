"""`pyvs director stats` counts what the data plane did, in the seed lab.

- On both data planes (the two_reals fixture is parametrized over them):
  three TCP SYNs to the VIP that reach the director with TTL 1 (sent from the
  client with TTL 2) and two with a bad IP header checksum (sent from the
  router straight onto the director's link: the router's kernel would drop
  them) are counted as exactly 3 TTL_EXCEEDED and 2 BAD_IP_CHECKSUM drops and
  nothing else; after 5 HTTP requests on new connections the flow table holds
  5 entries of `pyvsadm -L`'s size. The table and --json say the same.
- On a real server with XDP decapsulation: 4 UDP datagrams through the
  director are 4 decapsulated packets of their inner IP length; that
  namespace has no director (its "drops" and "flows" are null).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from pyvs.lab.commands import python_code_argv, pyvs_argv
from pyvs.lab.netns import Namespace
from pyvs.lab.seed import CLIENT, IFACE, VIP, SeedLab, add_service, seed_topology
from pyvs.model.enums import DropReason

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf]

TTL_ONE, BAD_CHECKSUM, REQUESTS, DATAGRAMS = 3, 2, 5, 4
PAYLOAD = 100  # bytes of each UDP datagram


def stats(ns: Namespace) -> dict[str, Any]:
    """`pyvs director stats --json` in `ns`, checked against the table it prints without --json."""
    as_json = json.loads(ns.run_pyvs([*pyvs_argv(), "director", "stats", "--json"]).stdout)
    table = ns.run_pyvs([*pyvs_argv(), "director", "stats"]).stdout.splitlines()
    assert table[0].split() == ["SECTION", "COUNTER", "VALUE"]
    rows = [line.split() for line in table[1:]]
    flat = [[section, name, str(value)] for section, counters in as_json.items() if counters is not None
            for name, value in counters.items()]
    assert rows == flat
    assert len({len(line) for line in table}) == 1  # aligned: every line as wide
    return dict(as_json)


def mac(ns: Namespace, ifname: str) -> str:
    return str(ns.ip_json("link", "show", "dev", ifname)[0]["address"])


def send_frames(ns: Namespace, ifname: str, frames: list[bytes]) -> None:
    """Write whole Ethernet frames onto `ifname` of `ns` (an AF_PACKET socket)."""
    code = ("import socket, sys\n"
            "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
            f"s.bind(({ifname!r}, 0))\n"
            "for h in sys.argv[1:]:\n"
            "    s.send(bytes.fromhex(h))\n")
    ns.run([*python_code_argv(code), *(frame.hex() for frame in frames)])


def wait_for(ns: Namespace, section: str, wanted: dict[str, int], limit: float = 15.0) -> dict[str, Any]:
    """stats(ns) once its `section` has the `wanted` values (or `limit` seconds passed: the
    caller's assertion then says what it had): the Python data plane counts a little later."""
    deadline = time.monotonic() + limit
    while True:
        seen = stats(ns)
        if {k: seen[section][k] for k in wanted} == wanted or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def test_drops_by_reason_and_flow_occupancy(two_reals: SeedLab) -> None:
    lab = two_reals
    add_service(lab, "rr")
    fresh = stats(lab.director)
    assert fresh["decap"] is None and set(fresh["drops"].values()) == {0} and fresh["flows"]["entries"] == 0

    syn = TCP(dport=80, flags="S")
    router_mac = mac(lab.router, lab.router_client_if)
    send_frames(lab.client, IFACE, [bytes(Ether(src=mac(lab.client, IFACE), dst=router_mac)
                                          / IP(src=CLIENT, dst=VIP, ttl=2) / TCP(sport=40000 + n, dport=80,
                                                                               flags="S"))
                                    for n in range(TTL_ONE)])
    good = IP(bytes(IP(src=CLIENT, dst=VIP) / syn))
    assert good.chksum is not None
    bad = bytes(Ether(src=mac(lab.router, lab.router_director_if), dst=mac(lab.director, IFACE))
                / IP(src=CLIENT, dst=VIP, chksum=good.chksum ^ 0xFFFF) / syn)
    send_frames(lab.router, lab.router_director_if, [bad] * BAD_CHECKSUM)

    wanted = {reason.name.lower(): 0 for reason in DropReason if reason is not DropReason.NONE}
    wanted.update(ttl_exceeded=TTL_ONE, bad_ip_checksum=BAD_CHECKSUM)
    assert wait_for(lab.director, "drops", wanted)["drops"] == wanted

    served = lab.new_connections(REQUESTS)
    assert len(served) == REQUESTS and all(not s.startswith("ERROR") for s in served), served
    size = int(lab.pyvsadm("-L", "-n").stdout.split("size=")[1].split(")")[0])
    after = wait_for(lab.director, "flows", {"entries": REQUESTS})
    assert after["flows"] == {"entries": REQUESTS, "max_entries": size}
    assert after["drops"] == wanted and after["decap"] is None


UDP_SEND = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in range(int(sys.argv[1])):
    s.sendto(bytes(int(sys.argv[2])), (sys.argv[3], 53))
"""


def test_decapsulation_counters_on_a_real_server() -> None:
    with seed_topology(reals=1, services=False, decap="xdp") as lab:
        add_service(lab, "rr", udp=True, port=53)
        real = lab.reals[0]
        before = stats(real)
        assert before["drops"] is None and before["flows"] is None
        assert before["decap"] == {"packets": 0, "bytes": 0, "dropped": 0}
        lab.client.run([*python_code_argv(UDP_SEND), str(DATAGRAMS), str(PAYLOAD), VIP])
        inner = 20 + 8 + PAYLOAD  # the inner IP packet, as the decapsulation counts it
        wanted = {"packets": DATAGRAMS, "bytes": DATAGRAMS * inner, "dropped": 0}
        assert wait_for(real, "decap", wanted)["decap"] == wanted
