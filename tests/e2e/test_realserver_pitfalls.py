"""Real-server pitfalls in namespaces: strict rp_filter, the MSS clamp, and `pyvs realserver probe`.

Each test breaks the real server one way, shows that `check` names it, that
`up` mends it (the director's encapsulated probe, or a client's connection,
gets its answer) and that `down` puts back what was there. Tests of the
kernel's tunl0 skip, with the reason, where `modprobe ipip` fails (then pyvs
decapsulates with XDP, which the "xdp" cases cover).
"""

from __future__ import annotations

import pytest

from pyvs.lab.experiment import start_capture
from pyvs.lab.seed import CLIENT, IFACE, VIP, SeedLab, add_service, attach_director, start_http_servers
from tests.capabilities import skip_without_ipip

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf]

REAL = "10.3.3.3"
SECOND_LINK = ("eth1", "to-real1b", "10.4.4.3", "10.4.4.1")  # real side, router side, their addresses
DECAPS = ["kernel", "xdp"]


@pytest.fixture(params=DECAPS, ids=[f"decap={d}" for d in DECAPS])
def decap(request: pytest.FixtureRequest) -> str:
    """`pyvs realserver up --decap`: "kernel" (tunl0, skipped where `modprobe ipip` fails), or "xdp"."""
    if request.param == "kernel":
        skip_without_ipip()
    return str(request.param)


def second_link(lab: SeedLab) -> None:
    """A second link between the real server and the router, carrying the default route: the
    director's IPIP packets still arrive on eth0, the replies to clients leave by eth1."""
    real, router = lab.reals[0], lab.router
    real_if, router_if, real_addr, router_addr = SECOND_LINK
    lab.topology.add_veth(real, real_if, router, router_if)
    real.addr_add(real_if, f"{real_addr}/24")
    router.addr_add(router_if, f"{router_addr}/24")
    router.sysctl({f"net.ipv4.conf.{router_if}.rp_filter": 0})
    real.ip("route", "replace", "default", "via", router_addr, "dev", real_if)


def probe(lab: SeedLab, target: str = VIP, timeout: str = "2") -> tuple[int, str]:
    """`pyvs realserver probe REAL TARGET` from the director's namespace: (exit status, output)."""
    done = lab.pyvs(lab.director, "realserver", "probe", "--timeout", timeout, REAL, target, check=False)
    return done.returncode, done.stdout + done.stderr


def check(lab: SeedLab, decap: str = "auto") -> list[str]:
    done = lab.pyvs(lab.reals[0], "realserver", "check", "--vip", VIP, "--iface", IFACE, "--decap", decap,
                    check=False)
    return done.stdout.splitlines()


def test_strict_rp_filter_is_named_loosened_and_restored(decap: str, seed_network: SeedLab) -> None:
    lab, real = seed_network, seed_network.reals[0]
    second_link(lab)
    device = "tunl0" if decap == "kernel" else IFACE  # where decapsulated packets arrive
    strict = {"net.ipv4.conf.all.rp_filter": "1", f"net.ipv4.conf.{device}.rp_filter": "1"}
    real.sysctl(dict(strict))
    named = (f"rp_filter on {device} is strict (net.ipv4.conf.all.rp_filter=1, "
             f"net.ipv4.conf.{device}.rp_filter=1, the kernel applies the larger): ")
    assert any(line.startswith(named) for line in check(lab, decap)), check(lab, decap)

    lab.pyvs(real, "realserver", "up", "--vip", VIP, "--iface", IFACE, "--decap", decap)
    assert real.read_sysctl(f"net.ipv4.conf.{device}.rp_filter") == ("0" if decap == "kernel" else "2")
    assert real.read_sysctl("net.ipv4.conf.all.rp_filter") == "2"
    assert check(lab, decap) == ["real server ready"]
    status, output = probe(lab)
    assert (status, output) == (0, f"echo reply from {VIP} (IPIP probe sent to {REAL})\n")

    # Strict again: the same probe goes unanswered, and check says why.
    real.sysctl(dict(strict))
    status, output = probe(lab, timeout="1")
    assert (status, output) == (1, f"no answer from {VIP} within 1 s to an IPIP probe sent to {REAL}\n")
    assert any(line.startswith(f"rp_filter on {device} is strict") for line in check(lab, decap))

    lab.pyvs(real, "realserver", "down")
    assert {key: real.read_sysctl(key) for key in strict} == strict


def test_syn_ack_from_the_vip_carries_the_clamped_mss(seed_network: SeedLab) -> None:
    lab, real = seed_network, seed_network.reals[0]
    start_http_servers(lab)
    clamp_missing = f"no MSS clamp on SYN-ACKs from VIP {VIP}: "
    assert any(line.startswith(clamp_missing) for line in check(lab))

    up = lab.pyvs(real, "realserver", "up", "--vip", VIP, "--iface", IFACE)
    assert up.stdout.endswith(", MSS clamped to 1440)\n")  # eth0's MTU 1500 - 40 - 20
    assert check(lab) == ["real server ready"]
    attach_director(lab)
    add_service(lab)
    capture = start_capture(lab.topology, real, IFACE, "real server's link")
    assert lab.curl().returncode == 0
    lines = capture.stop()
    syn_acks = [line for line in lines if f"{VIP}.80 > {CLIENT}." in line and "Flags [S.]" in line]
    assert syn_acks, lines
    assert all("[mss 1440," in line for line in syn_acks), syn_acks  # 1460 without the clamp

    lab.pyvs(real, "realserver", "down")
    assert "pyvs_realserver" not in real.run(["nft", "list", "tables"]).stdout
    assert any(line.startswith(clamp_missing) for line in check(lab))


def test_probe_answers_only_when_the_real_server_path_works(decap: str, seed_network: SeedLab) -> None:
    lab, real = seed_network, seed_network.reals[0]
    start_http_servers(lab)
    unanswered = (1, f"no answer from {VIP}:80 within 1 s to an IPIP probe sent to {REAL}\n")
    assert probe(lab, f"{VIP}:80", timeout="1") == unanswered  # no decapsulation, no VIP

    lab.pyvs(real, "realserver", "up", "--vip", VIP, "--iface", IFACE, "--decap", decap)
    assert probe(lab) == (0, f"echo reply from {VIP} (IPIP probe sent to {REAL})\n")
    assert probe(lab, f"{VIP}:80") == (0, f"SYN-ACK from {VIP}:80 (IPIP probe sent to {REAL}), MSS 1440\n")
    assert probe(lab, f"{VIP}:81") == (
        1, f"RST from {VIP}:81 (IPIP probe sent to {REAL})\n"
           "the real-server path works, but nothing listens on port 81\n")

    # The VIP gone from the real server: decapsulated, but nobody answers for the VIP.
    device = "tunl0" if decap == "kernel" else "lo"
    real.ip("addr", "del", f"{VIP}/32", "dev", device)
    assert probe(lab, f"{VIP}:80", timeout="1") == unanswered
    assert f"VIP {VIP} is not on {device}" in check(lab)
    real.addr_add(device, f"{VIP}/32")
    lab.pyvs(real, "realserver", "down")
    assert probe(lab, f"{VIP}:80", timeout="1") == unanswered
