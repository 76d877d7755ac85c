"""rr and wrr as IPVS runs them, unrolled into the sequence of picks.

IPVS keeps a cursor into the service's list of real servers; the list is in
kernel order, newest real server first (ip_vs_ctl adds at the list head).
Both schedulers are periodic, so the data plane needs only one period: the
director advances an atomic position through it for every new flow.

- rr: every real server with weight > 0 once, in list order.
- wrr (ip_vs_wrr.c): a current weight cw starts at the maximum weight mw and
  drops by the weights' gcd after each pass over the list; a pass picks every
  real server whose weight is at least cw. One period is sum(w) / gcd picks.

Periods longer than SCHED_SLOTS are scaled down proportionally (weights
divided, rounded, kept >= 1), which keeps the ratios to within one pick per
real server per period.

When real servers or weights change, IPVS does not start over: rr keeps its
cursor on the last pick, wrr returns to the list head but keeps its current
weight. `state_at` recovers that state from the position counter and
`resume` applies a change to it, giving the position in the new period from
which the sequence goes on exactly as IPVS's would.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pyvs.model.enums import Scheduler

SCHED_SLOTS = 256  # mirrors LB_SCHED_SLOTS in bpf/lb_shared.h (checked by tests/abi)


def schedule_sequence(scheduler: Scheduler, weights: Sequence[int]) -> list[int]:
    """Indices into `weights` (kernel list order) in the order IPVS picks them."""
    live = [i for i, w in enumerate(weights) if w > 0]
    if not live:
        return []
    if scheduler == Scheduler.RR:
        if len(live) > SCHED_SLOTS:
            live = live[:SCHED_SLOTS]
        return live
    return _wrr(_fit(list(weights)))


HEAD = 0xFFFFFFFF  # rr cursor on the list head (no pick yet)


@dataclass(frozen=True, slots=True)
class SchedState:
    """IPVS's scheduler state between picks: rr's cursor, wrr's current weight."""

    cursor: int = HEAD  # rr: id of the real server the cursor is on
    current_weight: int = 0  # wrr: cw

    def encode(self, scheduler: Scheduler) -> int:
        return self.cursor if scheduler == Scheduler.RR else self.current_weight

    @classmethod
    def decode(cls, scheduler: Scheduler, value: int) -> SchedState:
        return cls(cursor=value) if scheduler == Scheduler.RR else cls(current_weight=value)


def state_at(scheduler: Scheduler, reals: Sequence[tuple[int, int]], picks: int,
             start_picks: int, start_state: SchedState) -> SchedState:
    """IPVS's state after `picks` picks, the last change having left it at
    `start_state` with `start_picks` picks counted. `reals` are (id, weight)
    in kernel list order."""
    seq = schedule_sequence(scheduler, [w for _, w in reals])
    if picks == start_picks or not seq:
        return start_state
    last = (picks - 1) % len(seq)
    if scheduler == Scheduler.RR:
        return SchedState(cursor=reals[seq[last]][0])
    weights = [w for _, w in reals]
    if _fit(weights) != _divided(weights):
        return SchedState()  # scaled period: no exact IPVS state, the next change restarts
    return SchedState(current_weight=_wrr_levels(weights)[last])


def resume(scheduler: Scheduler, state: SchedState, old: Sequence[tuple[int, int]],
           new: Sequence[tuple[int, int]]) -> tuple[int, SchedState]:
    """Apply a change of real servers or weights to IPVS's state.

    Returns the index into the new period of the next pick, and the state as
    IPVS holds it right after the change (the next change starts from it
    when no pick happens in between).
    """
    new_seq = schedule_sequence(scheduler, [w for _, w in new])
    if scheduler == Scheduler.RR:
        cursor = _rr_cursor_after(state.cursor, old, new)
        if not new_seq:
            return 0, SchedState(cursor=cursor)
        ids = [real_id for real_id, _ in new]
        start = ids.index(cursor) + 1 if cursor in ids else 0
        position = {new[i][0]: n for n, i in enumerate(new_seq)}
        for real_id in ids[start:] + ids[:start]:
            if real_id in position:
                return position[real_id], SchedState(cursor=cursor)
        return 0, SchedState(cursor=cursor)
    weights = [w for _, w in new]
    if not new_seq:
        return 0, SchedState(current_weight=0)
    if _fit(weights) != _divided(weights):
        return 0, SchedState(current_weight=_wrr_bounds(weights)[0])  # scaled: restart the period
    level = _wrr_adjust(weights, state.current_weight)
    return sum(1 for lv in _wrr_levels(weights) if lv > level), SchedState(current_weight=level)


def _rr_cursor_after(cursor: int, old: Sequence[tuple[int, int]], new: Sequence[tuple[int, int]]) -> int:
    """ip_vs_rr_del_dest: a cursor on a deleted real server steps back to its predecessor."""
    kept = {real_id for real_id, _ in new}
    if cursor == HEAD or cursor in kept:
        return cursor
    ids = [real_id for real_id, _ in old]
    if cursor not in ids:
        return HEAD
    for real_id in reversed(ids[: ids.index(cursor)]):
        if real_id in kept:
            return real_id
    return HEAD


def _divided(weights: list[int]) -> list[int]:
    step = math.gcd(*[w for w in weights if w > 0])
    return [w // step for w in weights]


def _wrr_bounds(weights: Sequence[int]) -> tuple[int, int]:
    """IPVS's (mw, di): the first current weight and its step."""
    positive = [w for w in weights if w > 0]
    step = math.gcd(*positive)
    return max(positive) - (step - 1), step


def _wrr_levels(weights: Sequence[int]) -> list[int]:
    """The current weight at which each pick of one period is made."""
    top, step = _wrr_bounds(weights)
    levels: list[int] = []
    for level in range(top, 0, -step):
        levels.extend(level for w in weights if w >= level and w > 0)
    return levels


def _wrr_adjust(weights: Sequence[int], current: int) -> int:
    """ip_vs_wrr_dest_changed(): the current weight kept across a change."""
    top, step = _wrr_bounds(weights)
    if current > top or current == 0:
        return top
    if step > 1:
        return (current // step) * step + 1
    return current


def _wrr(weights: list[int]) -> list[int]:
    positive = [w for w in weights if w > 0]
    max_weight = max(positive)
    step = math.gcd(*positive)
    picks: list[int] = []
    current = max_weight
    while current > 0:
        picks.extend(i for i, w in enumerate(weights) if w >= current and w > 0)
        current -= step
    return picks


def _fit(weights: list[int]) -> list[int]:
    """Scale weights so that one wrr period fits in SCHED_SLOTS picks."""
    positive = [w for w in weights if w > 0]
    step = math.gcd(*positive)
    weights = [w // step for w in weights]
    total = sum(weights)
    if total <= SCHED_SLOTS:
        return weights
    live = sum(1 for w in weights if w > 0)
    if live > SCHED_SLOTS:
        raise ValueError(f"more than {SCHED_SLOTS} real servers with weight > 0")
    budget = SCHED_SLOTS
    while True:
        scaled = [0 if w == 0 else max(1, round(w * budget / total)) for w in weights]
        if sum(scaled) <= SCHED_SLOTS:
            return scaled
        budget -= 1
