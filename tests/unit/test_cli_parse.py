# ruff: noqa: E501 - one case per line: a command line and its verbatim ipvsadm message
"""pyvsadm's argv parsing against ipvsadm's (pure: names come from a StaticResolver).

Covers popt's syntax, ipvsadm's defaults and port rules, the order in which
ipvsadm reports errors, its messages and exit statuses, and pyvs's refusals of
what it does not support yet.
"""

from __future__ import annotations

import ipaddress

import pytest

from pyvs.cli.address import StaticResolver, parse_host_port, string_to_number
from pyvs.cli.command import Cmd, Command, Opt
from pyvs.cli.errors import CliError, message
from pyvs.cli.ipvsadm import program_name, rule_words
from pyvs.cli.parse import parse
from pyvs.model.enums import FwdMethod, Protocol
from pyvs.model.service import ServiceKey

IP = ipaddress.IPv4Address
VIP = IP("10.2.2.3")
RIP = IP("10.3.3.3")
WEB = ServiceKey(Protocol.TCP, VIP, 80)

RESOLVER = StaticResolver(
    hosts={"www.example.test": VIP, "rs1.example.test": RIP},
    services={
        ("http", Protocol.TCP): 80,
        ("domain", Protocol.TCP): 53,
        ("domain", Protocol.UDP): 53,
    },
)


def p(line: str) -> Command:
    return parse(line.split(), resolver=RESOLVER)


def error(line: str | list[str]) -> tuple[str, int]:
    """The stderr line and exit status pyvsadm gives for `line`."""
    argv = line.split() if isinstance(line, str) else line
    with pytest.raises(CliError) as info:
        parse(argv, resolver=RESOLVER)
    return message(info.value, "pyvsadm"), info.value.status


# -- the seed's lines -------------------------------------------------------------


def test_add_service() -> None:
    assert p("-A -t 10.2.2.3:80 -s rr") == Command(
        kind=Cmd.ADD_SERVICE,
        options=frozenset({Opt.SERVICE, Opt.SCHEDULER}),
        service=WEB,
        scheduler="rr",
    )


def test_add_server_takes_the_service_port_and_defaults() -> None:
    assert p("-a -t 10.2.2.3:80 -r 10.3.3.3 -i") == Command(
        kind=Cmd.ADD_SERVER,
        options=frozenset({Opt.SERVICE, Opt.SERVER, Opt.FORWARD}),
        service=WEB,
        real_address=RIP,
        real_port=80,
        fwd=FwdMethod.TUNNEL,
        weight=1,
    )


# -- popt's syntax ------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "-A -t 10.2.2.3:80 -s rr",
        "--add-service --tcp-service 10.2.2.3:80 --scheduler rr",
        "--add-service --tcp-service=10.2.2.3:80 --scheduler=rr",
        "-At 10.2.2.3:80 -srr",
        "-At10.2.2.3:80 -s=rr",
        "-A -s rr -t 10.2.2.3:80",
    ],
)
def test_spellings_of_one_command(line: str) -> None:
    assert p(line) == p("-A -t 10.2.2.3:80 -s rr")


def test_clustered_flags() -> None:
    command = p("-Ln --stats --exact")
    assert command.kind is Cmd.LIST
    assert command.options == {Opt.NUMERIC, Opt.STATS, Opt.EXACT}
    assert p("-lnX").options == {Opt.NUMERIC, Opt.EXACT}


def test_a_required_argument_may_start_with_a_dash() -> None:
    # popt hands "-s" to -t as its value, which is no address.
    assert error("-A -t -s rr") == ("illegal virtual server address[:port] specified", 2)


@pytest.mark.parametrize(
    ("line", "timeout"),
    [
        ("-A -t 10.2.2.3:80 -s rr -p", 300),
        ("-A -t 10.2.2.3:80 -p -s rr", 300),
        ("-A -t 10.2.2.3:80 -s rr -p 60", 60),
        ("-A -t 10.2.2.3:80 -s rr -p60", 60),
        ("-A -t 10.2.2.3:80 -s rr --persistent=60", 60),
        ("-A -t 10.2.2.3:80 -s rr --persistent 2678400", 2678400),
        ("-A -t 10.2.2.3:80 -s rr", None),
    ],
)
def test_persistent_takes_an_optional_timeout(line: str, timeout: int | None) -> None:
    assert p(line).persistence == timeout


