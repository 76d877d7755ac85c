"""A minimal ICMP echo ("ping") for lab connectivity checks, since ping may be absent.

Run as `python -m pyvs.lab.ping [-c COUNT] [-W SECONDS] ADDRESS` (root: raw
socket); exit status 0 when at least one echo reply came back.
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import struct
import sys
import time

ICMP_ECHO_REQUEST = 8
ICMP_ECHO_REPLY = 0


def internet_checksum(data: bytes) -> int:
    """RFC 1071 checksum of `data`."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(ident: int, seq: int, payload: bytes = b"pyvs-lab") -> bytes:
    header = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, ident, seq)
    csum = internet_checksum(header + payload)
    return struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, csum, ident, seq) + payload


def is_reply(packet: bytes, ident: int, seq: int) -> bool:
    """True when the raw IPv4 packet is the echo reply to (ident, seq)."""
    if len(packet) < 20:
        return False
    ihl = (packet[0] & 0x0F) * 4
    icmp = packet[ihl:ihl + 8]
    if len(icmp) < 8:
        return False
    kind, _code, _csum, r_ident, r_seq = struct.unpack("!BBHHH", icmp)
    return bool(kind == ICMP_ECHO_REPLY and r_ident == ident and r_seq == seq)


def ping(address: str, count: int = 1, timeout: float = 2.0) -> int:
    """Send `count` echoes to `address`; return how many were answered within `timeout` each."""
    ident = os.getpid() & 0xFFFF
    answered = 0
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        for seq in range(1, count + 1):
            sock.sendto(echo_request(ident, seq), (address, 0))
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                ready, _, _ = select.select([sock], [], [], left)
                if not ready:
                    break
                packet, (source, _port) = sock.recvfrom(65535)
                if source == address and is_reply(packet, ident, seq):
                    answered += 1
                    break
    return answered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pyvs.lab.ping", description=__doc__)
    parser.add_argument("-c", "--count", type=int, default=1)
    parser.add_argument("-W", "--timeout", type=float, default=2.0)
    parser.add_argument("address")
    args = parser.parse_args(argv)
    answered = ping(args.address, args.count, args.timeout)
    print(f"{args.address}: {answered}/{args.count} answered")
    return 0 if answered else 1


if __name__ == "__main__":
    sys.exit(main())
