"""Driving a step model of a kernel scheduler and pyvs through the same edits (pure).

`replay()` applies a list of (add|edit|delete, address, weight) steps to a
model of the kernel's scheduler and, as a configuration planned into dict
twins of the maps, to pyvs; it yields the maps after every step that changed
something. `pyvs_pick()` is where pyvs's reference pipeline sends a client.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Protocol as TypingProtocol

from hypothesis import strategies as st

from pyvs.control.plan import plan
from pyvs.dataplane.state import apply, read_state
from pyvs.model import FwdMethod, Protocol, RealServer, Scheduler, ServiceKey, VirtualService
from pyvs.packet import abi
from pyvs.packet.pipeline import RandomU32, schedule
from pyvs.packet.tables import DirectorMaps

IP = ipaddress.IPv4Address
VIP = IP("10.2.2.3")
REALS = [IP(f"10.3.3.{n}") for n in range(3, 9)]

Step = tuple[str, IP, int]


class KernelModel(TypingProtocol):
    def add(self, address: IP, weight: int) -> None: ...
    def edit(self, address: IP, weight: int) -> None: ...
    def delete(self, address: IP) -> None: ...


def edits(weights: list[int], max_size: int) -> st.SearchStrategy[list[Step]]:
    return st.lists(st.tuples(st.sampled_from(["add", "add", "edit", "delete"]), st.sampled_from(REALS),
                              st.sampled_from(weights)), min_size=1, max_size=max_size)


def clients(max_size: int) -> st.SearchStrategy[list[tuple[IP, int]]]:
    return st.lists(st.tuples(st.integers(0, 2**32 - 1).map(IP), st.integers(1, 65535)), min_size=1,
                    max_size=max_size)


def replay(steps: list[Step], model: KernelModel, scheduler: Scheduler, flags: int) -> Iterator[DirectorMaps]:
    key = ServiceKey(Protocol.TCP, VIP, 80)
    reals: list[RealServer] = []  # in the order they were added, as a Config holds them
    maps = DirectorMaps.in_memory(max_services=4, max_reals=64)
    for action, address, weight in steps:
        present = any(r.address == address for r in reals)
        if action == "add" and not present:
            reals.append(RealServer(address, 80, weight, FwdMethod.TUNNEL))
            model.add(address, weight)
        elif action == "edit" and present:
            reals = [RealServer(address, 80, weight, FwdMethod.TUNNEL) if r.address == address else r
                     for r in reals]
            model.edit(address, weight)
        elif action == "delete" and present:
            reals = [r for r in reals if r.address != address]
            model.delete(address)
        else:
            continue
        config = {key: VirtualService(key, scheduler, None, tuple(reals), flags)}
        apply(plan(read_state(maps), config, lambda a: 1), maps)
        yield maps


def pyvs_pick(maps: DirectorMaps, client: IP, sport: int, random_u32: RandomU32 = lambda: 0) -> IP | None:
    """The real server the reference pipeline schedules a new connection from client:sport to
    (twos drawing its numbers from `random_u32`)."""
    state = read_state(maps)
    svc = next(iter(state.services.values()))
    key = abi.FlowKey(saddr=abi.be32(client), daddr=abi.be32(VIP), sport=socket.htons(sport),
                      dport=socket.htons(80), proto=6)
    picked = schedule(maps, svc, key, random_u32)
    return None if picked < 0 else abi.from_be32(state.reals[picked].addr)