@pytest.mark.parametrize("value", ["0", "2678401", "abc", "-5", "1.5"])
def test_bad_persistence_timeout(value: str) -> None:
    # "-p -5": the optional argument is not taken from a word starting with "-",
    # so "-5" is then read as options (-5 is no option popt knows).
    if value.startswith("-"):
        assert error(f"-A -t 10.2.2.3:80 -s rr -p {value}") == ("-5: unknown option", 255)
    else:
        assert error(f"-A -t 10.2.2.3:80 -s rr -p {value}") == (
            f"invalid timeout value `{value}' specified",
            2,
        )


def test_empty_argv_lists_the_table() -> None:
    assert parse([], resolver=RESOLVER) == Command(Cmd.LIST)


@pytest.mark.parametrize(
    ("line", "kind"),
    [("-h", Cmd.HELP), ("--help", Cmd.HELP), ("-v", Cmd.VERSION), ("--version", Cmd.VERSION)],
)
def test_help_and_version(line: str, kind: Cmd) -> None:
    assert p(line) == Command(kind)


def test_help_exits_before_looking_at_the_rest() -> None:
    assert p("-h --bogus -t nowhere") == Command(Cmd.HELP)


def test_program_name_is_used_in_messages() -> None:
    with pytest.raises(CliError) as info:
        parse(["-n"], program="lvsadm", resolver=RESOLVER)
    assert str(info.value) == "Try `lvsadm -h' or 'lvsadm --help' for more information."


def test_sort_is_accepted_and_does_nothing() -> None:
    assert p("-L -n --sort") == p("-L -n")


@pytest.mark.parametrize(
    "line",
    ["-L -n -c", "-Lnc", "-lcn", "-L -c -n", "--list --numeric --connection", "-l --connection -n --sort"],
)
def test_list_connections_spellings(line: str) -> None:
    assert p(line) == Command(Cmd.LIST, options=frozenset({Opt.NUMERIC, Opt.CONNECTION}))


def test_list_connections_takes_exact_and_tun_info_as_ipvsadm_does() -> None:
    # LIST row of commands_v_options: ' ' for -ex and tinf; list_conn() ignores both.
    assert p("-L -c --exact --tun-info").options == {Opt.CONNECTION, Opt.EXACT, Opt.TUN_INFO}


# -- ipvsadm's values -------------------------------------------------------------


@pytest.mark.parametrize(("word", "weight"), [("0", 0), ("65535", 65535), ("+7", 7), (" 7", 7), ("007", 7)])
def test_weight_is_read_like_strtol(word: str, weight: int) -> None:
    argv = ["-a", "-t", "10.2.2.3:80", "-r", "10.3.3.3", "-i", "-w", word]
    assert parse(argv, resolver=RESOLVER).weight == weight


@pytest.mark.parametrize("word", ["65536", "1.5", "", "7x", "x", "7 ", "99999999999999999999"])
def test_illegal_weight(word: str) -> None:
    argv = ["-a", "-t", "10.2.2.3:80", "-r", "10.3.3.3", "-i", "-w", word]
    assert error(argv) == ("illegal weight specified", 2)


def test_negative_weight() -> None:
    # popt gives "-1" to -w as its required value; strtol reads -1, out of range.
    assert error("-a -t 10.2.2.3:80 -r 10.3.3.3 -i -w -1") == ("illegal weight specified", 2)


@pytest.mark.parametrize(
    ("word", "key"),
    [
        ("10.2.2.3:80", WEB),
        ("10.2.2.3:http", WEB),
        ("www.example.test:80", WEB),
        ("www.example.test:http", WEB),
        ("10.2.2.3", ServiceKey(Protocol.TCP, VIP, 0)),
        ("10.2.2.3:0", ServiceKey(Protocol.TCP, VIP, 0)),
        ("10.2.2.3:65535", ServiceKey(Protocol.TCP, VIP, 65535)),
        ("10.1:80", ServiceKey(Protocol.TCP, IP("10.0.0.1"), 80)),  # inet_aton's short form
        ("0x0a.2.2.3:80", WEB),  # and its hexadecimal
    ],
)
def test_service_addresses(word: str, key: ServiceKey) -> None:
    assert parse(["-D", "-t", word], resolver=RESOLVER).service == key


def test_udp_service_names_use_the_udp_table() -> None:
    assert p("-D -u 10.2.2.3:domain").service == ServiceKey(Protocol.UDP, VIP, 53)


