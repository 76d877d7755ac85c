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


def kernel_decap(lab: SeedLab) -> bool:
    """Whether the kernel has the ipip module (tunl0): then `up` and `check` default to it."""
    return bool(lab.reals[0].run(["ip", "-o", "link", "show", "tunl0"], check=False).stdout)


@pytest.mark.parametrize("decap", ["auto", "xdp"])
def test_realserver_check_and_down(seed_network: SeedLab, decap: str) -> None:
    lab = seed_network
    real = lab.reals[0]
    default_device = "tunl0" if kernel_decap(lab) else "lo"  # what check looks at without `up`
    undecapsulated = ("tunl0 is down" if kernel_decap(lab)
                      else "no decapsulation: tunl0 absent and no pyvs XDP decap program on eth0")
    tunl0 = kernel_decap(lab) and decap == "auto"
    vip_device = "tunl0" if tunl0 else "lo"
    real.sysctl({"net.ipv4.conf.all.arp_announce": 1})  # a non-default value that down must restore
    before = sysctls(lab)

    missing = lab.pyvs(real, "realserver", "check", "--vip", VIP, check=False)
    assert missing.returncode == 1
    assert undecapsulated in missing.stdout.splitlines()

    # --iface defaults to the default route's: eth0
    up = lab.pyvs(real, "realserver", "up", "--vip", VIP, "--decap", decap)
    how = "tunl0" if tunl0 else "XDP decap on eth0"
    assert up.stdout == f"real server up for {VIP} ({how}, MSS clamped to 1440)\n"
    ready = lab.pyvs(real, "realserver", "check", "--vip", VIP, "--iface", "eth0", check=False)
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert ready.stdout.strip() == "real server ready"
    assert VIP in {str(a.ip) for a in real.ipv4_addresses(vip_device)}
    assert real.read_sysctl("net.ipv4.conf.all.arp_ignore") == "1"

    lab.pyvs(real, "realserver", "down")
    after = lab.pyvs(real, "realserver", "check", "--vip", VIP, check=False)
    assert after.returncode == 1
    lines = after.stdout.splitlines()
    assert f"VIP {VIP} is not on {default_device}" in lines
    assert "arp_ignore on all is 0, should be 1" in lines
    assert "arp_announce on all is 1, should be 2" in lines
    assert sysctls(lab) == before
    assert VIP not in {str(a.ip) for a in real.ipv4_addresses(vip_device)}

    again = lab.pyvs(real, "realserver", "down", check=False)
    assert again.returncode != 0 and "no real server set up" in again.stderr
