"""The namespace library and the seed network, before any pyvs piece (root and netns only)."""

from __future__ import annotations

import json
import subprocess

import pytest

from pyvs.lab.netns import LabError, Topology, run
from pyvs.lab.seed import DIRECTOR, VIP, SeedLab, build_network, plain_routing_problems

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns]


def netns_names() -> set[str]:
    out = run(["ip", "-j", "netns", "list"]).stdout
    return {entry["name"] for entry in json.loads(out or "[]")}


def root_links_and_addresses() -> tuple[set[str], set[str]]:
    links = json.loads(run(["ip", "-j", "link", "show"]).stdout)
    addrs = json.loads(run(["ip", "-j", "addr", "show"]).stdout)
    return ({link["ifname"] for link in links},
            {a["local"] for link in addrs for a in link.get("addr_info", [])})


def test_seed_network_routes_plainly(seed_network: SeedLab) -> None:
    lab = seed_network
    assert plain_routing_problems(lab) == []
    assert lab.client.ping(VIP)  # the director holds the VIP like the seed's eth0:0
    assert lab.reals[0].ping(DIRECTOR)
    assert lab.router.read_sysctl("net.ipv4.ip_forward") == "1"
    assert lab.director.read_sysctl(f"net.ipv4.conf.{lab.iface}.accept_local") == "1"
    # every interface keeps the kernel's default offloads: senders leave checksums to them
    assert "tx-checksumming: on" in lab.client.run(["ethtool", "-k", lab.iface]).stdout
    assert "tx-checksumming: on" in lab.router.run(["ethtool", "-k", lab.router_director_if]).stdout


def test_two_reals_share_a_bridge() -> None:
    with Topology() as t:
        lab = build_network(t, reals=2)
        assert plain_routing_problems(lab) == []
        assert lab.reals[0].ping("10.3.3.4")


def test_topology_removes_everything_and_touches_nothing_in_root() -> None:
    before_ns, before_root = netns_names(), root_links_and_addresses()
    with Topology() as t:
        lab = build_network(t, reals=1)
        names = {ns.name for ns in t.namespaces.values()}
        assert names <= netns_names()
        assert all(name.startswith("pyvs-") and name.endswith(t.suffix) for name in names)
        sleeper = t.start(lab.client, ["sleep", "600"], name="sleeper")
        assert root_links_and_addresses() == before_root
    assert not sleeper.running
    assert not names & netns_names()
    assert netns_names() == before_ns
    assert not t.workdir.exists()


def test_topology_cleans_up_after_an_exception() -> None:
    names: set[str] = set()
    with pytest.raises(RuntimeError, match="boom"), Topology() as t:
        ns = t.add_namespace("only")
        names.add(ns.name)
        t.start(ns, ["sleep", "600"], name="sleeper")
        raise RuntimeError("boom")
    assert not names & netns_names()


def test_failed_command_names_itself() -> None:
    with Topology() as t:
        ns = t.add_namespace("only")
        with pytest.raises(LabError, match="ip -n pyvs-only-.* addr add"):
            ns.addr_add("nosuchdev", "10.0.0.1/24")
        assert ns.run(["true"]).returncode == 0
        assert ns.run(["false"], check=False).returncode == 1


def test_pyvs_commands_see_bpffs() -> None:
    """nsenter --net keeps /sys/fs/bpf; ip netns exec would remount /sys."""
    with Topology() as t:
        ns = t.add_namespace("only")
        done = ns.run_pyvs(["sh", "-c", "stat -f -c %T /sys/fs/bpf"])
        assert done.stdout.strip() == "bpf_fs"
        inode = ns.run_pyvs(["stat", "-L", "-c", "%i", "/proc/self/ns/net"]).stdout.strip()
        assert int(inode) == ns.inode


def test_pyvs_cli_is_reachable() -> None:
    from pyvs.lab.commands import pyvs_argv, pyvs_env

    done = subprocess.run([*pyvs_argv(), "--help"], capture_output=True, text=True, env=pyvs_env(),
                          check=False)
    assert done.returncode == 0 and "realserver" in done.stdout
