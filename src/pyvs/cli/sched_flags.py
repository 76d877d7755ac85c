"""ipvsadm -b: scheduler flags as words, both ways (parse_sched_flags(), print_sched_flags()).

The kernel keeps three bits (IP_VS_SVC_F_SCHED1..3); their names depend on
the scheduler: sh-fallback and sh-port for sh, mh-fallback and mh-port for
mh, flag-1..flag-3 for any scheduler. A word named after a scheduler is
refused for another one, which ipvsadm checks against the -s given on the
same command line (its default, wlc, when there is none).
"""

from __future__ import annotations

from typing import Final

from pyvs.cli.errors import CliError
from pyvs.model.enums import SvcFlag

# word -> (bit, the only scheduler it goes with, or None for any)
_WORDS: Final[dict[str, tuple[SvcFlag, str | None]]] = {
    "flag-1": (SvcFlag.SCHED1, None),
    "flag-2": (SvcFlag.SCHED2, None),
    "flag-3": (SvcFlag.SCHED3, None),
    "sh-fallback": (SvcFlag.SCHED1, "sh"),
    "sh-port": (SvcFlag.SCHED2, "sh"),
    "mh-fallback": (SvcFlag.SCHED1, "mh"),
    "mh-port": (SvcFlag.SCHED2, "mh"),
}
_ARGUMENT_MAX: Final = 127  # ipvsadm copies -b's argument into a 128-byte buffer


def parse_sched_flags(scheduler: str, text: str) -> int:
    """The bits of `text` ("sh-fallback,sh-port"), for the -s name `scheduler`."""
    flags = 0
    for word in text[:_ARGUMENT_MAX].split(","):
        if not word:
            continue  # strtok() skips empty fields
        found = _WORDS.get(word)
        if found is None:
            raise CliError(f"invalid scheduler flag `{word}'")
        bit, only = found
        if only is not None and only != scheduler:
            raise CliError(f"incompatible scheduler flag `{word}'")
        flags |= bit
    return flags


def sched_flags_words(scheduler: str, flags: int) -> str:
    """print_sched_flags(): the words of the bits set, as ipvsadm names them for `scheduler`."""
    prefix = scheduler if scheduler in ("sh", "mh") else None
    names = [word for word, (bit, only) in _WORDS.items() if only == prefix and flags & bit]
    return ",".join(names)