@pytest.mark.parametrize(
    "word",
    [
        "80",
        "",
        "10.2.2.3:",
        "10.2.2.3:65536",
        "10.2.2.3:-1",
        "10.2.2.3:nosuch",
        "nosuch.test:80",
        "10.2.2.3:80:90",
        "[10.2.2.3",
        "[10.2.2.3]80",
    ],
)
def test_illegal_service_addresses(word: str) -> None:
    assert error(["-D", "-t", word]) == ("illegal virtual server address[:port] specified", 2)


@pytest.mark.parametrize("word", ["10.3.3.3:99999", "nosuch.test", "10.3.3.3:nosuch", "3"])
def test_illegal_real_server_addresses(word: str) -> None:
    argv = ["-a", "-t", "10.2.2.3:80", "-r", word, "-i"]
    assert error(argv) == ("illegal real server address[:port] specified", 2)


@pytest.mark.parametrize(
    ("line", "port"),
    [
        # Tunnelled servers get the service's port whatever -r says, as in ipvsadm.
        ("-a -t 10.2.2.3:80 -r 10.3.3.3:8080 -i", 80),
        ("-e -t 10.2.2.3:80 -r 10.3.3.3:8080 -i", 80),
        ("-a -r 10.3.3.3 -i -t 10.2.2.3:80", 80),
        # -d keeps -r's port, or the service's port as known when -r was read.
        ("-d -t 10.2.2.3:80 -r 10.3.3.3:8080", 8080),
        ("-d -t 10.2.2.3:80 -r 10.3.3.3", 80),
        ("-d -r 10.3.3.3 -t 10.2.2.3:80", 0),
        ("-d -t 10.2.2.3:80 -r rs1.example.test:http", 80),
    ],
)
def test_real_server_port_rules(line: str, port: int) -> None:
    assert p(line).real_port == port


def test_real_server_port_name_needs_the_service_first() -> None:
    # -r before -t: ipvsadm does not know the protocol yet, so no port name.
    assert error("-d -r 10.3.3.3:http -t 10.2.2.3:80") == (
        "illegal real server address[:port] specified",
        2,
    )


def test_tun_type_ipip() -> None:
    command = p("-a -t 10.2.2.3:80 -r 10.3.3.3 -i --tun-type ipip")
    assert command.tun_type == "ipip"
    assert command.fwd is FwdMethod.TUNNEL


# -- ipvsadm's errors, in ipvsadm's order -------------------------------------------

TRY_HELP = ("Try `pyvsadm -h' or 'pyvsadm --help' for more information.", 255)


@pytest.mark.parametrize("line", ["-n -L", "-nL", "-t 10.2.2.3:80 -A", "foo", "foo bar", "--bogus -L", "-j"])
def test_the_first_option_must_be_a_command(line: str) -> None:
    assert error(line) == TRY_HELP


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("-L --bogus", ("--bogus: unknown option", 255)),
        ("-L -j", ("-j: unknown option", 255)),
        ("-Lj", ("-Lj: unknown option", 255)),
        ("-L=1", ("-L=1: unknown option", 255)),
        ("-A -t", ("-t: missing argument", 255)),
        ("-a -t 10.2.2.3:80 -r 10.3.3.3 -i -w", ("-w: missing argument", 255)),
        ("-L --numeric=1", ("--numeric=1: option does not take an argument", 255)),
        ("-L -A", ("invalid option `-A'", 2)),
        ("-L -h", ("invalid option `-h'", 2)),
        ("-L --stop-daemon master", ("invalid option `--stop-daemon'", 2)),
        ("-L foo", ("unexpected argument foo", 2)),
        ("-L -n -- -c", ("unexpected argument -c", 2)),
        ("-A -t 10.2.2.3:80 -u 10.2.2.3:53 -s rr", ("multiple 'service-address' options specified", 2)),
        ("-a -t 10.2.2.3:80 -r 10.3.3.3 -i -g", ("multiple 'forwarding-method' options specified", 2)),
        ("-a -t 10.2.2.3:80 -r 10.3.3.3 -i -w 1 -w 2", ("multiple 'weight' options specified", 2)),
        ("-L -n -n", ("multiple 'numeric' options specified", 2)),
        ("-A -t 10.2.2.3 -s rr", ("Zero port specified for non-persistent service", 2)),
        ("-E -t 10.2.2.3:0 -s rr", ("Zero port specified for non-persistent service", 2)),
        ("-a -t 10.2.2.3:80 -r 10.3.3.3 --tun-type ipip", ("Tunnel options conflict with forward method", 2)),
        (
            "-a -t 10.2.2.3:80 -r 10.3.3.3 -g --tun-type ipip",
            ("Tunnel options conflict with forward method", 2),
        ),
        ("-a -t 10.2.2.3:80 -r 10.3.3.3 -i --tun-type vxlan", ("illegal tunnel type specified", 2)),
        ("-L -c --stats", ("options conflicts in the list command", 2)),
        ("-L --stats -n -c", ("options conflicts in the list command", 2)),
        ("-L -c --rate", ("options conflicts in the list command", 2)),
        ("-L -c -c", ("multiple 'connection' options specified", 2)),
        ("-L -c foo", ("unexpected argument foo", 2)),
        (
            "-L -c -u 10.2.2.3:53",
            ("The option 'service-address' conflicts with the 'connection' option in the 'list' command", 2),
        ),
        ("-S -c", ("Illegal 'connection' option with the 'save' command", 2)),
        ("-Z -c", ("Illegal 'connection' option with the 'zero' command", 2)),
        ("-A -t 10.2.2.3:80 -s rr -c", ("Illegal 'connection' option with the 'add-service' command", 2)),
    ],
)
def test_ipvsadm_errors(line: str, expected: tuple[str, int]) -> None:
    assert error(line) == expected


