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
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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
