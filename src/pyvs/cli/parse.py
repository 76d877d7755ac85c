"""pyvsadm's argv parsing: argv -> Command, with ipvsadm's option words, checks and messages.

parse(argv) follows ipvsadm's process_options(): popt scans argv (the first
option must be a command), each option's value is checked as it comes,
leftover words are refused, check_legality() applies the commands_v_options
table, then the per-command rules (zero port, real server port, tunnel
options, list conflicts) and pyvs's own refusals of what it does not support
yet. Errors are raised as CliError with ipvsadm's message and exit status.

Rule: pure; names are resolved through an injected Resolver, nothing is read
or printed. Running a Command is ipvsadm.py's job.

The declarative WORDS table is the single list of every option word ipvsadm
knows; it drives the scanner, the dispatch to the option handlers and the
command and option lines of the help text (command_help, option_help).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from pyvs.cli.address import HostPort, Resolver, SystemResolver, parse_host_port, string_to_number
from pyvs.cli.command import DEFAULT_SCHEDULER, Cmd, Command, Opt, check_legality
from pyvs.cli.errors import EXIT_REFUSED, CliError, NotSupported
from pyvs.cli.popt import Arity, Occurrence, OptionSpec, OptionTable, PoptError, Scanner
from pyvs.cli.sched_flags import parse_sched_flags
from pyvs.model.enums import FwdMethod, Protocol
from pyvs.model.service import DEFAULT_PERSISTENCE_TIMEOUT, ServiceKey

if TYPE_CHECKING:
    import ipaddress

__all__ = [
    "DEFAULT_PROGRAM",
    "WORDS",
    "Word",
    "command_help",
    "option_help",
    "parse",
    "try_help",
]

DEFAULT_PROGRAM: Final = "pyvsadm"
MAX_TIMEOUT: Final = 86400 * 31  # ipvsadm's limit for -p, 31 days
MAX_WEIGHT: Final = 65535

# -- the words ipvsadm knows --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Word:
    """One option word of ipvsadm: what it means for pyvsadm and its help line.

    `meaning` is None for words pyvs does not support yet; `command` marks
    the words that are commands in ipvsadm (only the first option may be one).
    """

    long: str
    short: str | None
    arity: Arity
    meaning: Cmd | Opt | None
    metavar: str = ""
    help: str = ""
    command: bool = False


def _cmd(long: str, short: str | None, cmd: Cmd, help: str = "") -> Word:
    return Word(long, short, Arity.NONE, cmd, help=help, command=True)


def _opt(long: str, short: str | None, arity: Arity, opt: Opt, metavar: str, help: str) -> Word:
    return Word(long, short, arity, opt, metavar, help)


def _unsupported(long: str, short: str | None, arity: Arity, command: bool = False) -> Word:
    return Word(long, short, arity, None, command=command)


_REQ, _OPT_ARG, _NONE = Arity.REQUIRED, Arity.OPTIONAL, Arity.NONE

WORDS: Final[tuple[Word, ...]] = (
    _cmd("add-service", "A", Cmd.ADD_SERVICE, "add virtual service with options"),
    _cmd("edit-service", "E", Cmd.EDIT_SERVICE, "edit virtual service with options"),
    _cmd("delete-service", "D", Cmd.DELETE_SERVICE, "delete virtual service"),
    _cmd("clear", "C", Cmd.FLUSH, "clear the whole table"),
    _cmd("restore", "R", Cmd.RESTORE, "restore rules from stdin (all lines or none)"),
    _cmd("save", "S", Cmd.SAVE, "save rules to stdout"),
    _cmd("add-server", "a", Cmd.ADD_SERVER, "add real server with options"),
    _cmd("edit-server", "e", Cmd.EDIT_SERVER, "edit real server with options"),
    _cmd("delete-server", "d", Cmd.DELETE_SERVER, "delete real server"),
    _cmd("list", "L", Cmd.LIST, "list the table"),
    _cmd("list", "l", Cmd.LIST),
    _cmd("zero", "Z", Cmd.ZERO, "zero counters in a service or all services"),
    _cmd("help", "h", Cmd.HELP, "display this help message"),
    _cmd("version", "v", Cmd.VERSION, "display the version"),
    _unsupported("set", None, _NONE, command=True),
    _unsupported("start-daemon", None, _REQ, command=True),
    _unsupported("stop-daemon", None, _REQ, command=True),
    _opt("tcp-service", "t", _REQ, Opt.SERVICE, "service-address", "service-address is host[:port]"),
    _opt("udp-service", "u", _REQ, Opt.SERVICE, "service-address", "service-address is host[:port]"),
    _opt("scheduler", "s", _REQ, Opt.SCHEDULER, "scheduler",
         "one of rr|wrr|sh|dh|mh (the default, wlc, is not supported yet)"),
    _opt("persistent", "p", _OPT_ARG, Opt.PERSISTENT, "[timeout]", "persistent service (timeout 300)"),
    _opt("real-server", "r", _REQ, Opt.SERVER, "server-address", "server-address is host (and port)"),
    _opt("ipip", "i", _NONE, Opt.FORWARD, "", "ipip encapsulation (tunneling), required"),
    _opt("gatewaying", "g", _NONE, Opt.FORWARD, "", "gatewaying (direct routing): not supported"),
    _opt("masquerading", "m", _NONE, Opt.FORWARD, "", "masquerading (NAT): not supported"),
    _opt("tun-type", None, _REQ, Opt.TUN_TYPE, "type", "tunnel type, ipip (the default)"),
    _opt("weight", "w", _REQ, Opt.WEIGHT, "weight", "capacity of real server"),
    _opt("connection", "c", _NONE, Opt.CONNECTION, "", "output of current IPVS connections"),
    _opt("stats", None, _NONE, Opt.STATS, "", "output of statistics information"),
    _opt("rate", None, _NONE, Opt.RATE, "", "output of rate information: not supported"),
    _opt("exact", "X", _NONE, Opt.EXACT, "", "expand numbers (display exact values)"),
    _opt("tun-info", None, _NONE, Opt.TUN_INFO, "", "output of tunnel information"),
    _opt("numeric", "n", _NONE, Opt.NUMERIC, "", "numeric output of addresses and ports"),
    _unsupported("fwmark-service", "f", _REQ),
    _unsupported("ipv6", "6", _NONE),
    _unsupported("netmask", "M", _REQ),
    _unsupported("u-threshold", "x", _REQ),
    _unsupported("l-threshold", "y", _REQ),
    _unsupported("ops", "o", _NONE),
    _unsupported("pe", None, _REQ),
    _opt("sched-flags", "b", _REQ, Opt.SCHED_FLAGS, "flags", "scheduler flags (comma-separated)"),
    _unsupported("mcast-interface", None, _REQ),
    _unsupported("mcast-group", None, _REQ),
    _unsupported("mcast-port", None, _REQ),
    _unsupported("mcast-ttl", None, _REQ),
    _unsupported("sync-maxlen", None, _REQ),
    _unsupported("syncid", None, _REQ),
    _unsupported("timeout", None, _NONE),
    _unsupported("daemon", None, _NONE),
    _unsupported("thresholds", None, _NONE),
    _unsupported("persistent-conn", None, _NONE),
    _unsupported("nosort", None, _NONE),
    _unsupported("sort", None, _NONE),
    _unsupported("tun-port", None, _REQ),
    _unsupported("tun-nocsum", None, _NONE),
    _unsupported("tun-csum", None, _NONE),
    _unsupported("tun-remcsum", None, _NONE),
)

_NO_OPS: Final = frozenset({"sort"})  # ipvsadm: "does nothing, for backwards compatibility"

_OPTIONS: Final = OptionTable(OptionSpec(word, word.long, word.short, word.arity) for word in WORDS)

# -- parse ----------------------------------------------------------------------



@functools.lru_cache(maxsize=4096)
def _system_host_port(text: str, protocol: Protocol | None) -> HostPort | None:
    return parse_host_port(text, protocol, SystemResolver())


def _host_port(text: str, protocol: Protocol | None, resolver: Resolver) -> HostPort | None:
    """parse_host_port(), remembered for the system's resolver: -R files name the
    same addresses over and over (a VIP on every line of its service, the same
    real servers under every service)."""
    if type(resolver) is SystemResolver:
        return _system_host_port(text, protocol)
    return parse_host_port(text, protocol, resolver)


@dataclass
class _Draft:
    """The command being parsed: ipvsadm's ipvs_command_entry and option bits."""

    kind: Cmd
    program: str
    resolver: Resolver
    options: set[Opt] = field(default_factory=set)
    protocol: Protocol | None = None
    address: ipaddress.IPv4Address | None = None
    port: int = 0
    scheduler: str | None = None
    persistence: int | None = None
    real_address: ipaddress.IPv4Address | None = None
    real_port: int = 0
    fwd: FwdMethod = FwdMethod.DROUTE  # ipvsadm's default
    fwd_word: str | None = None
    weight: int = 1
    tun_type: str | None = None
    sched_flags_text: str = ""
    sched_flags: int = 0

    def set_option(self, opt: Opt) -> None:
        """ipvsadm's set_option(): each option at most once."""
        if opt in self.options:
            raise CliError(f"multiple '{opt.value}' options specified")
        self.options.add(opt)