def test_zero_port_is_fine_when_persistent() -> None:
    assert p("-A -t 10.2.2.3 -s rr -p").service == ServiceKey(Protocol.TCP, VIP, 0)


def test_a_bad_value_before_an_unknown_option_wins() -> None:
    assert error("-A -t nowhere --bogus") == ("illegal virtual server address[:port] specified", 2)
    assert error("-A --bogus -t nowhere") == ("--bogus: unknown option", 255)


def test_option_errors_come_before_leftovers_and_the_table() -> None:
    assert error("-C foo -w 70000") == ("illegal weight specified", 2)
    assert error("-C foo -w 7") == ("unexpected argument foo", 2)
    assert error("-C -w 7") == ("Illegal 'weight' option with the 'flush' command", 2)


# -- what pyvs does not support yet --------------------------------------------------

NO_DR = (
    "pyvsadm: ipvsadm's default forwarding method, -g (gatewaying), is not supported yet: "
    "pyvs forwards in tunnel mode only, add -i"
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("-a -t 10.2.2.3:80 -r 10.3.3.3", NO_DR),
        ("-e -t 10.2.2.3:80 -r 10.3.3.3 -w 3", NO_DR),
        (
            "-a -t 10.2.2.3:80 -r 10.3.3.3 -g",
            "pyvsadm: forwarding method -g (gatewaying) is not supported yet: "
            "pyvs forwards in tunnel mode only (-i)",
        ),
        (
            "-a -t 10.2.2.3:80 -r 10.3.3.3 --masquerading",
            "pyvsadm: forwarding method -m (masquerading) is not supported yet: "
            "pyvs forwards in tunnel mode only (-i)",
        ),
        (
            "-a -t 10.2.2.3:80 -r 10.3.3.3 -i --tun-type gue --tun-port 6080",
            "pyvsadm: tunnel type 'gue' is not supported yet (supported: ipip)",
        ),
        ("-A -f 1 -s rr", "pyvsadm: option --fwmark-service (-f) is not supported yet"),
        ("--start-daemon master", "pyvsadm: the --start-daemon command is not supported yet"),
        ("-A -t [2001:db8::1]:80 -s rr", "pyvsadm: IPv6 address '[2001:db8::1]:80' is not supported yet"),
        ("-D -u 2001:db8::1", "pyvsadm: IPv6 address '2001:db8::1' is not supported yet"),
        ("-a -t 10.2.2.3:80 -r [2001:db8::2] -i", None),
    ],
)
def test_not_supported_yet(line: str, expected: str | None) -> None:
    if expected is None:  # a bracket without ":port" is no address at all in ipvsadm
        assert error(line) == ("illegal real server address[:port] specified", 2)
    else:
        assert error(line) == (expected, 2)


def test_brackets_around_ipv4_lose_the_port_as_in_ipvsadm() -> None:
    assert p("-D -t [10.2.2.3]:80").service == ServiceKey(Protocol.TCP, VIP, 0)


