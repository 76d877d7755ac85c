"""Control plane: packets lost while weights change under a steady UDP flood (must be 0).

The seed lab with the XDP director and two real servers, a UDP service
`-A -u 10.2.2.3:9000 -s wrr` over both; the generator (pyvs.lab.udpgen) sends
FLOOD_PPS 64-byte frames per second from SOURCES source ports, a rate the path
takes without loss. Each repetition:

1. "weight changes under flood": the flood starts, EDITS commands
   `pyvsadm -e -u VIP:9000 -r REAL -w W -i` run one after the other (the
   first real server's weight goes round 0..3, 0 quiescing it; the second's
   round 1..5, so the weights are never all zero), the flood stops;
2. "steady flood, no changes" (the baseline): the same flood for as long
   as step 1 took, with no command.

Lost = frames sent - frames that reached the two real servers' UDP layer
after decapsulation, counted once the path has drained (see
pyvs.bench.packet_rate for how). The generator walks SOURCES source ports and,
each time they wrap, the next of ADDRS source addresses (10.1.1.1 on): at
FLOOD_PPS that is 2.5 million distinct flows, about 50 s, so during the edits
nearly every frame is a new flow that the scheduler places while its tables
are being swapped. Both figures are normally 0, and 0/0 has no ratio (the
table shows "-"); `extra` has sent, received, the pyvs drop counters and the
time the edits took.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator

from pyvs.bench.packet_rate import (
    PORT,
    Sample,
    measure,
    pyvs_lab,
    send,
    start_flood,
    stop_flood,
    summary,
    warm_up,
)
from pyvs.bench.runner import Figure, Options
from pyvs.lab.seed import VIP, SeedLab, ensure_bpffs

SECTION = "control plane"
BASELINE = "steady flood, no changes"
NAME = "weight changes under flood"
UNIT = "packets lost"
EDITS = 100
SMOKE_EDITS = 10
FLOOD_PPS = 50_000
SOURCES = 10_000
ADDRS = 250  # 10.1.1.1 .. 10.1.1.250: the router's 10.1.1.254 stays out
SETTLE = 0.5  # seconds of flood before the first edit and after the last one


def edits(count: int, reals: list[str]) -> Iterator[tuple[str, int]]:
    """(real server, weight) of each edit, alternating between the two real servers."""
    for i in range(count):
        if i % 2 == 0:
            yield reals[0], (i // 2) % 4  # 0 quiesces it; the other one keeps a weight
        else:
            yield reals[1], 1 + (i // 2) % 5


def flood_with_edits(lab: SeedLab, count: int, timings: list[float]) -> tuple[int, float]:
    """Start the flood, apply `count` weight edits, stop it; (frames sent, seconds)."""
    proc = start_flood(lab, pps=FLOOD_PPS, sources=SOURCES, addrs=ADDRS)
    try:
        time.sleep(SETTLE)
        start = time.monotonic()
        for real, weight in edits(count, lab.real_addresses):
            lab.pyvsadm("-e", "-u", f"{VIP}:{PORT}", "-r", real, "-w", str(weight), "-i")
        timings.append(time.monotonic() - start)
        time.sleep(SETTLE)
    except BaseException:
        proc.stop()
        raise
    return stop_flood(proc)


def run(options: Options) -> list[Figure]:
    reps = 1 if options.smoke else options.reps
    count = SMOKE_EDITS if options.smoke else EDITS
    ensure_bpffs()
    changed: list[Sample] = []
    steady: list[Sample] = []
    timings: list[float] = []
    with pyvs_lab("xdp", reals=2, scheduler="wrr", weights=[1, 1]) as lab:
        warm_up(lab)
        for _ in range(reps):
            changed.append(measure(lab, lambda: flood_with_edits(lab, count, timings)))
            seconds = changed[-1].seconds
            steady.append(measure(lab, functools.partial(send, lab, seconds=seconds, pps=FLOOD_PPS,
                                                         sources=SOURCES, addrs=ADDRS)))
    setting = (f"{FLOOD_PPS / 1000:g} kpps offered, new flows ({SOURCES} ports x {ADDRS} addresses), "
               "2 real servers, wrr")
    base_extra = {**summary(steady), "offered_pps": FLOOD_PPS, "sources": SOURCES, "addrs": ADDRS}
    edit_extra = {**summary(changed), "offered_pps": FLOOD_PPS, "sources": SOURCES, "addrs": ADDRS,
                  "edits": count,
                  "edit_seconds": [round(t, 3) for t in timings],
                  "steady_lost": [s.lost for s in steady]}
    return [
        Figure(SECTION, BASELINE, UNIT, [float(s.lost) for s in steady], note=setting, extra=base_extra),
        Figure(SECTION, NAME, UNIT, [float(s.lost) for s in changed], baseline=BASELINE,
               note=f"{count} pyvsadm -e edits, {setting}", extra=edit_extra),
    ]