def parse(
    argv: Sequence[str], *, program: str = DEFAULT_PROGRAM, resolver: Resolver | None = None
) -> Command:
    """The Command of `argv` (without the program name), or the error ipvsadm gives.

    Raises CliError (and its subclasses) with ipvsadm's message and exit status.
    """
    if not argv:
        return Command(Cmd.LIST, program)  # ipvsadm alone lists the table
    scanner = Scanner(argv, _OPTIONS)
    occurrences = iter(scanner)
    kind = _first_command(occurrences, program)
    if not kind.needs_dataplane:
        return Command(kind, program)  # -h and -v exit at once
    draft = _Draft(kind, program, resolver if resolver is not None else SystemResolver())
    for occurrence in occurrences:
        _take(draft, occurrence)
    if scanner.leftovers:
        raise CliError(f"unexpected argument {scanner.leftovers[0]}")
    if draft.sched_flags_text:  # ipvsadm reads -b once all options are in: it needs -s
        draft.sched_flags = parse_sched_flags(draft.scheduler or DEFAULT_SCHEDULER, draft.sched_flags_text)
    check_legality(kind, draft.options)
    return _finish(draft)


def try_help(program: str) -> CliError:
    """ipvsadm's tryhelp_exit(): the hint it prints for a command line it cannot read."""
    return CliError(f"Try `{program} -h' or '{program} --help' for more information.", EXIT_REFUSED)


