"""`pyvs director stats`: the data plane's drop and pressure counters, for people and for programs.

render() prints a small aligned table, one row per counter: SECTION COUNTER VALUE.
Every counter of a section is printed, zeros included, so that the rows are the
same from one run to the next (grep-able, diff-able); a section whose program
has no maps pinned in the namespace (the director, the decapsulation) is left
out. as_json() gives one object whose keys never change: "drops" (every reason
of lb_drop_reason but NONE, which nothing counts), "flows" ("entries",
"max_entries"), "icmp" (every lb_icmp_counter: ICMP errors about services' flows
forwarded to their real servers, by type, or passed to the kernel) and "decap"
(every lb_decap_counter), each null when that
program's maps are not pinned. Counter names are the enums' names in lower case.

Rule: pure; the counters come from pyvs.dataplane.xdp.read_stats().
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from enum import IntEnum
from typing import Final, TypeVar

from pyvs.model.enums import DecapCounter, DropReason, IcmpCounter
from pyvs.model.status import DataplaneStats

HEADER: Final = ("SECTION", "COUNTER", "VALUE")
E = TypeVar("E", bound=IntEnum)
_DROP_REASONS: Final = tuple(reason for reason in DropReason if reason is not DropReason.NONE)


def _named(counts: Mapping[E, int], names: Iterable[E]) -> dict[str, int]:
    return {name.name.lower(): counts.get(name, 0) for name in names}


def as_dict(stats: DataplaneStats) -> dict[str, dict[str, int] | None]:
    """The counters by section and name (None: the section's program has no maps here)."""
    director = stats.director
    return {
        "drops": None if director is None else _named(director.drops, _DROP_REASONS),
        "flows": None if director is None else {"entries": director.flows, "max_entries": director.max_flows},
        "icmp": None if director is None else _named(director.icmp, IcmpCounter),
        "decap": None if stats.decap is None else _named(stats.decap, DecapCounter),
    }


def as_json(stats: DataplaneStats) -> str:
    """`--json`: one JSON object, its keys always the same (as_dict())."""
    return json.dumps(as_dict(stats), indent=2) + "\n"


def render(stats: DataplaneStats) -> str:
    """The table: a header, then every counter of each section present, zeros included."""
    rows = [HEADER] + [(section, name, str(value))
                       for section, counters in as_dict(stats).items() if counters is not None
                       for name, value in counters.items()]
    widths = [max(len(row[column]) for row in rows) for column in range(2)]
    value_width = max(len(row[2]) for row in rows)
    return "".join(f"{section:<{widths[0]}}  {name:<{widths[1]}}  {value:>{value_width}}\n"
                   for section, name, value in rows)
