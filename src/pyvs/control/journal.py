"""A configuration as text, for the change journal.

Before the adapter applies a plan it writes the configuration it is heading
for to a journal; when the apply completes it deletes it. The next writer
that finds a journal (a process was killed halfway) finishes that change
first (replanning mends any partial apply, pyvs.control.plan's rule 3), so
every change is seen whole. This module only turns a Config into JSON text
and back, keeping the order of services and of their real servers.

Rule: pure; `loads(dumps(c)) == c` for every Config.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from pyvs.control.config import Config
from pyvs.model.enums import FwdMethod, Protocol, Scheduler
from pyvs.model.service import RealServer, ServiceKey, VirtualService

VERSION = 1


def dumps(config: Config) -> str:
    text: dict[int, str] = {}  # real servers recur under many services

    def name(address: ipaddress.IPv4Address) -> str:
        found = text.get(int(address))
        if found is None:
            found = text[int(address)] = str(address)
        return found

    services = [{
        "protocol": int(s.key.protocol), "address": str(s.key.address), "port": s.key.port,
        "scheduler": int(s.scheduler), "persistence_timeout": s.persistence_timeout,
        "sched_flags": s.sched_flags, "netmask": str(s.netmask), "one_packet": s.one_packet,
        "reals": [[name(r.address), r.port, r.weight, int(r.fwd)] for r in s.reals],
    } for s in config.values()]
    return json.dumps({"version": VERSION, "services": services}, separators=(",", ":"))


def loads(text: str) -> Config:
    """The Config of dumps(); ValueError when the text is not one."""
    raw: Any = json.loads(text)
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        raise ValueError("not a pyvs configuration journal")
    config: dict[ServiceKey, VirtualService] = {}
    for s in raw["services"]:
        key = ServiceKey(Protocol(s["protocol"]), ipaddress.IPv4Address(s["address"]), int(s["port"]))
        reals = tuple(RealServer(ipaddress.IPv4Address(a), int(p), int(w), FwdMethod(f))
                      for a, p, w, f in s["reals"])
        config[key] = VirtualService(key, Scheduler(s["scheduler"]), s["persistence_timeout"], reals,
                                     int(s.get("sched_flags", 0)),
                                     ipaddress.IPv4Address(s.get("netmask", "255.255.255.255")),
                                     bool(s.get("one_packet", False)))
    return config
