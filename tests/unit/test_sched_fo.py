"""fo against a step model of ip_vs_fo.c (pure): the first real server of the highest weight.

`KernelFo` keeps the kernel's list (new real servers at the head) and picks as
ip_vs_fo_schedule() does: the first one, in list order, whose weight is above
every weight before it (none is overloaded: pyvs has no thresholds yet).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from hypothesis import given, settings

from pyvs.model import Scheduler
from pyvs.sched import fo_pick
from tests.unit.sched_replay import Step, clients, edits, pyvs_pick, replay

IP = ipaddress.IPv4Address


@dataclass
class KernelFo:
    dests: list[list[object]] = field(default_factory=list)  # [address, weight], head first

    def add(self, address: IP, weight: int) -> None:
        self.dests.insert(0, [address, weight])

    def edit(self, address: IP, weight: int) -> None:
        for dest in self.dests:
            if dest[0] == address:
                dest[1] = weight

    def delete(self, address: IP) -> None:
        self.dests = [d for d in self.dests if d[0] != address]

    def schedule(self) -> IP | None:
        chosen, highest = None, 0
        for address, weight in self.dests:
            if int(weight) > highest:  # type: ignore[call-overload]
                chosen, highest = address, int(weight)  # type: ignore[call-overload]
        return chosen  # type: ignore[return-value]


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(steps=edits([0, 1, 1, 2, 3, 3, 7], 12), probes=clients(3))
def test_pyvs_fails_over_as_the_kernel_does(steps: list[Step], probes: list[tuple[IP, int]]) -> None:
    model = KernelFo()
    for maps in replay(steps, model, Scheduler.FO, 0):
        for client, sport in probes:
            assert pyvs_pick(maps, client, sport) == model.schedule()


def test_fo_takes_the_first_of_the_highest_weight_in_list_order() -> None:
    assert fo_pick([1, 3, 2, 3]) == [1]
    assert fo_pick([0, 0]) == []
    assert fo_pick([]) == []
