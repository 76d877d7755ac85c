"""Tunnel mode's classic failures, through the seed lab with every offload on (issue 11):

- local senders: the lab's veths leave TCP checksums to offload, the director finishes them;
  made to leave them as they come (generic mode's rule), connections fail, which proves the
  lab really sends such packets;
- `attach` says so when a veth's peer cannot receive what XDP sends back into it;
- path-MTU discovery on the return path: a router on the client's side answers a reply that
  is too big with "fragmentation needed" to the VIP, and the director sends it on, inside
  IPIP, to the real server, whose download then completes;
- 4,000-byte UDP datagrams arrive whole: all fragments of a datagram reach one real server;
- removing a real server with a download running: dropped by default, as IPVS, or drained.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from pyvs.lab.commands import python_code_argv, pyvs_argv, pyvs_env
from pyvs.lab.experiment import start_capture
from pyvs.lab.netns import LabError, Topology
from pyvs.lab.seed import IFACE, VIP, SeedLab, add_service, release_pyvs_state, seed_topology
from pyvs.lab.xdp_pass import attach_xdp_pass
from tests.e2e.test_faults import expected_digest

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf]


def stats(lab: SeedLab) -> dict[str, dict[str, int]]:
    return json.loads(lab.pyvs(lab.director, "director", "stats", "--json").stdout)  # type: ignore[no-any-return]


def set_settings(lab: SeedLab, *, skb_mode: bool, drain: bool = False) -> None:
    code = f"from pyvs.dataplane import xdp; xdp.set_settings(skb_mode={skb_mode}, drain={drain})"
    lab.director.run_pyvs(python_code_argv(code))


def test_checksums_left_to_offload_by_local_senders_are_finished() -> None:
    with seed_topology(reals=1) as lab:
        assert [lab.curl(max_time=5).returncode for _ in range(5)] == [0] * 5
        # The program told to leave them (as in generic mode, where the kernel finishes them):
        # the real server gets the senders' unfinished checksums and no connection opens.
        set_settings(lab, skb_mode=True)
        assert [lab.curl(max_time=2).returncode for _ in range(3)] == [28] * 3  # curl: timed out
        set_settings(lab, skb_mode=False)
        assert lab.curl(max_time=5).returncode == 0


def test_attach_says_so_when_a_veths_peer_has_no_xdp_program() -> None:
    with Topology() as topology:
        director, peer = topology.add_namespace("dir"), topology.add_namespace("peer")
        topology.on_close(lambda: release_pyvs_state(director, [[*pyvs_argv(), "director", "detach", IFACE]]))
        topology.add_veth(director, IFACE, peer, "to-dir")

        def attach() -> str:
            argv = director.nsenter_argv([*pyvs_argv(), "director", "attach", IFACE])
            done = subprocess.run(argv, env=pyvs_env(), capture_output=True, text=True, timeout=60,
                                  check=True)
            return done.stderr

        warned = attach()
        assert "is a veth whose peer (to-dir, in the namespace with id" in warned
        assert "runs no XDP program" in warned
        attach_xdp_pass(peer, "to-dir")
        assert attach() == ""


def test_path_mtu_discovery_on_the_return_path_reaches_the_real_server() -> None:
    with seed_topology(reals=1) as lab:
        # The router's link to the client carries 1400 bytes; everything else 1500, the
        # client too, so it asks for full-size segments that the router cannot pass on.
        lab.router.ip("link", "set", "dev", lab.router_client_if, "mtu", "1400")
        # on the router's side of real1's link: the IPIP packet as it goes (real1's XDP
        # decapsulation runs before a capture there would see it)
        capture = start_capture(lab.topology, lab.router, lab.router_real_ifs[0], "to-real1")
        length = 20_000_000
        argv = ["curl", "-sS", "--max-time", "60", "-o", "/dev/null", "-w", "%{size_download}",
                f"http://{VIP}/bytes/{length}"]
        done = lab.client.run(argv, check=False, timeout=90)
        assert (done.returncode, done.stdout) == (0, str(length)), done.stderr
        lines = capture.stop()
        # IP 10.2.2.2 > 10.3.3.3: IP 10.2.2.254 > 10.2.2.3: ICMP 10.1.1.1 unreachable - need to
        # frag (mtu 1400): the router's error, from its address toward the VIP, inside IPIP
        forwarded = [line.split()[2:9] for line in lines if "need to frag (mtu 1400)" in line]
        inside_ipip = ["10.2.2.2", ">", "10.3.3.3:", "IP", "10.2.2.254", ">", "10.2.2.3:"]
        assert forwarded and all(fields == inside_ipip for fields in forwarded)
        assert stats(lab)["icmp"]["fwd_frag_needed"] >= 1


RECEIVER = """
import hashlib, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.2.2.3", 5353))
print("listening", flush=True)
while True:
    data, peer = s.recvfrom(65535)
    print(len(data), hashlib.sha256(data).hexdigest(), flush=True)
