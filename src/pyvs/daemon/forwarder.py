"""The live Python data plane's daemon: `python -m pyvs.daemon.forwarder IFACE [IFACE ...]`.

Started in the background by `pyvs director attach --dataplane python`
(pyvs.dataplane.forwarder_process), in the network namespace it serves. It
writes its pid to --pid-file once it forwards (the sign the starter waits
for), removes it when it exits, and exits cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # until serving starts: unwinds through the clean-up


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pyvs-forwarder", description=__doc__.splitlines()[0])
    parser.add_argument("ifaces", nargs="+", metavar="IFACE")
    parser.add_argument("--pid-file", type=Path, help="written once forwarding, removed on exit")
    parser.add_argument("--sync-interval", type=float, default=0.1, metavar="S",
                        help="how often the nft table follows lb_services (seconds)")
    args = parser.parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_on_signal)
    from pyvs.dataplane import live

    def ready() -> None:
        if args.pid_file is not None:
            temporary = args.pid_file.with_suffix(".tmp")
            temporary.write_text(f"{os.getpid()}\n")
            temporary.replace(args.pid_file)

    try:
        live.run(args.ifaces, sync_interval=args.sync_interval, ready=ready)
    finally:
        if args.pid_file is not None:
            with contextlib.suppress(OSError):
                if args.pid_file.read_text().strip() == str(os.getpid()):
                    args.pid_file.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
