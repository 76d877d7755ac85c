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
import ipaddress
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from pyvs.cli.address import HostPort, Resolver, SystemResolver, parse_host_port, string_to_number, strtol
from pyvs.cli.command import DEFAULT_SCHEDULER, Cmd, Command, Opt, check_legality
from pyvs.cli.errors import EXIT_REFUSED, CliError, NotSupported
from pyvs.cli.popt import Arity, Occurrence, OptionSpec, OptionTable, PoptError, Scanner
from pyvs.cli.sched_flags import parse_sched_flags
from pyvs.model.enums import FwdMethod, Protocol
from pyvs.model.service import DEFAULT_PERSISTENCE_TIMEOUT, ServiceKey

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
INT_MAX: Final = 2**31 - 1
_SCHEDNAME_MAX: Final = 15  # IP_VS_SCHEDNAME_MAXLEN - 1: ipvsadm keeps that much of -s

# -- the words ipvsadm knows --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Word:
    """One option word of ipvsadm: what it means for pyvsadm and its help line.

    `meaning` is None for the words that set no option (--sort, -6);
    `command` marks the words that are commands in ipvsadm (only the first
    option may be one).
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


def _opt(long: str, short: str | None, arity: Arity, opt: Opt | None, metavar: str, help: str) -> Word:
    return Word(long, short, arity, opt, metavar, help)


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
    _cmd("set", None, Cmd.SET_TIMEOUTS, "set connection timeout values"),
    Word("start-daemon", None, _REQ, Cmd.START_DAEMON, command=True),
    Word("stop-daemon", None, _REQ, Cmd.STOP_DAEMON, command=True),
    _cmd("help", "h", Cmd.HELP, "display this help message"),
    _cmd("version", "v", Cmd.VERSION, "display the version"),
    _opt("tcp-service", "t", _REQ, Opt.SERVICE, "service-address", "service-address is host[:port]"),
    _opt("udp-service", "u", _REQ, Opt.SERVICE, "service-address", "service-address is host[:port]"),
    _opt("sctp-service", None, _REQ, Opt.SERVICE, "service-address", "SCTP: not supported"),
    _opt("fwmark-service", "f", _REQ, Opt.SERVICE, "fwmark", "firewall-mark services: not supported"),
    _opt("scheduler", "s", _REQ, Opt.SCHEDULER, "scheduler",
         "one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh|twos, the default scheduler is wlc"),
    _opt("persistent", "p", _OPT_ARG, Opt.PERSISTENT, "[timeout]", "persistent service (timeout 300)"),
    _opt("netmask", "M", _REQ, Opt.NETMASK, "netmask", "persistent granularity mask"),
    _opt("real-server", "r", _REQ, Opt.SERVER, "server-address", "server-address is host (and port)"),
    _opt("ipip", "i", _NONE, Opt.FORWARD, "", "ipip encapsulation (tunneling), required"),
    _opt("gatewaying", "g", _NONE, Opt.FORWARD, "", "gatewaying (direct routing): not supported"),
    _opt("masquerading", "m", _NONE, Opt.FORWARD, "", "masquerading (NAT): not supported"),
    _opt("tun-type", None, _REQ, Opt.TUN_TYPE, "type", "tunnel type, ipip (the default)"),
    _opt("tun-port", None, _REQ, Opt.TUN_PORT, "port", "tunnel destination port (gue): not supported"),
    _opt("tun-nocsum", None, _NONE, Opt.TUN_NOCSUM, "", "tunnel without checksum (gue, gre)"),
    _opt("tun-csum", None, _NONE, Opt.TUN_CSUM, "", "tunnel with checksum (gue, gre)"),
    _opt("tun-remcsum", None, _NONE, Opt.TUN_REMCSUM, "", "tunnel with remote checksum (gue)"),
    _opt("weight", "w", _REQ, Opt.WEIGHT, "weight", "capacity of real server"),
    _opt("u-threshold", "x", _REQ, Opt.U_THRESHOLD, "uthreshold", "upper threshold of connections"),
    _opt("l-threshold", "y", _REQ, Opt.L_THRESHOLD, "lthreshold", "lower threshold of connections"),
    _opt("connection", "c", _NONE, Opt.CONNECTION, "", "output of current IPVS connections"),
    _opt("timeout", None, _NONE, Opt.TIMEOUT, "", "output of timeout (tcp tcpfin udp)"),
    _opt("daemon", None, _NONE, Opt.DAEMON, "", "output of daemon information (pyvs has none)"),
    _opt("stats", None, _NONE, Opt.STATS, "", "output of statistics information"),
    _opt("rate", None, _NONE, Opt.RATE, "", "output of rate information"),
    _opt("exact", "X", _NONE, Opt.EXACT, "", "expand numbers (display exact values)"),
    _opt("thresholds", None, _NONE, Opt.THRESHOLDS, "", "output of thresholds information"),
    _opt("persistent-conn", None, _NONE, Opt.PERSISTENT_CONN, "", "output of persistent connection info"),
    _opt("tun-info", None, _NONE, Opt.TUN_INFO, "", "output of tunnel information"),
    _opt("nosort", None, _NONE, Opt.NOSORT, "", "disable sorting output of server entries"),
    _opt("sort", None, _NONE, None, "", "does nothing, for backwards compatibility"),
    _opt("ops", "o", _NONE, Opt.ONE_PACKET, "", "one-packet scheduling (UDP)"),
    _opt("numeric", "n", _NONE, Opt.NUMERIC, "", "numeric output of addresses and ports"),
    _opt("sched-flags", "b", _REQ, Opt.SCHED_FLAGS, "flags", "scheduler flags (comma-separated)"),
    _opt("pe", None, _REQ, Opt.PE, "engine", "alternate persistence engine: not supported"),
    _opt("ipv6", "6", _NONE, None, "", "fwmark uses IPv6: not supported"),
    _opt("mcast-interface", None, _REQ, Opt.MCAST_INTERFACE, "interface", "sync daemon: not supported"),
    _opt("mcast-group", None, _REQ, Opt.MCAST_GROUP, "address", "sync daemon: not supported"),
    _opt("mcast-port", None, _REQ, Opt.MCAST_PORT, "port", "sync daemon: not supported"),
    _opt("mcast-ttl", None, _REQ, Opt.MCAST_TTL, "ttl", "sync daemon: not supported"),
    _opt("sync-maxlen", None, _REQ, Opt.SYNC_MAXLEN, "length", "sync daemon: not supported"),
    _opt("syncid", None, _REQ, Opt.SYNCID, "sid", "sync daemon: not supported"),
)

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
    service_word: str = ""  # the word that gave the service: --fwmark-service and --sctp-service are refused
    scheduler: str | None = None
    persistence: int | None = None
    netmask: ipaddress.IPv4Address | None = None
    real_address: ipaddress.IPv4Address | None = None
    real_port: int = 0
    fwd: FwdMethod = FwdMethod.DROUTE  # ipvsadm's default
    fwd_word: str | None = None
    weight: int = 1
    u_threshold: int = 0
    l_threshold: int = 0
    timeouts: tuple[int, int, int] = (0, 0, 0)
    tun_type: str | None = None
    ipv6: bool = False
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

    Raises CliError (and its subclasses) with ipvsadm's message and exit status:
    every check of ipvsadm's process_options() first, in its order, then
    NotSupported for what pyvs does not do (yet).
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
    leftovers = list(scanner.leftovers)
    if kind is Cmd.SET_TIMEOUTS:
        if len(leftovers) < 3:
            raise CliError("--set option requires 3 timeout values")
        tcp, tcp_fin, udp = (_timeout(text, 0) for text in leftovers[:3])
        draft.timeouts = (tcp, tcp_fin, udp)
        leftovers = leftovers[3:]
    if leftovers:
        raise CliError(f"unexpected argument {leftovers[0]}")
    if draft.sched_flags_text:  # ipvsadm reads -b once all options are in: it needs -s
        draft.sched_flags = parse_sched_flags(draft.scheduler or DEFAULT_SCHEDULER, draft.sched_flags_text)
    check_legality(kind, draft.options)
    _check(draft)
    _refuse_unsupported(draft)
    return _command(draft)


def try_help(program: str) -> CliError:
    """ipvsadm's tryhelp_exit(): the hint it prints for a command line it cannot read."""
    return CliError(f"Try `{program} -h' or '{program} --help' for more information.", EXIT_REFUSED)


