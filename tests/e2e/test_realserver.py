"""`pyvs realserver up | check | down` in a real namespace (XDP decap on this kernel)."""

from __future__ import annotations

import pytest

from pyvs.lab.seed import VIP, SeedLab

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf]

SYSCTLS = [f"net.ipv4.conf.{dev}.{key}"
           for dev in ("lo", "all", "eth0") for key in ("arp_ignore", "arp_announce")]
SYSCTLS += ["net.ipv4.conf.default.rp_filter", "net.ipv4.conf.all.rp_filter"]


def sysctls(lab: SeedLab) -> dict[str, str]:
    real = lab.reals[0]
    return {key: real.read_sysctl(key) for key in SYSCTLS}


def test_realserver_check_and_down(seed_network: SeedLab) -> None:
    lab = seed_network
    real = lab.reals[0]
    real.sysctl({"net.ipv4.conf.all.arp_announce": 1})  # a non-default value that down must restore
    before = sysctls(lab)

    missing = lab.pyvs(real, "realserver", "check", "--vip", VIP, check=False)
    assert missing.returncode == 1
    assert "no decapsulation: tunl0 absent and no pyvs XDP decap program on eth0" in missing.stdout

    lab.pyvs(real, "realserver", "up", "--vip", VIP)  # --iface defaults to the default route's: eth0
    ready = lab.pyvs(real, "realserver", "check", "--vip", VIP, "--iface", "eth0", check=False)
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert ready.stdout.strip() == "real server ready"
    assert VIP in {str(a.ip) for a in real.ipv4_addresses("lo")}
    assert real.read_sysctl("net.ipv4.conf.all.arp_ignore") == "1"

    lab.pyvs(real, "realserver", "down")
    after = lab.pyvs(real, "realserver", "check", "--vip", VIP, check=False)
    assert after.returncode == 1
    lines = after.stdout.splitlines()
    assert f"VIP {VIP} is not on lo" in lines
    assert "arp_ignore on all is 0, should be 1" in lines
    assert "arp_announce on all is 1, should be 2" in lines
    assert "no decapsulation: tunl0 absent and no pyvs XDP decap program on eth0" in lines
    assert sysctls(lab) == before
    assert VIP not in {str(a.ip) for a in real.ipv4_addresses("lo")}

    again = lab.pyvs(real, "realserver", "down", check=False)
    assert again.returncode != 0 and "no real server set up" in again.stderr
