"""Schedulers: pure functions from a service's real servers to what the data path walks.

Each scheduler is one of these kinds, by what the data path needs of it:

- a sequence (rr, wrr; sequence.py): one period of the kernel's picks, walked
  by a position that every new connection advances;
- a table (sh, dh; table.py): the kernel's 256 buckets of real servers, into
  which every new connection is hashed;
- a walk over connection counts (lc, wlc, sed, nq, fo, ovf, twos; lblc and lblcr
  with their caches in lb_lblc): the real servers
  in kernel list order, which the data path walks for every new connection,
  reading each one's weight and its counts in lb_conns (conns_pick() in
  bpf/walks.h; lblc and lblcr in bpf/lblc.h), as the kernel's ip_vs_<name>_schedule() walks its list.

Each fills one bank of lb_sched with real server indices (`slots`); only the
sequences carry state from one change to the next (`state_at`, `resume`).
mh (mh.py) needs the real servers' addresses and last weights, and a table
of its own size in lb_mh: the planner builds it with mh_table().
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pyvs.model.enums import Scheduler, SvcFlag
from pyvs.sched.sequence import SCHED_SLOTS, SchedState, resume, schedule_sequence, state_at
from pyvs.sched.table import dh_table, fallback, sh_table

SEQUENCES: Final = frozenset({Scheduler.RR, Scheduler.WRR})
# The schedulers that read connection counts: their bank is the list itself.
WALKS: Final = frozenset({Scheduler.LC, Scheduler.WLC, Scheduler.SED, Scheduler.NQ, Scheduler.FO,
                          Scheduler.OVF, Scheduler.TWOS, Scheduler.LBLC, Scheduler.LBLCR})


def slots(scheduler: Scheduler, weights: Sequence[int], flags: int = 0) -> list[int]:
    """What one bank of lb_sched holds for `scheduler` (and its -b `flags`):
    indices into `weights` (the real servers in kernel list order, newest
    first). ValueError when the real servers cannot be scheduled."""
    if scheduler == Scheduler.SH:
        table = sh_table(weights)
        return fallback(table, weights) if flags & SvcFlag.SCHED1 else table
    if scheduler == Scheduler.DH:
        return dh_table(len(weights))
    if scheduler in WALKS:
        if len(weights) > SCHED_SLOTS:
            raise ValueError(f"the {scheduler.label} scheduler takes at most {SCHED_SLOTS} real servers")
        return list(range(len(weights)))
    return schedule_sequence(scheduler, weights)


__all__ = ["SCHED_SLOTS", "SEQUENCES", "WALKS", "SchedState", "resume", "schedule_sequence", "slots",
           "state_at"]
