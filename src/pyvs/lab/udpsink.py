"""A UDP sink that counts what arrives: the receiving end of the lab's UDP floods and tests.

Run as `python -m pyvs.lab.udpsink --port PORT [--bind ADDR]`. It prints
"listening on ADDR:PORT" once bound, counts datagrams and bytes until SIGTERM
or SIGINT, then prints "received COUNT datagrams BYTES bytes in SPAN s" and
exits 0; SPAN is the time from the first datagram to the last, so COUNT/SPAN
is the rate at which they arrived.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import time
from collections.abc import Sequence
from types import FrameType


class _Stop(Exception):
    pass


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise _Stop


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="udpsink", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bind", default="0.0.0.0")
    args = parser.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind((args.bind, args.port))
    count = total = 0
    first = last = 0.0
    buffer = bytearray(65536)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop)
    print(f"listening on {args.bind}:{args.port}", flush=True)
    try:
        total += sock.recv_into(buffer)
        count += 1
        first = last = time.monotonic()
        while True:
            total += sock.recv_into(buffer)
            count += 1
            last = time.monotonic()
    except _Stop:
        pass
    finally:
        sock.close()
    print(f"received {count} datagrams {total} bytes in {last - first:.3f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