# -- helpers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "low", "high", "value"),
    [
        ("0", 0, 10, 0),
        ("10", 0, 10, 10),
        ("11", 0, 10, None),
        ("-1", 0, 10, None),
        ("-1", -5, 10, -1),
        ("\t+3", 0, 10, 3),
        ("3\n", 0, 10, None),
        ("", 0, 10, None),
        ("٣", 0, 10, None),  # an Arabic-Indic digit is no C digit
        ("9" * 5000, 0, 2**31 - 1, None),  # beyond Python's 4,300-digit limit of int(): out of range, no ValueError
        ("-" + "9" * 5000, -(2**31), 10, None),
        ("9223372036854775808", 0, 2**31 - 1, None),  # LONG_MAX + 1: strtol's ERANGE
        ("0" * 5000 + "7", 0, 10, 7),  # leading zeros are no digits of the number, as for strtol
        (" -" + "0" * 5000 + "3", -5, 10, -3),
    ],
)
def test_string_to_number(text: str, low: int, high: int, value: int | None) -> None:
    assert string_to_number(text, low, high) == value


def test_parse_host_port_without_a_port() -> None:
    parsed = parse_host_port("rs1.example.test", Protocol.TCP, RESOLVER)
    assert parsed is not None
    assert (parsed.address, parsed.port) == (RIP, None)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("-A -t 10.2.2.3:80 -s rr\n", ["-A", "-t", "10.2.2.3:80", "-s", "rr"]),
        (
            "ipvsadm -a -t 10.2.2.3:80\t-r 10.3.3.3 -i\r\n",
            ["-a", "-t", "10.2.2.3:80", "-r", "10.3.3.3", "-i"],
        ),
        ("pyvsadm -C", ["-C"]),
        ("   \n", []),
        ("# a comment -C\n", []),
        ("  #-C\n", []),
    ],
)
def test_rule_words(line: str, words: list[str]) -> None:
    assert rule_words(line) == words


@pytest.mark.parametrize(
    ("argv0", "name"),
    [
        ("/usr/local/bin/pyvsadm", "pyvsadm"),
        ("lvsadm", "lvsadm"),
        ("/work/src/pyvs/cli/ipvsadm.py", "pyvsadm"),
        ("", "pyvsadm"),
    ],
)
def test_program_name(argv0: str, name: str) -> None:
    assert program_name(argv0) == name