_DAEMON_STATES: Final = ("master", "backup")


def _first_command(occurrences: Iterator[Occurrence[Word]], program: str) -> Cmd:
    try:
        first = next(occurrences)
    except (StopIteration, PoptError):
        raise try_help(program) from None
    word = first.spec.key
    if not isinstance(word.meaning, Cmd):
        raise try_help(program)
    if word.meaning is Cmd.START_DAEMON and first.value not in _DAEMON_STATES:
        raise CliError("illegal start-daemon parameter specified")
    if word.meaning is Cmd.STOP_DAEMON and first.value not in _DAEMON_STATES:
        raise CliError("illegal start_daemon specified")  # sic: ipvsadm's words
    return word.meaning


def _take(draft: _Draft, occurrence: Occurrence[Word]) -> None:
    word = occurrence.spec.key
    if word.command:
        raise CliError(f"invalid option `{occurrence.word}'")
    _HANDLERS[word.long](draft, occurrence.value)


def _value(value: str | None) -> str:
    if value is None:  # the scanner gives every REQUIRED option a value
        raise CliError("missing argument")
    return value


def _number(value: str | None, low: int, high: int, message: str) -> int:
    """ipvsadm's string_to_number() or fail(2, message)."""
    number = string_to_number(_value(value), low, high)
    if number is None:
        raise CliError(message)
    return number


