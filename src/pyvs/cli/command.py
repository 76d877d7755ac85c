"""pyvsadm's commands and options, and which options each command takes.

LEGALITY has the shape of ipvsadm's commands_v_options table, restricted to
the commands and options pyvs implements; its columns keep ipvsadm's order,
because ipvsadm reports the first offending column. check_legality() is
ipvsadm's generic_opt_check(), with its messages word for word.

Rule: pure data and checks; argv parsing lives in parse.py, execution in
edit.py and ipvsadm.run().
"""

from __future__ import annotations

import enum
import functools
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from pyvs.cli.errors import CliError
from pyvs.model.enums import FwdMethod
from pyvs.model.service import ServiceKey

DEFAULT_SCHEDULER: Final = "wlc"  # ipvsadm's DEF_SCHED, used when -s is absent


class Cmd(enum.Enum):
    """A pyvsadm command; the value is ipvsadm's name for it in messages."""

    ADD_SERVICE = "add-service"
    EDIT_SERVICE = "edit-service"
    DELETE_SERVICE = "delete-service"
    FLUSH = "flush"
    LIST = "list"
    ADD_SERVER = "add-server"
    DELETE_SERVER = "delete-server"
    EDIT_SERVER = "edit-server"
    SET_TIMEOUTS = "set"
    START_DAEMON = "start-daemon"
    STOP_DAEMON = "stop-daemon"
    RESTORE = "restore"
    SAVE = "save"
    ZERO = "zero"
    HELP = "help"
    VERSION = "version"

    @property
    def needs_dataplane(self) -> bool:
        return self not in (Cmd.HELP, Cmd.VERSION)

    @property
    def edits(self) -> bool:
        """Whether the command is a configuration edit (the kind -R accepts)."""
        return self in EDIT_COMMANDS


EDIT_COMMANDS: Final = frozenset(
    {
        Cmd.ADD_SERVICE,
        Cmd.EDIT_SERVICE,
        Cmd.DELETE_SERVICE,
        Cmd.FLUSH,
        Cmd.ADD_SERVER,
        Cmd.DELETE_SERVER,
        Cmd.EDIT_SERVER,
    }
)


class Opt(enum.Enum):
    """An ipvsadm option; the value is ipvsadm's name for it in messages.

    Members are declared in the column order of ipvsadm's table.
    """

    NUMERIC = "numeric"
    CONNECTION = "connection"
    SERVICE = "service-address"
    SCHEDULER = "scheduler"
    PERSISTENT = "persistent"
    NETMASK = "netmask"
    SERVER = "real-server"
    FORWARD = "forwarding-method"
    WEIGHT = "weight"
    U_THRESHOLD = "u-threshold"
    L_THRESHOLD = "l-threshold"
    MCAST_INTERFACE = "mcast-interface"
    TIMEOUT = "timeout"
    DAEMON = "daemon"
    STATS = "stats"
    RATE = "rate"
    THRESHOLDS = "thresholds"
    PERSISTENT_CONN = "persistent-conn"
    NOSORT = "nosort"
    SYNCID = "syncid"
    EXACT = "exact"
    ONE_PACKET = "ops"
    PE = "pe"
    SCHED_FLAGS = "sched-flags"
    MCAST_GROUP = "mcast-group"
    MCAST_PORT = "mcast-port"
    MCAST_TTL = "mcast-ttl"
    SYNC_MAXLEN = "sync-maxlen"
    TUN_INFO = "tun-info"
    TUN_TYPE = "tun-type"
    TUN_PORT = "tun-port"
    TUN_NOCSUM = "tun-nocsum"
    TUN_CSUM = "tun-csum"
    TUN_REMCSUM = "tun-remcsum"


class Need(enum.Enum):
    """One cell of the table, with ipvsadm's character for it."""

    COMPULSORY = "+"
    ILLEGAL = "x"
    EXCLUSIVE = "1"  # at most one EXCLUSIVE option per command
    OPTIONAL = " "


_COLUMNS: Final = tuple(Opt)

