"""Schedulers: pure functions from a service's real servers to the sequence the data plane walks."""

from pyvs.sched.sequence import SCHED_SLOTS, SchedState, resume, schedule_sequence, state_at

__all__ = ["SCHED_SLOTS", "SchedState", "resume", "schedule_sequence", "state_at"]