def _timeout(text: str, low: int) -> int:
    """ipvsadm's parse_timeout()."""
    timeout = string_to_number(text, low, MAX_TIMEOUT)
    if timeout is None:
        raise CliError(f"invalid timeout value `{text}' specified")
    return timeout


def _service(protocol: Protocol, word: str) -> Callable[[_Draft, str | None], None]:
    def handle(draft: _Draft, value: str | None) -> None:
        draft.set_option(Opt.SERVICE)
        draft.protocol = protocol
        draft.service_word = word
        parsed = _host_port(_value(value), protocol, draft.resolver)
        if parsed is None:
            raise CliError("illegal virtual server address[:port] specified")
        draft.address = parsed.address
        draft.port = parsed.port if parsed.port is not None else 0

    return handle


def _fwmark(draft: _Draft, value: str | None) -> None:
    draft.set_option(Opt.SERVICE)
    draft.protocol = Protocol.TCP  # ipvsadm's "sane value, even though it is not used"
    draft.service_word = "--fwmark-service (-f)"
    text = _value(value)
    mark = strtol(text)  # ipvsadm's parse_fwmark()
    if mark is None or not 0 < mark <= 0xFFFFFFFF:
        raise CliError(f"invalid fwmark value `{text}' specified")


def _scheduler(draft: _Draft, value: str | None) -> None:
    draft.set_option(Opt.SCHEDULER)
    draft.scheduler = _value(value)[:_SCHEDNAME_MAX]


def _sched_flags(draft: _Draft, value: str | None) -> None:
    draft.set_option(Opt.SCHED_FLAGS)
    draft.sched_flags_text = _value(value)


def _persistent(draft: _Draft, value: str | None) -> None:
    draft.set_option(Opt.PERSISTENT)
    draft.persistence = DEFAULT_PERSISTENCE_TIMEOUT if value is None else _timeout(value, 1)


def _netmask(draft: _Draft, value: str | None) -> None:
    draft.set_option(Opt.NETMASK)
    text = _value(value)
    try:
        draft.netmask = ipaddress.IPv4Address(socket.inet_aton(text))
    except (OSError, ValueError):
        draft.netmask = draft.resolver.host_to_addr(text)
    if draft.netmask is None:
        raise CliError("illegal virtual server persistent mask specified")


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
    draft.weight = _number(value, 0, MAX_WEIGHT, "illegal weight specified")


def _u_threshold(draft: _Draft, value: str | None) -> None:
    draft.set_option(Opt.U_THRESHOLD)
    draft.u_threshold = _number(value, 0, INT_MAX, "illegal u_threshold specified")


def _l_threshold(draft: _Draft, value: str | None) -> None:
    draft.set_option(Opt.L_THRESHOLD)
    draft.l_threshold = _number(value, 0, INT_MAX, "illegal l_threshold specified")


_TUNNEL_TYPES: Final = ("ipip", "gue", "gre")


def _tun_type(draft: _Draft, value: str | None) -> None:
    draft.set_option(Opt.TUN_TYPE)
    if value not in _TUNNEL_TYPES:
        raise CliError("illegal tunnel type specified")
    draft.tun_type = value


def _checked(opt: Opt, low: int, high: int, message: str) -> Callable[[_Draft, str | None], None]:
    """An option whose value is a number ipvsadm checks (and pyvs then refuses)."""
    def handle(draft: _Draft, value: str | None) -> None:
        draft.set_option(opt)
        _number(value, low, high, message)

    return handle


