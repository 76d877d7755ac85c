"""A network namespace in which bpf_fib_lookup gives known answers, for BPF_PROG_TEST_RUN.

BPF_PROG_TEST_RUN resolves routes and neighbours in the namespace of the
process that calls it, so the BPF tests and the per-packet benchmark enter
this namespace for as long as they run programs:

    lb0 10.2.2.2/24 (director_mac) -- 10.3.3.0/24 via 10.2.2.254 (router_mac, permanent)
                                   -- 10.5.5.0/24 via 10.2.2.253 (no neighbour entry)
                                   -- 10.6.6.0/24 via 10.2.2.254, route MTU 1000
    lb1 10.9.9.2/24 (OTHER_MAC)    -- 10.4.4.0/24 via 10.9.9.254 (OTHER_ROUTER_MAC, permanent)
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from pyroute2 import netns as pr_netns  # type: ignore[import-untyped]

DIRECTOR_MAC = "02:00:00:00:02:02"
ROUTER_MAC = "02:00:00:00:02:fe"
OTHER_MAC = "02:00:00:00:09:02"
OTHER_ROUTER_MAC = "02:00:00:00:09:fe"


def _ip(ns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True)


@contextmanager
def fib_namespace(*, director_mac: str = DIRECTOR_MAC, router_mac: str = ROUTER_MAC) -> Iterator[str]:
    """The namespace above, entered by this process; yields its name.

    The process leaves the namespace and deletes it on exit, also when the
    body raised.
    """
    if os.geteuid() != 0:
        raise PermissionError("a namespace for BPF_PROG_TEST_RUN needs root (CAP_BPF, CAP_NET_ADMIN)")
    name = f"pyvs-bpf-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        _ip(name, "link", "add", "lb0", "address", director_mac, "type", "veth", "peer", "name", "rt0",
            "address", router_mac)
        _ip(name, "link", "add", "lb1", "address", OTHER_MAC, "type", "veth", "peer", "name", "rt1",
            "address", OTHER_ROUTER_MAC)
        for link in ("lo", "lb0", "rt0", "lb1", "rt1"):
            _ip(name, "link", "set", link, "up")
        _ip(name, "addr", "add", "10.2.2.2/24", "dev", "lb0")
        _ip(name, "addr", "add", "10.9.9.2/24", "dev", "lb1")
        _ip(name, "neigh", "replace", "10.2.2.254", "lladdr", router_mac, "dev", "lb0", "nud", "permanent")
        _ip(name, "neigh", "replace", "10.9.9.254", "lladdr", OTHER_ROUTER_MAC, "dev", "lb1", "nud",
            "permanent")
        _ip(name, "route", "add", "10.3.3.0/24", "via", "10.2.2.254", "dev", "lb0")
        _ip(name, "route", "add", "10.5.5.0/24", "via", "10.2.2.253", "dev", "lb0")
        _ip(name, "route", "add", "10.6.6.0/24", "via", "10.2.2.254", "dev", "lb0", "mtu", "lock", "1000")
        _ip(name, "route", "add", "10.4.4.0/24", "via", "10.9.9.254", "dev", "lb1")
        subprocess.run(["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
        pr_netns.pushns(name)
        try:
            yield name
        finally:
            pr_netns.popns()
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
