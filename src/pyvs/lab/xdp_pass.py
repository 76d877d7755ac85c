"""Attach pyvs' XDP_PASS program (bpf/pass_xdp.bpf.c) to a lab veth peer.

The lab's router receives what the director transmits with XDP_TX; see the
program's header for why its side of the link needs an XDP program.
"""

from __future__ import annotations

from pyvs.bpf import build
from pyvs.lab.netns import Namespace


def attach_xdp_pass(ns: Namespace, ifname: str) -> None:
    """Attach the XDP_PASS program (native mode) to `ifname` in `ns`."""
    obj = build.object_path("pass_xdp")
    ns.ip("link", "set", "dev", ifname, "xdpdrv", "obj", str(obj), "sec", "xdp")