@pytest.mark.parametrize(
    ("line", "flags", "error"),
    [
        ("-A -t 10.2.2.3:80 -s sh -b sh-fallback,sh-port", 0x18, None),
        ("-A -t 10.2.2.3:80 -s sh -b sh-port,,sh-port", 0x10, None),
        ("-A -t 10.2.2.3:80 -s rr -b flag-1,flag-3", 0x28, None),
        ("-A -t 10.2.2.3:80 -b flag-2 -s sh", 0x10, None),  # read once -s is known, wherever it stands
        ("-A -t 10.2.2.3:80 -s rr -b sh-port", 0, "incompatible scheduler flag `sh-port'"),
        ("-A -t 10.2.2.3:80 -b sh-port", 0, "incompatible scheduler flag `sh-port'"),  # wlc, the default
        ("-A -t 10.2.2.3:80 -s sh -b mh-port", 0, "incompatible scheduler flag `mh-port'"),
        ("-A -t 10.2.2.3:80 -s sh -b sh-port,bogus", 0, "invalid scheduler flag `bogus'"),
        ("-A -t 10.2.2.3:80 -s sh -b sh-port -b sh-port", 0, "multiple 'sched-flags' options specified"),
        ("-a -t 10.2.2.3:80 -r 10.3.3.3 -i -b flag-1", 0,
         "Illegal 'sched-flags' option with the 'add-server' command"),
        # ipvsadm reads -b before its legality table: the flag's error comes first
        ("-D -t 10.2.2.3:80 -b bogus", 0, "invalid scheduler flag `bogus'"),
    ],
)
def test_sched_flags(line: str, flags: int, error: str | None) -> None:
    if error is None:
        assert parse(line.split()).sched_flags == flags
        return
    with pytest.raises(CliError) as raised:
        parse(line.split())
    assert (str(raised.value), raised.value.status) == (error, 2)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # values checked as ipvsadm checks them, with its words
        ("-A -t 10.2.2.3:80 -s rr -p 300 -M no.such.host", "illegal virtual server persistent mask specified"),
        ("-a -t 10.2.2.3:80 -r 10.3.3.3 -i -x -1", "illegal u_threshold specified"),
        ("-a -t 10.2.2.3:80 -r 10.3.3.3 -i -y abc", "illegal l_threshold specified"),
        ("-a -t 10.2.2.3:80 -r 10.3.3.3 -i --tun-port 0", "illegal tunnel port specified"),
        ("-A -f 0 -s rr", "invalid fwmark value `0' specified"),
        ("-A -t 10.2.2.3:80 -s rr -6", "-6 used before -f\n"),
        ("--set 900 120", "--set option requires 3 timeout values"),
        ("--set 900 120 abc", "invalid timeout value `abc' specified"),
        ("--set 900 120 300 7", "unexpected argument 7"),
        ("--start-daemon bogus", "illegal start-daemon parameter specified"),
        ("--stop-daemon bogus", "illegal start_daemon specified"),
        ("--start-daemon master --mcast-ttl 0", "illegal mcast-ttl specified"),
        ("--start-daemon master --mcast-port 70000", "illegal mcast-port specified"),
        ("--start-daemon master --sync-maxlen 65508", "illegal sync-maxlen specified"),
        ("--start-daemon master --mcast-group 10.0.0.1", "invalid IPv4 mcast-group `10.0.0.1'"),
        ("--start-daemon master --mcast-group ff02::1x", "invalid IPv6 mcast-group `ff02::1x'"),
        ("--start-daemon master --syncid 256", "illegal syncid specified"),
        # the whole legality table, whatever pyvs supports
        ("-L -M 255.0.0.0", "Illegal 'netmask' option with the 'list' command"),
        ("-a -t 10.2.2.3:80 -r 10.3.3.3 -M 1.2.3.4", "Illegal 'netmask' option with the 'add-server' command"),
        ("-L --pe sip", "Illegal 'pe' option with the 'list' command"),
        ("-L -c --daemon", "The option 'daemon' conflicts with the 'connection' option in the 'list' command"),
        ("-D -t 10.2.2.3:80 -o", "Illegal 'ops' option with the 'delete-service' command"),
        ("--stop-daemon master --mcast-interface eth0",
         "Illegal 'mcast-interface' option with the 'stop-daemon' command"),
        # ipvsadm's checks after the table
        ("-A -t 10.2.2.3:80 -s rr -o", "One-Packet Scheduling is only for UDP virtual services"),
        ("-L --timeout --persistent-conn", "options conflicts in the list command"),
        ("-a -t 10.2.2.3:80 -r 10.3.3.3 -g --tun-nocsum", "Tunnel options conflict with forward method"),
        ("-a -t 10.2.2.3:80 -r 10.3.3.3 -i --tun-csum", "Illegal 'tun-csum' option with the 'ipip' tunnel type"),
        ("-a -t 10.2.2.3:80 -r 10.3.3.3 -i --tun-type gue",
         "You need to supply the 'tun-port' option for the 'gue' tunnel type"),
        ("-a -t 10.2.2.3:80 -r 10.3.3.3 -i --tun-type gre --tun-csum --tun-nocsum",
         "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gre' tunnel type"),
        # then pyvs's own refusals, only for command lines ipvsadm takes
        ("-A -t 10.2.2.3:80 -s rr --pe sip",
         "pyvsadm: option --pe is not supported: pyvs has no persistence engine (sip is not planned)"),
        ("-A --sctp-service 10.2.2.3:80 -s rr", "pyvsadm: option --sctp-service is not supported yet"),
        ("-A -f 1 -6 -s rr", "pyvsadm: option --fwmark-service (-f) is not supported yet"),
        ("--stop-daemon backup", "pyvsadm: the --stop-daemon command is not supported yet"),
        ("-L --sort -n", None),
    ],
)
def test_every_option_is_checked_as_ipvsadm_checks_it(line: str, expected: str | None) -> None:
    if expected is None:
        assert parse(line.split(), resolver=StaticResolver()).kind is Cmd.LIST
        return
    assert error(line) == (expected, 2)


def test_set_takes_three_timeouts_and_thresholds_their_numbers() -> None:
    assert p("--set 900 0 30").timeouts == (900, 0, 30)
    assert error("--set 900 0") == ("--set option requires 3 timeout values", 2)
    assert error("--set 900 x 30") == ("invalid timeout value `x' specified", 2)
    command = p("-a -t 10.2.2.3:80 -r 10.3.3.3 -i -x 10 -y 5")
    assert (command.u_threshold, command.l_threshold) == (10, 5)
