"""The schedulers that read connection counts against step models of the kernel's (pure).

`KernelWalks` keeps the kernel's list of real servers (new ones at the head),
each with its weight, active and inactive connections and overloaded flag, and
picks as ip_vs_lc.c, ip_vs_wlc.c, ip_vs_sed.c, ip_vs_nq.c, ip_vs_fo.c and
ip_vs_ovf.c do, written in their shape (wlc's and sed's two stages, nq's early
return) rather than in pyvs' one walk. The same counts and flags are written
into lb_conns, and pyvs' reference pipeline (conns_pick(), the executable
specification of the BPF walk) must pick the same real server for every edit
and every draw of counts.
"""

from __future__ import annotations

import ctypes
import ipaddress
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyvs.dataplane.state import read_state
from pyvs.model import Scheduler
from pyvs.packet import abi
from pyvs.packet.tables import DirectorMaps
from tests.unit.sched_replay import REALS, Step, edits, pyvs_pick, replay

IP = ipaddress.IPv4Address
U32 = 0xFFFFFFFF


@dataclass(eq=False)  # a real server is itself, whatever its fields (lblc's caches hold them)
class Dest:
    address: IP
    weight: int
    active: int = 0
    inactive: int = 0
    overloaded: bool = False  # IP_VS_DEST_F_OVERLOAD (-x)
    available: bool = True  # IP_VS_DEST_F_AVAILABLE: False once removed (lblc's caches keep it)

    def conn_overhead(self) -> int:  # ip_vs_dest_conn_overhead()
        return ((self.active << 8) + self.inactive) & U32


@dataclass
class KernelWalks:
    dests: list[Dest] = field(default_factory=list)  # head first

    def add(self, address: IP, weight: int) -> None:
        self.dests.insert(0, Dest(address, weight))

    def edit(self, address: IP, weight: int) -> None:
        for dest in self.dests:
            if dest.address == address:
                dest.weight = weight

    def delete(self, address: IP) -> None:
        self.dests = [d for d in self.dests if d.address != address]

    def lc(self) -> Dest | None:
        least, loh = None, 0
        for dest in self.dests:
            if dest.overloaded or dest.weight == 0:
                continue
            doh = dest.conn_overhead()
            if least is None or doh < loh:
                least, loh = dest, doh
        return least

    def _weighted_least(self, overhead: str) -> Dest | None:  # wlc and sed: two stages
        def cost(dest: Dest) -> int:
            return dest.conn_overhead() if overhead == "conn" else dest.active + 1
        first = next((i for i, d in enumerate(self.dests) if not d.overloaded and d.weight > 0), None)
        if first is None:
            return None
        least = self.dests[first]
        loh = cost(least)
        for dest in self.dests[first + 1:]:
            if dest.overloaded:
                continue
            doh = cost(dest)
            if loh * dest.weight > doh * least.weight:
                least, loh = dest, doh
        return least

    def wlc(self) -> Dest | None:
        return self._weighted_least("conn")

    def sed(self) -> Dest | None:
        return self._weighted_least("active")

    def nq(self) -> Dest | None:
        least, loh = None, 0
        for dest in self.dests:
            if dest.overloaded or dest.weight == 0:
                continue
            doh = dest.active + 1
            if dest.active == 0:
                return dest
            if least is None or loh * dest.weight > doh * least.weight:
                least, loh = dest, doh
        return least

    def fo(self) -> Dest | None:
        chosen, highest = None, 0
        for dest in self.dests:
            if not dest.overloaded and dest.weight > highest:
                chosen, highest = dest, dest.weight
        return chosen

    def ovf(self) -> Dest | None:
        chosen, highest = None, 0
        for dest in self.dests:
            weight = dest.weight
            if dest.overloaded or dest.active > weight or weight == 0:
                continue
            if chosen is None or weight > highest:
                chosen, highest = dest, weight
        return chosen

    def twos(self, r1: int, r2: int) -> Dest | None:  # ip_vs_twos.c, with its two random numbers
        choice1 = choice2 = None
        weight1 = weight2 = -1
        overhead1 = overhead2 = total = 0
        for dest in self.dests:
            if not dest.overloaded and dest.weight > 0:
                total += dest.weight
                choice1 = dest
        if choice1 is None:
            return None
        total += 1
        rweight1, rweight2 = r1 % total, r2 % total
        for dest in self.dests:
            if dest.overloaded or dest.weight <= 0:
                continue
            rweight1 -= dest.weight
            rweight2 -= dest.weight
            if rweight1 <= 0 and weight1 == -1:
                choice1, weight1, overhead1 = dest, dest.weight, dest.conn_overhead()
            if rweight2 <= 0 and weight2 == -1:
                choice2, weight2, overhead2 = dest, dest.weight, dest.conn_overhead()
            if weight1 != -1 and weight2 != -1:
                break
        if choice2 is not None and weight2 * overhead1 > weight1 * overhead2:
            choice1 = choice2
        return choice1

    def schedule(self, scheduler: Scheduler, randoms: tuple[int, int] = (0, 0)) -> IP | None:
        dest = self.twos(*randoms) if scheduler == Scheduler.TWOS else getattr(self, scheduler.label)()
        return None if dest is None else dest.address