# ipvsadm 1.31's commands_v_options, a character per column of Opt.
# fmt: off
_ROWS: Final[Mapping[Cmd, str]] = {
    # columns: -n -c svc -s -p -M -r fwd -w -x -y mcast timeout daemon stats rate thresholds
    # persistent-conn nosort syncid -X -o pe -b mcast-group/port/ttl sync-maxlen tun-info tun-type
    # tun-port tun-nocsum tun-csum tun-remcsum
    Cmd.ADD_SERVICE:     "xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
    Cmd.EDIT_SERVICE:    "xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
    Cmd.DELETE_SERVICE:  "xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    Cmd.FLUSH:           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    Cmd.LIST:            " 11xxxxxxxxx11       xxxxxxx xxxxx",
    Cmd.ADD_SERVER:      "xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
    Cmd.DELETE_SERVER:   "xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx",
    Cmd.EDIT_SERVER:     "xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
    Cmd.SET_TIMEOUTS:    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    Cmd.START_DAEMON:    "xxxxxxxxxxx xxxxxxx xxxx    xxxxxx",
    Cmd.STOP_DAEMON:     "xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx",
    Cmd.RESTORE:         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    Cmd.SAVE:            " xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    Cmd.ZERO:            "xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
}
# fmt: on

LEGALITY: Final[Mapping[Cmd, Mapping[Opt, Need]]] = {
    cmd: {opt: Need(cell) for opt, cell in zip(_COLUMNS, row, strict=True)} for cmd, row in _ROWS.items()
}


def check_legality(cmd: Cmd, given: Iterable[Opt]) -> None:
    """ipvsadm's generic_opt_check(): raise for the first column that breaks the table."""
    problem = _legality_problem(cmd, frozenset(given))
    if problem is not None:
        raise CliError(problem)


@functools.cache  # -R checks thousands of lines with the same few option sets
def _legality_problem(cmd: Cmd, options: frozenset[Opt]) -> str | None:
    row = LEGALITY[cmd]
    first_exclusive: Opt | None = None
    for opt in _COLUMNS:
        need = row[opt]
        if opt not in options:
            if need is Need.COMPULSORY:
                return f"You need to supply the '{opt.value}' option for the '{cmd.value}' command"
            continue
        if need is Need.ILLEGAL:
            return f"Illegal '{opt.value}' option with the '{cmd.value}' command"
        if need is Need.EXCLUSIVE:
            if first_exclusive is None:
                first_exclusive = opt
                continue
            return (f"The option '{opt.value}' conflicts with the '{first_exclusive.value}' "
                    f"option in the '{cmd.value}' command")
    return None


@dataclass(frozen=True, slots=True)
class Command:
    """One parsed pyvsadm command line, after ipvsadm's checks.

    `scheduler` is the name given with -s (None: ipvsadm's default, wlc);
    `persistence` the -p timeout in seconds (None: not persistent);
    `real_address`/`real_port` the -r server, its port already set the way
    ipvsadm sets it; `fwd` the forwarding method (ipvsadm's default is -g).
    """

    kind: Cmd
    program: str = "pyvsadm"
    options: frozenset[Opt] = frozenset()
    service: ServiceKey | None = None
    scheduler: str | None = None
    persistence: int | None = None
    sched_flags: int = 0
    netmask: ipaddress.IPv4Address | None = None
    real_address: ipaddress.IPv4Address | None = None
    real_port: int = 0
    fwd: FwdMethod = FwdMethod.DROUTE
    weight: int = 1
    tun_type: str | None = None
    u_threshold: int = 0  # -x
    l_threshold: int = 0  # -y
    timeouts: tuple[int, int, int] = (0, 0, 0)  # --set tcp tcpfin udp

    def has(self, opt: Opt) -> bool:
        return opt in self.options

    def require_service(self) -> ServiceKey:
        """The -t/-u service, which the table made compulsory for this command."""
        if self.service is None:
            raise CliError(
                f"You need to supply the 'service-address' option for the '{self.kind.value}' command"
            )
        return self.service

    def require_real(self) -> ipaddress.IPv4Address:
        """The -r address, which the table made compulsory for this command."""
        if self.real_address is None:
            raise CliError(f"You need to supply the 'real-server' option for the '{self.kind.value}' command")
        return self.real_address
