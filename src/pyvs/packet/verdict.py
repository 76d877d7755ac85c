"""What the pipeline decides for one frame, as the XDP program would."""

from __future__ import annotations

from dataclasses import dataclass

from pyvs.model.enums import Action, DropReason


@dataclass(frozen=True, slots=True)
class Verdict:
    """The XDP action, the frame as the program leaves it, and why it was dropped.

    `frame` is the frame after the program's changes, whatever the action (as
    BPF_PROG_TEST_RUN returns it). `ifindex` is the target of a REDIRECT.
    `reason` is set for drops, and for the one TX that answers instead of
    forwarding: ICMP "fragmentation needed" (FRAG_NEEDED).
    """

    action: Action
    frame: bytes
    reason: DropReason | None = None
    ifindex: int | None = None
