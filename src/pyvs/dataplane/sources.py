"""The outer source address toward each real server, as the kernel picks it.

`KernelSources.source(dst)` is the source address of the route toward dst in
this network namespace: what `ip route get DST` reports as `src` (IPVS sends
its tunnelled packets from it). It asks the kernel the cheapest way there is:
a UDP socket connected to dst, which routes and picks the source address
exactly as a route request does (ip_route_connect() and rtnetlink's
RTM_GETROUTE both come down to ip_route_output_key() with no source) and
sends nothing. No netlink library is imported: pyvsadm opens its data plane
on every command, and importing pyroute2 took half of that time.

No route (unreachable, prohibit, blackhole, broadcast) gives None, and so
does a destination that is one of this host's own addresses (the kernel
answers with the address itself), which no tunnel can reach.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from typing import Final

_DISCARD: Final = 9  # any port: nothing is sent


class KernelSources:
    """The `Sources` of this network namespace (pyvs.packet.fib.Sources)."""

    def source(self, dst: ipaddress.IPv4Address) -> ipaddress.IPv4Address | None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect((str(dst), _DISCARD))
            except OSError as exc:
                if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EACCES, errno.EINVAL,
                                 errno.EPERM, errno.EADDRNOTAVAIL):
                    return None
                raise
            chosen = ipaddress.IPv4Address(probe.getsockname()[0])
        return None if chosen == dst else chosen

    def close(self) -> None:
        """Nothing is held between questions."""
