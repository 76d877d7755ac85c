"""`pyvsadm -S | pyvsadm -R` of 10,000 services x 10 real servers, through the commands a
user types, in a namespace of the test's own: what -S prints after the first -R is what it
prints again after -C and a -R of that output, and what the pure renderer makes of the same
rules (every scheduler, persistence with netmasks, one-packet UDP services, weights)."""

from __future__ import annotations

import io
import ipaddress

import pytest

from pyvs.cli.ipvsadm import run
from pyvs.cli.parse import parse
from pyvs.dataplane.memory import MemoryDataplane
from pyvs.lab.commands import pyvsadm_argv
from pyvs.lab.netns import Topology
from pyvs.lab.seed import ensure_bpffs, release_pyvs_state
from pyvs.model.enums import Scheduler

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf]

SERVICES, REALS = 10_000, 10
FIRST_VIP = ipaddress.IPv4Address("10.100.0.1")


def rules() -> str:
    schedulers = [s.label for s in Scheduler if s != Scheduler.MH]  # lb_mh holds 64 mh tables
    lines = []
    for n in range(SERVICES):
        udp = n % 5 == 0
        kind = "-u" if udp else "-t"
        service = f"{FIRST_VIP + n}:{53 if udp else 80}"
        options = f" -s {'mh' if n < 40 else schedulers[n % len(schedulers)]}"
        if n % 3 == 0:
            options += f" -p {60 + n % 7} -M 255.255.255.0" if n % 2 else " -p"
        if udp and n % 2:
            options += " -o"
        lines.append(f"-A {kind} {service}{options}")
        port = 53 if udp else 80
        lines.extend(f"-a {kind} {service} -r 10.3.{3 + r}.{1 + n % 250}:{port} -i -w {(n + r) % 4}"
                     for r in range(REALS))
    return "\n".join(lines) + "\n"


def rendered(text: str) -> str:
    """What pyvsadm -S prints for these rules, by the pure code on a data plane in memory."""
    plane, out = MemoryDataplane(table_size=262144), io.StringIO()
    assert run(parse(["-R"]), plane, stdin=io.StringIO(text), stdout=out, stderr=out) == 0, out.getvalue()
    saved = io.StringIO()
    assert run(parse(["-S", "-n"]), plane, stdout=saved) == 0
    return saved.getvalue()


def test_save_then_restore_gives_the_same_rules_back() -> None:
    text = rules()
    with Topology(prefix="pyvs-sr") as t:
        ns = t.add_namespace("director")
        ensure_bpffs()
        t.on_close(lambda: release_pyvs_state(ns, []))

        def pyvsadm(*args: str, stdin: str | None = None) -> str:
            return ns.run_pyvs([*pyvsadm_argv(), *args], input=stdin, timeout=600).stdout

        pyvsadm("-R", stdin=text)
        first = pyvsadm("-S", "-n")
        assert sum(line.startswith("-A ") for line in first.splitlines()) == SERVICES
        assert sum(line.startswith("-a ") for line in first.splitlines()) == SERVICES * REALS
        assert first == rendered(text)
        pyvsadm("-C")
        assert pyvsadm("-S", "-n") == ""
        pyvsadm("-R", stdin=first)
        assert pyvsadm("-S", "-n") == first
