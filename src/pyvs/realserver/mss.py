"""The real server's MSS clamp: an nftables rule on the SYN-ACKs sent from the VIPs. Pure: no I/O.

Why: a client advertises, and the real server answers with, an MSS taken
from its own path MTU. The real server's replies go straight to the client
and are fine, but the client's segments reach the real server inside IPIP,
20 bytes larger: a client on a 1500-byte path sends 1460-byte segments, 1520
bytes once the director has encapsulated them, more than a 1500-byte
director-to-real-server path carries. The director can only fragment them or
answer "fragmentation needed". The fix LVS-TUN guides give is to make the real
server advertise a smaller MSS on connections to the VIP, so clients send
segments that still fit once encapsulated.

How: a route `advmss` would have to be on the route toward every client (the
SYN-ACK's route decides the advertised MSS), so pyvs uses nftables instead:
`table ip pyvs_realserver`, whose output chain (priority mangle) lowers the
MSS option of every SYN and SYN-ACK whose source is one of the VIPs to
`mss` when it is larger. Default `mss`: the interface's MTU - 40 (IPv4 and
TCP headers) - 20 (the IPIP header), 1440 on a 1500-byte link.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

TABLE = "pyvs_realserver"
IPIP_OVERHEAD = 20  # the outer IPv4 header the director adds
TCP_IP_HEADERS = 40  # IPv4 + TCP headers without options
MSS_MIN = 536  # RFC 879's default MSS; below it clamping does more harm than good
MSS_MAX = 65495  # 65535 - 40


@dataclass(frozen=True, slots=True)
class MssClamp:
    """The clamp found in nftables: SYN-ACKs from `vips` get at most `mss`."""

    mss: int
    vips: frozenset[str]


def clamp_for_mtu(mtu: int) -> int:
    """The MSS that keeps a client's segment within `mtu` once the director has encapsulated it."""
    return mtu - TCP_IP_HEADERS - IPIP_OVERHEAD


def ruleset(mss: int, vips: Iterable[str]) -> str:
    """An nft script that replaces the table (atomically) with one clamping SYN-ACKs from `vips` to `mss`."""
    elements = ", ".join(sorted(set(vips)))
    return (
        f"add table ip {TABLE}\n"
        f"delete table ip {TABLE}\n"
        f"table ip {TABLE} {{\n"
        f"    set vips {{\n"
        f"        type ipv4_addr\n"
        f"        elements = {{ {elements} }}\n"
        f"    }}\n"
        f"    chain output {{\n"
        f"        type filter hook output priority mangle; policy accept;\n"
        f"        ip saddr @vips tcp flags & (syn | rst) == syn "
        f"tcp option maxseg size > {mss} tcp option maxseg size set {mss}\n"
        f"    }}\n"
        f"}}\n"
    )


def parse_clamp(listing: dict[str, Any]) -> MssClamp | None:
    """The clamp in `nft -j list table ip pyvs_realserver` output, or None when it has no clamp rule."""
    vips: frozenset[str] = frozenset()
    mss = None
    for item in listing.get("nftables", []):
        if "set" in item and item["set"].get("name") == "vips":
            vips = frozenset(str(e) for e in item["set"].get("elem", []) if isinstance(e, str))
        for expr in item.get("rule", {}).get("expr", []):
            mangle = expr.get("mangle", {}) if isinstance(expr, dict) else {}
            if mangle.get("key", {}).get("tcp option", {}).get("name") == "maxseg":
                mss = int(mangle["value"])
    return None if mss is None else MssClamp(mss, vips)


def mss_problems(vips: Sequence[str], wanted: int, clamp: MssClamp | None) -> list[str]:
    """Sentences for each VIP whose SYN-ACKs are not clamped to `wanted` or less."""
    why = (f"clients' segments arrive inside IPIP, {IPIP_OVERHEAD} bytes larger: advertise at most {wanted} "
           f"(`pyvs realserver up` adds the clamp, table ip {TABLE})")
    if clamp is None:
        return [f"no MSS clamp on SYN-ACKs from VIP {vip}: {why}" for vip in vips]
    problems = [f"no MSS clamp on SYN-ACKs from VIP {vip}: {why}" for vip in vips if vip not in clamp.vips]
    if clamp.mss > wanted:
        problems.append(f"MSS clamp {clamp.mss} on SYN-ACKs from the VIPs is more than {wanted}: {why}")
    return problems