def _first_command(occurrences: Iterator[Occurrence[Word]], program: str) -> Cmd:
    try:
        first = next(occurrences)
    except (StopIteration, PoptError):
        raise try_help(program) from None
    word = first.spec.key
    if isinstance(word.meaning, Cmd):
        return word.meaning
    if word.command:
        raise NotSupported(f"the --{word.long} command is not supported yet")
    raise try_help(program)


def _take(draft: _Draft, occurrence: Occurrence[Word]) -> None:
    word = occurrence.spec.key
    if word.command:
        raise CliError(f"invalid option `{occurrence.word}'")
    if word.meaning is None:
        if word.long in _NO_OPS:
            return
        short = f" (-{word.short})" if word.short else ""
        raise NotSupported(f"option --{word.long}{short} is not supported yet")
    _HANDLERS[word.long](draft, occurrence.value)


def _value(value: str | None) -> str:
    if value is None:  # the scanner gives every REQUIRED option a value
        raise CliError("missing argument")
    return value


def _service(protocol: Protocol) -> Callable[[_Draft, str | None], None]:
    def handle(draft: _Draft, value: str | None) -> None:
        draft.set_option(Opt.SERVICE)
        draft.protocol = protocol
        parsed = _host_port(_value(value), protocol, draft.resolver)
        if parsed is None:
            raise CliError("illegal virtual server address[:port] specified")
        draft.address = parsed.address
        draft.port = parsed.port if parsed.port is not None else 0

    return handle


def _scheduler(draft: _Draft, value: str | None) -> None:
    draft.set_option(Opt.SCHEDULER)
    draft.scheduler = _value(value)


def _sched_flags(draft: _Draft, value: str | None) -> None:
    draft.set_option(Opt.SCHED_FLAGS)
    draft.sched_flags_text = _value(value)


def _persistent(draft: _Draft, value: str | None) -> None:
    draft.set_option(Opt.PERSISTENT)
    if value is None:
        draft.persistence = DEFAULT_PERSISTENCE_TIMEOUT
        return
    timeout = string_to_number(value, 1, MAX_TIMEOUT)
    if timeout is None:
        raise CliError(f"invalid timeout value `{value}' specified")
    draft.persistence = timeout


def _server(draft: _Draft, value: str | None) -> None:
    draft.set_option(Opt.SERVER)
    parsed = _host_port(_value(value), draft.protocol, draft.resolver)
    if parsed is None:
        raise CliError("illegal real server address[:port] specified")
    draft.real_address = parsed.address
    # No port: the service's port as known at this point of argv, as in ipvsadm.
    draft.real_port = parsed.port if parsed.port is not None else draft.port


def _forward(method: FwdMethod, switch: str) -> Callable[[_Draft, str | None], None]:
    def handle(draft: _Draft, value: str | None) -> None:
        draft.set_option(Opt.FORWARD)
        draft.fwd = method
        draft.fwd_word = switch

    return handle


def _weight(draft: _Draft, value: str | None) -> None:
    draft.set_option(Opt.WEIGHT)
    weight = string_to_number(_value(value), 0, MAX_WEIGHT)
    if weight is None:
        raise CliError("illegal weight specified")
    draft.weight = weight


_TUNNEL_TYPES: Final = ("ipip", "gue", "gre")