def write_counts(maps: DirectorMaps, model: KernelWalks) -> None:
    """Put the model's counts and overloaded flags into lb_conns, by real id."""
    state = read_state(maps)
    ids = {abi.from_be32(real.addr): (real_id, real) for real_id, real in state.reals.items()
           if real.svc_id != 0xFFFFFFFF}
    for dest in model.dests:
        real_id, real = ids[dest.address]
        maps.conns.put(ctypes.c_uint32(real_id), abi.Conns(
            active=dest.active, inactive=dest.inactive,
            overload=real.overload_epoch if dest.overloaded else 0))


WALKS = [Scheduler.LC, Scheduler.WLC, Scheduler.SED, Scheduler.NQ, Scheduler.FO, Scheduler.OVF,
         Scheduler.TWOS]
# (active, inactive, overloaded) of each real server in list order: few values, so that ties are many
counts = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 600),
                            st.sampled_from([False, False, False, True])),
                  min_size=len(REALS), max_size=len(REALS))


@pytest.mark.parametrize("scheduler", WALKS, ids=lambda s: s.label)
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(steps=edits([0, 1, 1, 2, 3, 5, 7], 12), draws=st.lists(counts, min_size=1, max_size=3),
       randoms=st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)))
def test_pyvs_picks_as_the_kernel_does(scheduler: Scheduler, steps: list[Step],
                                      draws: list[list[tuple[int, int, bool]]],
                                      randoms: tuple[int, int]) -> None:
    model = KernelWalks()
    for maps in replay(steps, model, scheduler, 0):
        for draw in draws:
            for dest, (active, inactive, overloaded) in zip(model.dests, draw, strict=False):
                dest.active, dest.inactive, dest.overloaded = active, inactive, overloaded
            write_counts(maps, model)
            picked = pyvs_pick(maps, IP("192.0.2.1"), 1000, iter(randoms).__next__)
            assert picked == model.schedule(scheduler, randoms)


def test_wlc_weighs_active_connections_256_times_inactive_ones() -> None:
    """Documented wlc arithmetic: overhead (active << 8) + inactive, divided by weight;
    ties go to the first in list order (the newest real server)."""
    model = KernelWalks()
    maps = list(replay([("add", REALS[0], 1), ("add", REALS[1], 2)], model, Scheduler.WLC, 0))[-1]
    older, newer = model.dests[1], model.dests[0]
    older.active, newer.active = 1, 2  # 256 / 1 against 512 / 2: a tie, the newest wins
    write_counts(maps, model)
    assert pyvs_pick(maps, IP("192.0.2.1"), 1000) == newer.address
    older.inactive = 0
    newer.inactive = 1  # 256 / 1 against 513 / 2: the older now
    write_counts(maps, model)
    assert pyvs_pick(maps, IP("192.0.2.1"), 1000) == older.address


def test_an_overloaded_real_server_gets_nothing_and_none_left_means_none() -> None:
    model = KernelWalks()
    maps = list(replay([("add", REALS[0], 1)], model, Scheduler.WLC, 0))[-1]
    model.dests[0].overloaded = True
    write_counts(maps, model)
    assert pyvs_pick(maps, IP("192.0.2.1"), 1000) is None

