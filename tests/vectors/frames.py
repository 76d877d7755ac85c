"""Reference frames for the packet tests, built with scapy (tests only).

Each builder returns bytes; expected outputs are built independently here,
never by running pyvs code, so a test compares pyvs against scapy's idea of
a correct frame.
"""

from __future__ import annotations

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Packet, Raw

CLIENT = "10.1.1.1"
VIP = "10.2.2.3"
DIRECTOR = "10.2.2.2"
REAL1 = "10.3.3.3"
REAL2 = "10.3.3.4"
CLIENT_MAC = "02:00:00:00:01:01"
DIRECTOR_MAC = "02:00:00:00:02:02"
ROUTER_MAC = "02:00:00:00:02:fe"


def client_ip(*, sport: int = 40000, dport: int = 80, flags: str = "S", ttl: int = 64,
              tos: int = 0, ip_flags: str = "DF", ip_id: int = 1, payload: bytes = b"",
              options: list | None = None, udp: bool = False, dst: str = VIP, src: str = CLIENT) -> Packet:
    ip = IP(src=src, dst=dst, ttl=ttl, tos=tos, flags=ip_flags, id=ip_id, options=options or [])
    l4 = UDP(sport=sport, dport=dport) if udp else TCP(sport=sport, dport=dport, flags=flags, seq=1000)
    return ip / l4 / Raw(payload) if payload else ip / l4


def client_frame(vlan: int | None = None, **kw: object) -> bytes:
    eth = Ether(src=ROUTER_MAC, dst=DIRECTOR_MAC)
    if vlan is not None:
        eth = eth / Dot1Q(vlan=vlan)
    return bytes(eth / client_ip(**kw))  # type: ignore[arg-type]


def encapsulated(inner: Packet, *, outer_src: str, real: str, src_mac: str, dst_mac: str,
                 vlan: int | None = None) -> bytes:
    """What an IPVS director sends: inner TTL-1 (checksum updated), outer copies TOS/DF/TTL."""
    inner = IP(bytes(inner))
    inner.ttl -= 1
    del inner.chksum
    inner = IP(bytes(inner))
    df = bool(inner.flags.DF)
    outer = IP(src=outer_src, dst=real, proto=4, ttl=inner.ttl, tos=inner.tos,
               flags="DF" if df else 0, id=0 if df else inner.id)
    eth = Ether(src=src_mac, dst=dst_mac)
    if vlan is not None:
        eth = eth / Dot1Q(vlan=vlan)
    return bytes(eth / outer / inner)


def ipip_frame(inner: Packet, *, outer_src: str = DIRECTOR, outer_dst: str = REAL1,
               dst_mac: str = DIRECTOR_MAC, src_mac: str = ROUTER_MAC) -> bytes:
    return bytes(Ether(src=src_mac, dst=dst_mac) / IP(src=outer_src, dst=outer_dst, proto=4, flags="DF",
                                                    ttl=62) / inner)
