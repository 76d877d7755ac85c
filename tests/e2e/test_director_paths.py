"""The director's less travelled paths, end to end: the kernel resolving the
next hop's MAC, and path MTU discovery for packets too big to encapsulate."""

from __future__ import annotations

import pytest

from pyvs.lab.seed import SeedLab, add_service
from pyvs.model.enums import DropReason

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf]


def forwarded_by_kernel(lab: SeedLab) -> int:
    out = lab.director.run(["nstat", "-az", "IpForwDatagrams"]).stdout
    return int(out.split("IpForwDatagrams")[1].split()[0])


def drop_count(lab: SeedLab, reason: DropReason) -> int:
    code = ("from pyvs.dataplane.xdp import XdpDataplane\n"
            f"d = XdpDataplane.open_pinned(); print(d.drop_counts()[{int(reason)}])")
    return int(lab.director.run_pyvs(["python3", "-c", code]).stdout)


def test_unresolved_next_hop_goes_through_the_kernel(two_reals: SeedLab) -> None:
    lab = two_reals
    add_service(lab, "rr")
    assert lab.curl("/").returncode == 0  # the router learns the VIP's MAC, so it will not ARP again
    lab.director.ip("neigh", "del", "10.2.2.254", "dev", lab.iface)
    assert "10.2.2.254" not in lab.director.ip("neigh", "show").stdout
    before = forwarded_by_kernel(lab)
    done = lab.curl("/")
    assert done.returncode == 0 and "served by" in done.stdout
    # The first encapsulated packet had no MAC to go to: the kernel forwarded it.
    assert forwarded_by_kernel(lab) > before


def test_large_upload_discovers_the_tunnel_mtu(two_reals: SeedLab) -> None:
    lab = two_reals
    add_service(lab, "rr")
    payload = lab.topology.workdir / "upload.bin"
    payload.write_bytes(b"u" * 200_000)
    argv = ["curl", "-sS", "--max-time", "20", "--data-binary", f"@{payload}", "http://10.2.2.3/"]
    done = lab.client.run(argv, check=False, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "received 200000 bytes" in done.stdout
    # Full-size segments did not fit once encapsulated: the client was told by ICMP.
    assert drop_count(lab, DropReason.FRAG_NEEDED) >= 1
