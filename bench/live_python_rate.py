#!/usr/bin/env python3
"""The live Python data plane's packet rate, measured with a counted UDP flood.

In the seed lab (one real server) the director gets a UDP service
10.2.2.3:9000 -> 10.3.3.3; the client sends small datagrams (18 bytes of
payload) from many source ports (so many flows) for --seconds; a sink on the
real server (which holds the VIP: `pyvs realserver up`) counts what arrives
and when. For each data plane it prints what was sent, what arrived, and the
rate at which it arrived (datagrams / time from the first to the last one).
With both data planes (the default) XDP is the baseline measured in the same
run, and the python/xdp ratio is printed; the sender is one Python process,
so the XDP figure is bounded by the sender, not by XDP.

Run as root from the repository:
    python3 bench/live_python_rate.py [--seconds 5] [--sources 256] [--dataplane python ...]
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from pyvs.lab.commands import python_module_argv, pyvs_env  # noqa: E402
from pyvs.lab.seed import DATAPLANES, VIP, ensure_bpffs, seed_topology, wait_for_log  # noqa: E402

PORT = 9000


@dataclass(frozen=True)
class Measurement:
    dataplane: str
    sent: int
    send_seconds: float
    received: int
    arrival_seconds: float

    @property
    def pps(self) -> float:
        return self.received / self.arrival_seconds if self.arrival_seconds else 0.0

    @property
    def sent_pps(self) -> float:
        return self.sent / self.send_seconds if self.send_seconds else 0.0


def measure(dataplane: str, seconds: float, sources: int, size: int) -> Measurement:
    with seed_topology(reals=1, services=False, dataplane=dataplane) as lab:
        lab.pyvsadm("-A", "-u", f"{VIP}:{PORT}", "-s", "rr")
        lab.pyvsadm("-a", "-u", f"{VIP}:{PORT}", "-r", lab.real_addresses[0], "-i")
        time.sleep(0.5)  # the python forwarder's nft table follows lb_services every 0.1 s
        sink_argv = [*python_module_argv("pyvs.lab.udpsink"), "--port", str(PORT)]
        sink = lab.topology.start(lab.reals[0], sink_argv, name="udpsink")
        wait_for_log(sink, "listening on")
        argv = [*python_module_argv("pyvs.lab.udpflood"), VIP, str(PORT), "--seconds", f"{seconds:g}",
                "--sources", str(sources), "--size", str(size)]
        flood = lab.client.run(argv, env=pyvs_env(), timeout=seconds + 60)
        sent_match = re.search(r"sent (\d+) datagrams in ([\d.]+) s", flood.stdout)
        if sent_match is None:
            raise RuntimeError(f"udpflood: {flood.stdout} {flood.stderr}")
        time.sleep(3.0)  # what the forwarder still holds in its socket buffer arrives meanwhile
        sink.stop(signal.SIGINT)
        got = re.search(r"received (\d+) datagrams \d+ bytes in ([\d.]+) s", sink.output())
        if got is None:
            raise RuntimeError(f"udpsink: {sink.output()}")
        return Measurement(dataplane, int(sent_match[1]), float(sent_match[2]), int(got[1]), float(got[2]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="how long the client sends")
    parser.add_argument("--sources", type=int, default=256, help="source ports (flows)")
    parser.add_argument("--size", type=int, default=18, help="UDP payload bytes")
    parser.add_argument("--dataplane", action="append", choices=DATAPLANES,
                        help="data plane to measure (repeatable; default: python, then xdp)")
    args = parser.parse_args()
    ensure_bpffs()
    results = [measure(d, args.seconds, args.sources, args.size) for d in args.dataplane or ["python", "xdp"]]
    print(f"{'dataplane':<10} {'sent':>10} {'sent pps':>10} {'received':>10} {'lost':>7} {'pps':>10}")
    for m in results:
        lost = 100.0 * (m.sent - m.received) / m.sent if m.sent else 0.0
        print(f"{m.dataplane:<10} {m.sent:>10} {m.sent_pps:>10.0f} {m.received:>10} {lost:>6.1f}% "
              f"{m.pps:>10.0f}")
    by_plane = {m.dataplane: m for m in results}
    if "python" in by_plane and "xdp" in by_plane and by_plane["xdp"].pps:
        print(f"python/xdp: {by_plane['python'].pps / by_plane['xdp'].pps:.3f} "
              "(xdp bounded by the Python sender)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
