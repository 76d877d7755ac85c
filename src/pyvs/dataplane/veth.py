"""The veth trap: a frame that an XDP program transmits (XDP_TX) or redirects into a veth
reaches the other end only if that end runs NAPI, which on current kernels means an XDP
program of its own (GRO on is enough on some): otherwise it waits in the peer's ring and is
never delivered, while the director counts it as forwarded. `pyvs director attach` asks
the kernel about the peer of each veth it attaches to and says so when the peer has none.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyroute2 import IPRoute  # type: ignore[import-untyped]


@dataclass(frozen=True)
class VethPeer:
    name: str
    netnsid: int | None  # the peer's namespace as this one numbers it; None: this one
    has_xdp: bool


def veth_peer(ifname: str) -> VethPeer | None:
    """The peer of `ifname` when it is a veth (in whatever namespace); None otherwise."""
    with IPRoute() as ipr:
        [link] = ipr.link("get", ifname=ifname)
        info = link.get_attr("IFLA_LINKINFO")
        if info is None or info.get_attr("IFLA_INFO_KIND") != "veth":
            return None
        netnsid = link.get_attr("IFLA_LINK_NETNSID")
        extra = {} if netnsid is None else {"if_netnsid": netnsid}
        [peer] = ipr.link("get", index=link.get_attr("IFLA_LINK"), **extra)
    xdp = peer.get_attr("IFLA_XDP")
    attached = xdp.get_attr("IFLA_XDP_ATTACHED") if xdp is not None else None
    return VethPeer(str(peer.get_attr("IFLA_IFNAME")), netnsid, attached not in (None, 0, "none"))


def silent_drop_warning(ifname: str) -> str | None:
    """One line for the operator when frames sent back into `ifname` would never arrive."""
    peer = veth_peer(ifname)
    if peer is None or peer.has_xdp:
        return None
    where = "this namespace" if peer.netnsid is None else f"the namespace with id {peer.netnsid}"
    return (f"{ifname} is a veth whose peer ({peer.name}, in {where}) runs no XDP program: frames the "
            f"director sends back into {ifname} would wait in the peer's queue and never arrive; attach an "
            "XDP program that passes frames to the peer, or use `--dataplane python`")
