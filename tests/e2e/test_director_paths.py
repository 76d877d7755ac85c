"""The director's less travelled paths, end to end: the kernel resolving the
next hop's MAC, path MTU discovery for packets too big to encapsulate, and
fragmentation of those that may be fragmented (on both data planes: the
two_reals fixture is parametrized over them)."""

from __future__ import annotations

import pytest

from pyvs.lab.commands import python_code_argv, python_module_argv, pyvs_env
from pyvs.lab.experiment import start_capture
from pyvs.lab.netns import run
from pyvs.lab.seed import VIP, SeedLab, add_service
from pyvs.model.enums import DropReason

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf]


def sent_on_by_kernel(lab: SeedLab) -> int:
    """Packets the director's kernel sent on for the data plane.

    The XDP program passes the encapsulated packet up as received, so the
    kernel forwards it (IpForwDatagrams); the live Python data plane hands it
    over through a raw socket, so the kernel sends it as its own, which the
    kernel counts in octets only (IpExtOutOctets: raw IP_HDRINCL packets skip
    IpOutRequests), and nothing else of the director's kernel goes out meanwhile.
    """
    counter = "IpForwDatagrams" if lab.dataplane == "xdp" else "IpExtOutOctets"
    out = lab.director.run(["nstat", "-az", counter]).stdout
    return int(out.split(counter)[1].split()[0])


def drop_count(lab: SeedLab, reason: DropReason) -> int:
    code = ("from pyvs.dataplane.xdp import XdpDataplane\n"
            f"d = XdpDataplane.open_pinned(); print(d.drop_counts()[{int(reason)}])")
    return int(lab.director.run_pyvs(python_code_argv(code)).stdout)


def test_unresolved_next_hop_goes_through_the_kernel(two_reals: SeedLab) -> None:
    lab = two_reals
    add_service(lab, "rr")
    assert lab.curl("/").returncode == 0  # the router learns the VIP's MAC, so it will not ARP again
    lab.director.ip("neigh", "del", "10.2.2.254", "dev", lab.iface)
    assert "10.2.2.254" not in lab.director.ip("neigh", "show").stdout
    before = sent_on_by_kernel(lab)
    done = lab.curl("/")
    assert done.returncode == 0 and "served by" in done.stdout
    # The first encapsulated packet had no MAC to go to: the kernel sent it on, resolving the MAC.
    assert sent_on_by_kernel(lab) > before
    assert "10.2.2.254" in lab.director.ip("neigh", "show").stdout


def test_large_upload_discovers_the_tunnel_mtu(two_reals: SeedLab) -> None:
    lab = two_reals
    add_service(lab, "rr")
    for ns in lab.reals:  # without the real servers' MSS clamp the client sends full-size segments
        lab.pyvs(ns, "realserver", "up", "--vip", VIP, "--iface", lab.iface, "--mss", "off")
    payload = lab.topology.workdir / "upload.bin"
    payload.write_bytes(b"u" * 200_000)
    argv = ["curl", "-sS", "--max-time", "20", "--data-binary", f"@{payload}", "http://10.2.2.3/"]
    done = lab.client.run(argv, check=False, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "received 200000 bytes" in done.stdout
    # Full-size segments did not fit once encapsulated: the client was told by ICMP. (The live
    # Python data plane receives the client's TSO super-packets whole and cuts them itself,
    # pyvs.packet.gso; how its pieces then meet the tunnel's MTU is not checked here.)
    if lab.dataplane == "xdp":
        assert drop_count(lab, DropReason.FRAG_NEEDED) >= 1


def test_oversized_datagram_without_df_leaves_in_fragments(two_reals: SeedLab) -> None:
    lab = two_reals
    lab.pyvsadm("-A", "-u", f"{VIP}:9000", "-s", "rr")
    lab.pyvsadm("-a", "-u", f"{VIP}:9000", "-r", lab.real_addresses[0], "-i")
    capture = start_capture(lab.topology, lab.router, lab.router_director_if, "director's link")
    # 1472 bytes of UDP payload: a full 1500-byte packet, DF clear, 1520 bytes once encapsulated.
    argv = [*python_module_argv("pyvs.lab.udpflood"), VIP, "9000", "--count", "1", "--sources", "1",
            "--size", "1472", "--no-df"]
    lab.client.run(argv, env=pyvs_env())
    capture.stop()
    lines = run(["tcpdump", "-n", "-v", "-r", str(capture.path)]).stdout
    outer = [line for line in lines.splitlines() if "proto IPIP (4)" in line]
    # The kernel fragmented the encapsulated packet: 1500 bytes, then the rest at offset 1480.
    assert len(outer) == 2, lines
    assert "offset 0, flags [+]" in outer[0] and "length 1500" in outer[0]
    assert "offset 1480, flags [none]" in outer[1] and "length 40" in outer[1]