"""

SENDER = """
import hashlib, socket
for port in range(6000, 6008):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.1.1.1", port))
    for n in range(3):
        data = bytes([port % 256, n]) * 2000
        s.sendto(data, ("10.2.2.3", 5353))
        print(len(data), hashlib.sha256(data).hexdigest())
"""


def test_udp_datagrams_of_4000_bytes_arrive_whole() -> None:
    with seed_topology(reals=2, services=False) as lab:
        add_service(lab, "rr", udp=True, port=5353)
        # The tunnel adds 20 bytes: its links carry them (a datagram's 1500-byte fragments
        # arrive at the real servers' XDP decapsulation unfragmented).
        for ns, dev in [(lab.director, IFACE), (lab.router, lab.router_director_if),
                        (lab.router, "br-reals"), *((lab.router, d) for d in lab.router_real_ifs),
                        *((ns, IFACE) for ns in lab.reals)]:
            ns.ip("link", "set", "dev", dev, "mtu", "1520")
        receivers = [lab.topology.start(ns, python_code_argv(RECEIVER), name=f"udp-{ns.name}")
                     for ns in lab.reals]
        for receiver in receivers:
            for _ in range(50):
                if "listening" in receiver.output():
                    break
                subprocess.run(["sleep", "0.1"], check=True)
        sent = lab.client.run_pyvs(python_code_argv(SENDER)).stdout.splitlines()
        assert len(sent) == 24 and all(line.startswith("4000 ") for line in sent)
        got: list[list[str]] = []
        for _ in range(50):
            got = [[line for line in r.output().splitlines() if line[:1].isdigit()] for r in receivers]
            if sum(map(len, got)) >= len(sent):
                break
            subprocess.run(["sleep", "0.1"], check=True)
        assert sorted(got[0] + got[1]) == sorted(sent)  # every datagram whole, once
        assert all(got)  # rr spread the eight flows over both real servers


def real_of_connection(lab: SeedLab, client_port: str) -> str:
    """The real server of the client's connection from `client_port`, as `-L -n -c` lists it."""
    for line in lab.pyvsadm("-L", "-n", "-c").stdout.splitlines():
        fields = line.split()
        if len(fields) == 6 and fields[3].endswith(f":{client_port}"):
            return fields[5].rsplit(":", 1)[0]
    raise AssertionError(f"no connection from port {client_port}")


@pytest.mark.parametrize("removed", ["drop", "drain"])
def test_removing_a_real_server_with_a_download_running(removed: str) -> None:
    length = 16 << 20
    with seed_topology(reals=2, services=False) as lab:
        lab.pyvs(lab.director, "director", "attach", "--removed", removed, IFACE)
        add_service(lab, "rr")
        download = lab.download(length, 256 << 10)
        serving = real_of_connection(lab, download.connected_port)
        lab.pyvsadm("-d", "-t", f"{VIP}:80", "-r", serving)
        if removed == "drop":
            # as IPVS: its packets are dropped (no other real server answers them with a RST),
            # and the download cannot finish
            with pytest.raises(LabError):
                download.finish(timeout=8)
            assert stats(lab)["drops"]["real_server_gone"] > 0
        else:
            assert download.finish() == (serving, length, expected_digest(length))
            assert stats(lab)["drops"]["real_server_gone"] == 0
        # new connections go to the real server that stays, either way
        assert set(lab.new_connections(2)) == {"10.3.3.3", "10.3.3.4"} - {serving}