def _mcast_group(draft: _Draft, value: str | None) -> None:
    draft.set_option(Opt.MCAST_GROUP)
    text = _value(value)
    family, version = (socket.AF_INET6, "IPv6") if ":" in text else (socket.AF_INET, "IPv4")
    try:
        multicast = ipaddress.ip_address(socket.inet_pton(family, text)).is_multicast
    except (OSError, ValueError):
        multicast = False
    if not multicast:
        raise CliError(f"invalid {version} mcast-group `{text}'")


def _ipv6(draft: _Draft, value: str | None) -> None:
    if draft.service_word != "--fwmark-service (-f)":
        raise CliError("-6 used before -f\n")  # sic: ipvsadm's message ends in a blank line
    draft.ipv6 = True


def _flag(opt: Opt) -> Callable[[_Draft, str | None], None]:
    def handle(draft: _Draft, value: str | None) -> None:
        draft.set_option(opt)

    return handle


def _nothing(draft: _Draft, value: str | None) -> None:
    """--sort: "a no-op for compatibility" in ipvsadm."""


_HANDLERS: Final[Mapping[str, Callable[[_Draft, str | None], None]]] = {
    "tcp-service": _service(Protocol.TCP, "-t"),
    "udp-service": _service(Protocol.UDP, "-u"),
    "sctp-service": _service(Protocol.TCP, "--sctp-service"),
    "fwmark-service": _fwmark,
    "scheduler": _scheduler,
    "persistent": _persistent,
    "netmask": _netmask,
    "sched-flags": _sched_flags,
    "real-server": _server,
    "ipip": _forward(FwdMethod.TUNNEL, "-i"),
    "gatewaying": _forward(FwdMethod.DROUTE, "-g"),
    "masquerading": _forward(FwdMethod.MASQ, "-m"),
    "weight": _weight,
    "u-threshold": _u_threshold,
    "l-threshold": _l_threshold,
    "tun-type": _tun_type,
    "tun-port": _checked(Opt.TUN_PORT, 1, 65535, "illegal tunnel port specified"),
    "tun-nocsum": _flag(Opt.TUN_NOCSUM),
    "tun-csum": _flag(Opt.TUN_CSUM),
    "tun-remcsum": _flag(Opt.TUN_REMCSUM),
    "numeric": _flag(Opt.NUMERIC),
    "connection": _flag(Opt.CONNECTION),
    "timeout": _flag(Opt.TIMEOUT),
    "daemon": _flag(Opt.DAEMON),
    "stats": _flag(Opt.STATS),
    "rate": _flag(Opt.RATE),
    "thresholds": _flag(Opt.THRESHOLDS),
    "persistent-conn": _flag(Opt.PERSISTENT_CONN),
    "nosort": _flag(Opt.NOSORT),
    "sort": _nothing,
    "exact": _flag(Opt.EXACT),
    "tun-info": _flag(Opt.TUN_INFO),
    "ops": _flag(Opt.ONE_PACKET),
    "pe": _flag(Opt.PE),
    "ipv6": _ipv6,
    "mcast-interface": _flag(Opt.MCAST_INTERFACE),
    "mcast-group": _mcast_group,
    "mcast-port": _checked(Opt.MCAST_PORT, 1, 65535, "illegal mcast-port specified"),
    "mcast-ttl": _checked(Opt.MCAST_TTL, 1, 255, "illegal mcast-ttl specified"),
    "sync-maxlen": _checked(Opt.SYNC_MAXLEN, 1, 65535 - 20 - 8, "illegal sync-maxlen specified"),
    "syncid": _checked(Opt.SYNCID, 0, 255, "illegal syncid specified"),
}

# The tunnel options each tunnel type takes (ipvsadm's tunnel_types_v_options).
_TUNNEL_OPTIONS: Final = (Opt.TUN_PORT, Opt.TUN_NOCSUM, Opt.TUN_CSUM, Opt.TUN_REMCSUM)
# fmt: off
_TUNNEL_ROWS: Final[Mapping[str, str]] = {
    #        tprt nocs csum remc
    "ipip": "xxxx",
    "gue":  "+111",
    "gre":  "x11x",
}
# fmt: on


