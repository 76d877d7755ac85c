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
    """The JSON text of `config`. Each real server's array is written once and reused
    wherever the same RealServer value recurs (a pool shared by many services): a
    large -R spent more time here than in planning."""
    reals: dict[int, str] = {}  # id(RealServer) -> its JSON array; the objects live in `config`

    def real(r: RealServer) -> str:
        found = reals.get(id(r))
        if found is None:
            found = reals[id(r)] = json.dumps([str(r.address), r.port, r.weight, int(r.fwd),
                                               r.u_threshold, r.l_threshold], separators=(",", ":"))
        return found

    services = []
    for s in config.values():  # numbers, null, true/false and dotted quads: nothing to escape
        timeout = "null" if s.persistence_timeout is None else int(s.persistence_timeout)
        services.append(
            f'{{"protocol":{int(s.key.protocol)},"address":"{s.key.address}","port":{int(s.key.port)},'
            f'"scheduler":{int(s.scheduler)},"persistence_timeout":{timeout},'
            f'"sched_flags":{int(s.sched_flags)},"netmask":"{s.netmask}",'
            f'"one_packet":{"true" if s.one_packet else "false"},'
            f'"reals":[{",".join(real(r) for r in s.reals)}]}}')
    return f'{{"version":{VERSION},"services":[{",".join(services)}]}}'


def loads(text: str) -> Config:
    """The Config of dumps(); ValueError when the text is not one."""
    raw: Any = json.loads(text)
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        raise ValueError("not a pyvs configuration journal")
    config: dict[ServiceKey, VirtualService] = {}
    for s in raw["services"]:
        key = ServiceKey(Protocol(s["protocol"]), ipaddress.IPv4Address(s["address"]), int(s["port"]))
        reals = tuple(RealServer(ipaddress.IPv4Address(r[0]), int(r[1]), int(r[2]), FwdMethod(r[3]),
                                 *(int(t) for t in r[4:6]))
                      for r in s["reals"])
        config[key] = VirtualService(key, Scheduler(s["scheduler"]), s["persistence_timeout"], reals,
                                     int(s.get("sched_flags", 0)),
                                     ipaddress.IPv4Address(s.get("netmask", "255.255.255.255")),
                                     bool(s.get("one_packet", False)))
    return config
