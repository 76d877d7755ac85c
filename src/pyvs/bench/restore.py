"""Control plane: how long `pyvsadm -R` takes to load many services.

Each sample restores a fresh director (its own namespace, so its own pinned
maps) from an ipvsadm rule file: S services `-A -t VIP:80 -s rr`, each with
the same 10 real servers `-a -t VIP:80 -r REAL -i`, as a site with many VIPs
on one pool of real servers would write it. The time is the whole command,
process start included, as a user would see it. Baseline: `pyvsadm -R` with an
empty rule file in the same kind of namespace (start-up and opening the maps,
which exist already in every case, as on a director that is attached).
"""

from __future__ import annotations

import ipaddress
import time

from pyvs.bench.runner import Figure, Options
from pyvs.lab.commands import pyvsadm_argv
from pyvs.lab.netns import Topology
from pyvs.lab.seed import ensure_bpffs, release_pyvs_state

SECTION = "control plane"
REALS_PER_SERVICE = 10
BASELINE = "pyvsadm -R, empty input"
FIRST_VIP = ipaddress.IPv4Address("10.100.0.1")


def rules(services: int, reals: int = REALS_PER_SERVICE) -> str:
    """The -R input: `services` TCP services on distinct VIPs, each with `reals` real servers."""
    lines = []
    for s in range(services):
        service = f"{FIRST_VIP + s}:80"
        lines.append(f"-A -t {service} -s rr")
        lines.extend(f"-a -t {service} -r 10.3.{3 + r // 250}.{3 + r % 250}:80 -i -w 1"
                     for r in range(reals))
    return "\n".join(lines) + "\n"


def time_restore(text: str, *, expect_services: int) -> float:
    """Seconds that `pyvsadm -R < text` takes on an empty director in a new namespace."""
    with Topology(prefix="pyvs-bench") as t:
        ns = t.add_namespace("director")
        ensure_bpffs()
        t.on_close(lambda: release_pyvs_state(ns, []))
        # The director's maps exist before the rules arrive, as on a director
        # that is attached: the time is the rules', not the program's load.
        ns.run_pyvs([*pyvsadm_argv(), "-L", "-n"], timeout=60)
        start = time.perf_counter()
        ns.run_pyvs([*pyvsadm_argv(), "-R"], input=text, timeout=600)
        elapsed = time.perf_counter() - start
        listing = ns.run_pyvs([*pyvsadm_argv(), "-S", "-n"], timeout=600).stdout
        got = sum(1 for line in listing.splitlines() if line.startswith("-A "))
        if got != expect_services:
            raise RuntimeError(f"pyvsadm -R loaded {got} services, not {expect_services}")
        return elapsed


def run(options: Options) -> list[Figure]:
    counts = (100,) if options.smoke else (1_000, 10_000)
    texts = {0: "", **{n: rules(n) for n in counts}}
    samples: dict[int, list[float]] = {n: [] for n in texts}
    for _ in range(options.reps):  # round-robin, so a drifting machine shifts every figure alike
        for n, text in texts.items():
            samples[n].append(time_restore(text, expect_services=n))
    figures = [Figure(SECTION, BASELINE, "s", samples[0])]
    for n in counts:
        n_rules = n * (1 + REALS_PER_SERVICE)
        name = f"pyvsadm -R: {n:,} services x {REALS_PER_SERVICE} real servers"
        figure = Figure(SECTION, name, "s", samples[n], baseline=BASELINE, note=f"{n_rules:,} rules")
        figure.extra["us_per_rule"] = 1e6 * figure.median / n_rules
        figures.append(figure)
    return figures