def _check(draft: _Draft) -> None:
    """ipvsadm's checks between its legality table and the kernel, in its order."""
    options = draft.options
    if draft.kind in (Cmd.ADD_SERVICE, Cmd.EDIT_SERVICE):
        fwmark = draft.service_word == "--fwmark-service (-f)"
        if not fwmark and draft.port == 0 and draft.persistence is None:
            raise CliError("Zero port specified for non-persistent service")
        if Opt.ONE_PACKET in options and not fwmark and draft.protocol is not Protocol.UDP:
            raise CliError("One-Packet Scheduling is only for UDP virtual services")
    if draft.kind in (Cmd.ADD_SERVER, Cmd.EDIT_SERVER):
        # ipvsadm: tunnelled and direct-routed servers get the service's port.
        if draft.fwd in (FwdMethod.TUNNEL, FwdMethod.DROUTE):
            draft.real_port = draft.port
        if options & {Opt.TUN_TYPE, *_TUNNEL_OPTIONS} and draft.fwd is not FwdMethod.TUNNEL:
            raise CliError("Tunnel options conflict with forward method")
        _check_tunnel(draft.tun_type or "ipip", options)
    if draft.kind is Cmd.LIST:
        listing = options & {Opt.CONNECTION, Opt.TIMEOUT, Opt.DAEMON}
        if (listing and options & {Opt.STATS, Opt.RATE, Opt.THRESHOLDS}) or (
                options & {Opt.TIMEOUT, Opt.DAEMON} and Opt.PERSISTENT_CONN in options):
            raise CliError("options conflicts in the list command")


def _check_tunnel(tun_type: str, options: set[Opt]) -> None:
    """ipvsadm's tunnel_opt_check()."""
    first: Opt | None = None
    for opt, cell in zip(_TUNNEL_OPTIONS, _TUNNEL_ROWS[tun_type], strict=True):
        if opt not in options:
            if cell == "+":
                raise CliError(f"You need to supply the '{opt.value}' option "
                               f"for the '{tun_type}' tunnel type")
            continue
        if cell == "x":
            raise CliError(f"Illegal '{opt.value}' option with the '{tun_type}' tunnel type")
        if cell == "1":
            if first is None:
                first = opt
                continue
            raise CliError(f"The option '{opt.value}' conflicts with the '{first.value}' option "
                           f"in the '{tun_type}' tunnel type")


# What pyvs refuses once ipvsadm would have accepted the command line: option -> what to say.
_NOT_YET: Final[Mapping[Opt, str]] = {
    Opt.PE: "option --pe is not supported: pyvs has no persistence engine (sip is not planned)",
}


def _refuse_unsupported(draft: _Draft) -> None:
    """NotSupported for the first thing of the command line pyvs does not do."""
    if draft.kind in (Cmd.START_DAEMON, Cmd.STOP_DAEMON):
        raise NotSupported(f"the --{draft.kind.value} command is not supported yet")
    if draft.service_word.startswith("--"):
        raise NotSupported(f"option {draft.service_word} is not supported yet")
    for opt, what in _NOT_YET.items():
        if opt in draft.options:
            raise NotSupported(what)
    if draft.kind in (Cmd.ADD_SERVER, Cmd.EDIT_SERVER):
        _refuse_forwarding(draft)


def _refuse_forwarding(draft: _Draft) -> None:
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


def _command(draft: _Draft) -> Command:
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
        netmask=draft.netmask,
        real_address=draft.real_address,
        real_port=draft.real_port,
        fwd=draft.fwd,
        weight=draft.weight,
        tun_type=draft.tun_type,
        u_threshold=draft.u_threshold,
        l_threshold=draft.l_threshold,
        timeouts=draft.timeouts,
    )


# -- help text from the table -------------------------------------------------


def command_help() -> list[str]:
    """-h's command lines: each command word of WORDS that has a help text, with its short forms."""
    lines = []
    for word in WORDS:
        if isinstance(word.meaning, Cmd) and word.help:
            shorts = "|".join(f"-{other.short}" for other in WORDS
                              if other.meaning is word.meaning and other.short)
            lines.append(f"  {'--' + word.long:<18}{shorts:<10}{word.help}")
    return lines


def _column(text: str, width: int) -> str:
    """`text` padded to `width`, and at least one space after it."""
    return f"{text:<{width - 1}} "


def option_help() -> list[str]:
    """-h's option lines: each option word of WORDS, its short form, metavar and help."""
    lines = []
    for word in WORDS:
        if isinstance(word.meaning, Opt):
            short = f"-{word.short} " if word.short else ""
            lines.append(f"  {_column('--' + word.long, 15)}{_column(short + word.metavar, 21)}{word.help}")
    return lines
