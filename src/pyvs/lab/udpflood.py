"""A counted UDP flood: small datagrams from many source ports to one address and port.

Run as `python -m pyvs.lab.udpflood ADDRESS PORT [--seconds S] [--sources N]
[--size BYTES] [--no-df]`. It sends for S seconds, cycling over N sockets
(N source ports, so N flows), and prints "sent COUNT datagrams in SECONDS s".
With --count it sends exactly COUNT datagrams instead (--seconds is then a limit).
"""

from __future__ import annotations

import argparse
import errno
import socket
import sys
import time
from collections.abc import Sequence

IP_MTU_DISCOVER = 10  # linux/in.h (Python 3.11 does not name it)
IP_PMTUDISC_DONT = 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="udpflood", description=__doc__.splitlines()[0])
    parser.add_argument("address")
    parser.add_argument("port", type=int)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--sources", type=int, default=256, help="source ports (flows)")
    parser.add_argument("--size", type=int, default=18, help="UDP payload bytes")
    parser.add_argument("--count", type=int, help="send exactly this many datagrams")
    parser.add_argument("--no-df", action="store_true", help="clear DF (IP_PMTUDISC_DONT)")
    args = parser.parse_args(argv)
    sockets = []
    for _ in range(args.sources):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if args.no_df:
            sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
        sock.connect((args.address, args.port))
        sockets.append(sock)
    payload = b"p" * args.size
    sent = attempts = 0
    start = time.monotonic()
    deadline = start + args.seconds
    limit = args.count if args.count is not None else 1 << 62
    while sent < limit:
        attempts += 1
        if attempts % 1024 == 0 and time.monotonic() >= deadline:
            break
        try:
            sockets[attempts % len(sockets)].send(payload)
        except OSError as exc:
            if exc.errno not in (errno.ENOBUFS, errno.EAGAIN, errno.ECONNREFUSED):
                raise
            continue
        sent += 1
    elapsed = time.monotonic() - start
    for sock in sockets:
        sock.close()
    print(f"sent {sent} datagrams in {elapsed:.3f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
