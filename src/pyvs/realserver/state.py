"""What `pyvs realserver up` changed, saved so that `down` can undo exactly that.

One JSON file per network namespace, /run/pyvs/realserver-<netns inode>.json.
Inode numbers of deleted namespaces get reused, so the file also records the
namespace's cookie (SO_NETNS_COOKIE, unique until reboot); a file whose cookie
differs from the current namespace's belongs to a namespace that is gone and
is ignored.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_DIR = Path("/run/pyvs")


@dataclass(slots=True)
class RealServerState:
    """Changes made by `up`, each with what to restore."""

    netns_inode: int
    netns_cookie: int | None
    mode: str  # DecapMode value
    iface: str
    vips: list[str] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)  # /proc/sys path -> previous value, in order set
    addresses: list[list[str]] = field(default_factory=list)  # [device, cidr] pairs added
    links_up: list[str] = field(default_factory=list)  # devices brought up
    decap_attached: bool = False
    decap_mode: str = ""  # "native" or "generic" XDP, once attached
    decap_previous: dict[str, list[str]] | None = None  # decap config before `up`, if there was one
    mss: int | None = None  # the MSS clamp `up` was asked for; None: none (`--mss off`)
    mss_table: bool = False  # whether the clamp's nft table is there, for `down` to remove

    def is_empty(self) -> bool:
        return not (self.sysctls or self.addresses or self.links_up or self.decap_attached or self.mss_table)


def state_path(netns_inode: int, directory: Path = STATE_DIR) -> Path:
    return directory / f"realserver-{netns_inode}.json"


def load_state(path: Path, netns_cookie: int | None) -> RealServerState | None:
    """The saved state, or None when there is none or it belongs to a deleted namespace."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    state = RealServerState(**raw)
    if netns_cookie is not None and state.netns_cookie not in (None, netns_cookie):
        return None
    return state


def save_state(path: Path, state: RealServerState) -> None:
    """Write atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2) + "\n")
    tmp.replace(path)


def remove_state(path: Path) -> None:
    path.unlink(missing_ok=True)
