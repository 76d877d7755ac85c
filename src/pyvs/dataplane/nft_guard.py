"""Keeping the director's own kernel away from virtual-service traffic (live Python data plane).

AF_PACKET only taps frames: the kernel still receives every original, and
since the VIP is a local address it would answer a client's SYN to a service
with a RST (or a UDP datagram with ICMP port unreachable) beside the real
server's answer. With XDP the program consumes those frames; here an
nftables table does: `table ip pyvs`, whose prerouting chain at priority raw
drops packets whose (ip daddr, l4proto, th dport) is a configured service, a
set kept equal to lb_services by `sync()`.

Only the service tuples are dropped: fragments and malformed packets to a
VIP still reach the kernel (nft cannot read a fragment's ports), as does
everything that is not for a service (ARP, ping to the VIP, other ports).
"""

from __future__ import annotations

import contextlib
import ipaddress
import subprocess
from collections.abc import Iterable

from pyvs.model.enums import Protocol
from pyvs.model.errors import LbError
from pyvs.model.service import ServiceKey

TABLE = "pyvs"
NFT = "nft"


class NftError(LbError):
    """nft is missing or refused the table."""


def _element(key: ServiceKey) -> str:
    return f"{key.address} . {key.protocol.label.lower()} . {key.port}"


def ruleset(services: Iterable[ServiceKey]) -> str:
    """An nft script that replaces the table (atomically) with one dropping exactly these services."""
    elements = ", ".join(sorted(_element(k) for k in set(services)))
    set_elements = f"\n        elements = {{ {elements} }}" if elements else ""
    return (
        f"add table ip {TABLE}\n"
        f"delete table ip {TABLE}\n"
        f"table ip {TABLE} {{\n"
        f"    set services {{\n"
        f"        type ipv4_addr . inet_proto . inet_service{set_elements}\n"
        f"    }}\n"
        f"    chain prerouting {{\n"
        f"        type filter hook prerouting priority raw; policy accept;\n"
        f"        ip daddr . meta l4proto . th dport @services drop\n"
        f"    }}\n"
        f"}}\n"
    )


def service_key(address: ipaddress.IPv4Address, protocol: int, port: int) -> ServiceKey:
    return ServiceKey(Protocol(protocol), address, port)


class ServiceGuard:
    """The nft table of this network namespace; `close()` removes it."""

    def __init__(self) -> None:
        self.services: frozenset[ServiceKey] | None = None

    def sync(self, services: Iterable[ServiceKey]) -> bool:
        """Make the table drop exactly `services`; True when it had to change."""
        wanted = frozenset(services)
        if wanted == self.services:
            return False
        _nft(ruleset(wanted))
        self.services = wanted
        return True

    def close(self) -> None:
        remove_table()
        self.services = None


def remove_table() -> None:
    """Delete the table if it is there (also after a forwarder that died without cleaning up)."""
    with contextlib.suppress(NftError):
        _nft(f"add table ip {TABLE}\ndelete table ip {TABLE}\n")


def _nft(script: str) -> None:
    try:
        done = subprocess.run([NFT, "-f", "-"], input=script, capture_output=True, text=True, check=False,
                              timeout=30)
    except FileNotFoundError:
        raise NftError("the python data plane needs nft (nftables): not found") from None
    if done.returncode != 0:
        raise NftError(f"nft: {done.stderr.strip()}")