def _tun_type(draft: _Draft, value: str | None) -> None:
    draft.set_option(Opt.TUN_TYPE)
    if value not in _TUNNEL_TYPES:
        raise CliError("illegal tunnel type specified")
    draft.tun_type = value


def _flag(opt: Opt) -> Callable[[_Draft, str | None], None]:
    def handle(draft: _Draft, value: str | None) -> None:
        draft.set_option(opt)

    return handle


_HANDLERS: Final[Mapping[str, Callable[[_Draft, str | None], None]]] = {
    "tcp-service": _service(Protocol.TCP),
    "udp-service": _service(Protocol.UDP),
    "scheduler": _scheduler,
    "persistent": _persistent,
    "sched-flags": _sched_flags,
    "real-server": _server,
    "ipip": _forward(FwdMethod.TUNNEL, "-i"),
    "gatewaying": _forward(FwdMethod.DROUTE, "-g"),
    "masquerading": _forward(FwdMethod.MASQ, "-m"),
    "weight": _weight,
    "tun-type": _tun_type,
    "numeric": _flag(Opt.NUMERIC),
    "connection": _flag(Opt.CONNECTION),
    "stats": _flag(Opt.STATS),
    "rate": _flag(Opt.RATE),
    "exact": _flag(Opt.EXACT),
    "tun-info": _flag(Opt.TUN_INFO),
}


def _finish(draft: _Draft) -> Command:
    """ipvsadm's checks after the table, then pyvs's refusals; the frozen Command."""
    service_edit = draft.kind in (Cmd.ADD_SERVICE, Cmd.EDIT_SERVICE)
    if service_edit and draft.port == 0 and draft.persistence is None:
        raise CliError("Zero port specified for non-persistent service")
    if draft.kind in (Cmd.ADD_SERVER, Cmd.EDIT_SERVER):
        _check_server(draft)
    if draft.kind is Cmd.LIST:
        _check_list(draft)
    service = None
    if draft.protocol is not None and draft.address is not None:
        service = ServiceKey(draft.protocol, draft.address, draft.port)
    return Command(
        kind=draft.kind,
        program=draft.program,
        options=frozenset(draft.options),
        service=service,
        scheduler=draft.scheduler,
        persistence=draft.persistence,
        sched_flags=draft.sched_flags,
        real_address=draft.real_address,
        real_port=draft.real_port,
        fwd=draft.fwd,
        weight=draft.weight,
        tun_type=draft.tun_type,
    )


def _check_server(draft: _Draft) -> None:
    # ipvsadm: tunnelled and direct-routed servers get the service's port.
    if draft.fwd in (FwdMethod.TUNNEL, FwdMethod.DROUTE):
        draft.real_port = draft.port
    if Opt.TUN_TYPE in draft.options and draft.fwd is not FwdMethod.TUNNEL:
        raise CliError("Tunnel options conflict with forward method")
    if draft.tun_type not in (None, "ipip"):
        raise NotSupported(f"tunnel type '{draft.tun_type}' is not supported yet (supported: ipip)")
    if draft.fwd is FwdMethod.TUNNEL:
        return
    if draft.fwd_word is None:
        raise NotSupported(
            "ipvsadm's default forwarding method, -g (gatewaying), is not supported yet: "
            "pyvs forwards in tunnel mode only, add -i"
        )
    method = "gatewaying" if draft.fwd is FwdMethod.DROUTE else "masquerading"
    raise NotSupported(
        f"forwarding method {draft.fwd_word} ({method}) is not supported yet: "
        "pyvs forwards in tunnel mode only (-i)"
    )


def _check_list(draft: _Draft) -> None:
    """ipvsadm's check before listing; -c takes -n, and --exact and --tun-info change nothing."""
    options = draft.options
    if Opt.CONNECTION in options and (Opt.STATS in options or Opt.RATE in options):
        raise CliError("options conflicts in the list command")
    if Opt.RATE in options:
        raise NotSupported("--rate is not supported yet")


# -- help text from the table -------------------------------------------------


def command_help() -> list[str]:
    """-h's command lines: each command word of WORDS that has a help text, with its short forms."""
    lines = []
    for word in WORDS:
        if isinstance(word.meaning, Cmd) and word.help:
            shorts = "|".join(f"-{other.short}" for other in WORDS if other.meaning is word.meaning)
            lines.append(f"  {'--' + word.long:<18}{shorts:<10}{word.help}")
    return lines


def option_help() -> list[str]:
    """-h's option lines: each supported option word of WORDS, its short form and metavar."""
    lines = []
    for word in WORDS:
        if isinstance(word.meaning, Opt):
            short = f"-{word.short} " if word.short else ""
            lines.append(f"  {'--' + word.long:<15}{short + word.metavar:<21}{word.help}")
    return lines
