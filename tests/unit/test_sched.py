"""rr and wrr against an independent model of IPVS's own schedulers.

`IpvsModel` follows ip_vs_rr.c and ip_vs_wrr.c step by step: a list of
destinations with new ones added at the head, rr's cursor (moved to the
predecessor when its destination is deleted), wrr's (cl, cw, mw, di) and
ip_vs_wrr_dest_changed(). pyvs instead unrolls one period and resumes it
after changes; hypothesis drives both through the same edits and compares
every pick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from pyvs.model.enums import Scheduler
from pyvs.sched import SCHED_SLOTS, SchedState, resume, schedule_sequence, state_at


@dataclass
class IpvsModel:
    scheduler: Scheduler
    dests: list[list[int]] = field(default_factory=list)  # [id, weight], list order (head first)
    cursor: int | None = None  # rr: id of the last pick; wrr: id of cl (None = list head)
    cw: int = 0
    mw: int = 0
    di: int = 1

    def _bounds(self) -> None:
        positive = [w for _, w in self.dests if w > 0]
        self.di = math.gcd(*positive) if positive else 1
        self.mw = (max(positive) - (self.di - 1)) if positive else 0

    def init(self) -> None:
        self.cursor = None
        self._bounds()
        self.cw = self.mw

    def changed(self) -> None:
        if self.scheduler == Scheduler.WRR:
            self.cursor = None
            self._bounds()
            if self.cw > self.mw or not self.cw:
                self.cw = self.mw
            elif self.di > 1:
                self.cw = (self.cw // self.di) * self.di + 1

    def add(self, real_id: int, weight: int) -> None:
        self.dests.insert(0, [real_id, weight])
        self.changed()

    def edit(self, real_id: int, weight: int) -> None:
        for d in self.dests:
            if d[0] == real_id:
                d[1] = weight
        self.changed()

    def delete(self, real_id: int) -> None:
        index = [d[0] for d in self.dests].index(real_id)
        if self.scheduler == Scheduler.RR and self.cursor == real_id:
            self.cursor = self.dests[index - 1][0] if index > 0 else None
        del self.dests[index]
        self.changed()

    def pick(self) -> int | None:
        ids = [d[0] for d in self.dests]
        start = ids.index(self.cursor) + 1 if self.cursor in ids else 0
        if self.scheduler == Scheduler.RR:
            order = ids[start:] + ids[:start]
            for real_id in order:
                if self.dests[ids.index(real_id)][1] > 0:
                    self.cursor = real_id
                    return real_id
            return None
        if self.mw == 0:
            return None
        i = start
        while True:
            if i == len(ids):
                i = 0
                self.cw -= self.di
                if self.cw <= 0:
                    self.cw = self.mw
            if self.dests[i][1] >= self.cw and self.dests[i][1] > 0:
                self.cursor = ids[i]
                return ids[i]
            i += 1


@dataclass
class PyvsModel:
    """What pyvs does: a period, a position counter, and the state saved at each change."""

    scheduler: Scheduler
    dests: list[tuple[int, int]] = field(default_factory=list)
    picks: int = 0
    start_picks: int = 0
    start_state: SchedState = field(default_factory=SchedState)

    def _apply(self, new: list[tuple[int, int]]) -> None:
        state = state_at(self.scheduler, self.dests, self.picks, self.start_picks, self.start_state)
        self.picks, self.start_state = resume(self.scheduler, state, self.dests, new)
        self.start_picks = self.picks
        self.dests = new

    def add(self, real_id: int, weight: int) -> None:
        self._apply([(real_id, weight), *self.dests])

    def edit(self, real_id: int, weight: int) -> None:
        self._apply([(i, weight if i == real_id else w) for i, w in self.dests])

    def delete(self, real_id: int) -> None:
        self._apply([(i, w) for i, w in self.dests if i != real_id])

    def pick(self) -> int | None:
        seq = schedule_sequence(self.scheduler, [w for _, w in self.dests])
        if not seq:
            return None
        real_id = self.dests[seq[self.picks % len(seq)]][0]
        self.picks += 1
        return real_id


edits = st.lists(st.tuples(st.sampled_from(["add", "edit", "delete", "pick"]),
                           st.integers(0, 7), st.integers(0, 6), st.integers(1, 9)), max_size=40)


@settings(max_examples=400, deadline=None)
@given(scheduler=st.sampled_from([Scheduler.RR, Scheduler.WRR]), steps=edits)
def test_picks_match_ipvs_through_any_edits(scheduler: Scheduler,
                                            steps: list[tuple[str, int, int, int]]) -> None:
    ipvs, pyvs = IpvsModel(scheduler), PyvsModel(scheduler)
    ipvs.init()
    for op, real_id, weight, picks in steps:
        present = real_id in [d[0] for d in ipvs.dests]
        if op == "add" and not present:
            ipvs.add(real_id, weight)
            pyvs.add(real_id, weight)
        elif op == "edit" and present:
            ipvs.edit(real_id, weight)
            pyvs.edit(real_id, weight)
        elif op == "delete" and present:
            ipvs.delete(real_id)
            pyvs.delete(real_id)
        elif op == "pick":
            assert [ipvs.pick() for _ in range(picks)] == [pyvs.pick() for _ in range(picks)]


def test_wrr_period_is_sum_of_weights_over_gcd() -> None:
    assert schedule_sequence(Scheduler.WRR, [3, 1]) == [0, 0, 0, 1]
    assert schedule_sequence(Scheduler.WRR, [1, 3]) == [1, 1, 0, 1]
    assert schedule_sequence(Scheduler.WRR, [4, 2]) == [0, 0, 1]
    assert schedule_sequence(Scheduler.WRR, [0, 5]) == [1]


def test_rr_skips_quiescent_real_servers() -> None:
    assert schedule_sequence(Scheduler.RR, [1, 0, 7]) == [0, 2]
    assert schedule_sequence(Scheduler.RR, [0, 0]) == []


def test_long_wrr_periods_are_scaled_to_fit_keeping_ratios() -> None:
    seq = schedule_sequence(Scheduler.WRR, [1000, 3, 7])
    assert len(seq) <= SCHED_SLOTS
    counts = [seq.count(i) for i in range(3)]
    assert counts[1] >= 1 and counts[2] >= 1
    assert abs(counts[0] / len(seq) - 1000 / 1010) < 0.01
