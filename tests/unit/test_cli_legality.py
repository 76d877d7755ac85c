# ruff: noqa: E501 - one row per command line and its verbatim ipvsadm message
"""The command/option legality table of pyvsadm against ipvsadm's commands_v_options (pure).

The expected rows below are ipvsadm 1.31's table, cut down to the columns
pyvsadm has: a change to LEGALITY must show up here as a difference from it.
"""

from __future__ import annotations

import pytest

from pyvs.cli.address import StaticResolver
from pyvs.cli.command import LEGALITY, Cmd, Need, Opt, check_legality
from pyvs.cli.errors import CliError
from pyvs.cli.parse import parse

# ipvsadm 1.31's commands_v_options, row for row, in its column order (see COLUMNS).
IPVSADM_ROWS = {
    Cmd.ADD_SERVICE: "xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
    Cmd.EDIT_SERVICE: "xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
    Cmd.DELETE_SERVICE: "xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    Cmd.FLUSH: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    Cmd.LIST: " 11xxxxxxxxx11       xxxxxxx xxxxx",
    Cmd.ADD_SERVER: "xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
    Cmd.DELETE_SERVER: "xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx",
    Cmd.EDIT_SERVER: "xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
    Cmd.SET_TIMEOUTS: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    Cmd.START_DAEMON: "xxxxxxxxxxx xxxxxxx xxxx    xxxxxx",
    Cmd.STOP_DAEMON: "xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx",
    Cmd.RESTORE: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    Cmd.SAVE: " xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    Cmd.ZERO: "xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
}

# ipvsadm's optnames[], in order.
IPVSADM_OPTNAMES = [
    "numeric", "connection", "service-address", "scheduler", "persistent", "netmask", "real-server",
    "forwarding-method", "weight", "u-threshold", "l-threshold", "mcast-interface", "timeout", "daemon",
    "stats", "rate", "thresholds", "persistent-conn", "nosort", "syncid", "exact", "ops", "pe",
    "sched-flags", "mcast-group", "mcast-port", "mcast-ttl", "sync-maxlen", "tun-info", "tun-type",
    "tun-port", "tun-nocsum", "tun-csum", "tun-remcsum",
]
COLUMNS = list(Opt)


def test_columns_keep_ipvsadm_order_and_names() -> None:
    assert [opt.value for opt in Opt] == IPVSADM_OPTNAMES


def test_command_names_are_ipvsadm_names() -> None:
    assert [cmd.value for cmd in LEGALITY] == [
        "add-service",
        "edit-service",
        "delete-service",
        "flush",
        "list",
        "add-server",
        "delete-server",
        "edit-server",
        "set",
        "start-daemon",
        "stop-daemon",
        "restore",
        "save",
        "zero",
    ]


@pytest.mark.parametrize("cmd", list(IPVSADM_ROWS))
def test_rows_match_ipvsadm(cmd: Cmd) -> None:
    row = "".join(LEGALITY[cmd][opt].value for opt in COLUMNS)
    assert row == IPVSADM_ROWS[cmd]


def compulsory(cmd: Cmd) -> set[Opt]:
    return {opt for opt, need in LEGALITY[cmd].items() if need is Need.COMPULSORY}


CELLS = [(cmd, opt) for cmd in LEGALITY for opt in COLUMNS]


@pytest.mark.parametrize(("cmd", "opt"), [(c, o) for c, o in CELLS if LEGALITY[c][o] is Need.ILLEGAL])
def test_every_illegal_cell_is_refused_with_ipvsadm_message(cmd: Cmd, opt: Opt) -> None:
    with pytest.raises(CliError) as info:
        check_legality(cmd, compulsory(cmd) | {opt})
    assert str(info.value) == f"Illegal '{opt.value}' option with the '{cmd.value}' command"
    assert info.value.status == 2


@pytest.mark.parametrize(("cmd", "opt"), [(c, o) for c, o in CELLS if LEGALITY[c][o] is Need.COMPULSORY])
def test_every_compulsory_cell_is_required(cmd: Cmd, opt: Opt) -> None:
    with pytest.raises(CliError) as info:
        check_legality(cmd, compulsory(cmd) - {opt})
    assert str(info.value) == (f"You need to supply the '{opt.value}' option for the '{cmd.value}' command")
    assert info.value.status == 2


@pytest.mark.parametrize(("cmd", "opt"), [(c, o) for c, o in CELLS if LEGALITY[c][o] is Need.OPTIONAL])
def test_every_optional_cell_is_accepted(cmd: Cmd, opt: Opt) -> None:
    check_legality(cmd, compulsory(cmd) | {opt})


def test_exclusive_options_conflict_naming_the_first() -> None:
    with pytest.raises(CliError) as info:
        check_legality(Cmd.LIST, {Opt.SERVICE, Opt.CONNECTION})
    assert str(info.value) == (
        "The option 'service-address' conflicts with the 'connection' option in the 'list' command"
    )


def test_one_exclusive_option_is_fine() -> None:
    check_legality(Cmd.LIST, {Opt.SERVICE, Opt.NUMERIC, Opt.STATS, Opt.EXACT})
    check_legality(Cmd.LIST, {Opt.CONNECTION})


def test_first_failing_column_wins() -> None:
    # numeric (column 1) is reported before the missing service-address (column 3).
    with pytest.raises(CliError) as info:
        check_legality(Cmd.ADD_SERVER, {Opt.NUMERIC})
    assert str(info.value) == "Illegal 'numeric' option with the 'add-server' command"
    # service-address (column 3) is reported before the illegal forwarding-method (column 7).
    with pytest.raises(CliError) as info:
        check_legality(Cmd.ADD_SERVICE, {Opt.FORWARD})
    assert str(info.value) == "You need to supply the 'service-address' option for the 'add-service' command"


RESOLVER = StaticResolver()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("-A -t 10.2.2.3:80 -s rr -i", "Illegal 'forwarding-method' option with the 'add-service' command"),
        ("-A -t 10.2.2.3:80 -s rr -w 3", "Illegal 'weight' option with the 'add-service' command"),
        ("-A -t 10.2.2.3:80 -s rr -n", "Illegal 'numeric' option with the 'add-service' command"),
        ("-A -s rr", "You need to supply the 'service-address' option for the 'add-service' command"),
        (
            "-E -t 10.2.2.3:80 -s rr -r 10.3.3.3",
            "Illegal 'real-server' option with the 'edit-service' command",
        ),
        ("-D -t 10.2.2.3:80 -s rr", "Illegal 'scheduler' option with the 'delete-service' command"),
        ("-D -t 10.2.2.3:80 -p", "Illegal 'persistent' option with the 'delete-service' command"),
        ("-C -n", "Illegal 'numeric' option with the 'flush' command"),
        ("-C -t 10.2.2.3:80", "Illegal 'service-address' option with the 'flush' command"),
        ("-a -t 10.2.2.3:80 -i", "You need to supply the 'real-server' option for the 'add-server' command"),
        ("-a -r 10.3.3.3 -i", "You need to supply the 'service-address' option for the 'add-server' command"),
        (
            "-a -t 10.2.2.3:80 -r 10.3.3.3 -i -s rr",
            "Illegal 'scheduler' option with the 'add-server' command",
        ),
        ("-e -t 10.2.2.3:80 -r 10.3.3.3 -i -p", "Illegal 'persistent' option with the 'edit-server' command"),
        ("-d -t 10.2.2.3:80 -r 10.3.3.3 -w 2", "Illegal 'weight' option with the 'delete-server' command"),
        (
            "-d -t 10.2.2.3:80 -r 10.3.3.3 -i",
            "Illegal 'forwarding-method' option with the 'delete-server' command",
        ),
        ("-L -s rr", "Illegal 'scheduler' option with the 'list' command"),
        ("-L --tun-type ipip", "Illegal 'tun-type' option with the 'list' command"),
        (
            "-L -c -t 10.2.2.3:80",
            "The option 'service-address' conflicts with the 'connection' option in the 'list' command",
        ),
        (
            "-A -t 10.2.2.3:80 -s rr --tun-type ipip",
            "Illegal 'tun-type' option with the 'add-service' command",
        ),
        ("-R -n", "Illegal 'numeric' option with the 'restore' command"),
        ("-S --stats", "Illegal 'stats' option with the 'save' command"),
        ("-S -t 10.2.2.3:80", "Illegal 'service-address' option with the 'save' command"),
        ("-Z -n", "Illegal 'numeric' option with the 'zero' command"),
        ("-Z --stats", "Illegal 'stats' option with the 'zero' command"),
    ],
)
def test_parse_applies_the_table(line: str, expected: str) -> None:
    with pytest.raises(CliError) as info:
        parse(line.split(), resolver=RESOLVER)
    assert str(info.value) == expected
    assert info.value.status == 2


@pytest.mark.parametrize(
    "line",
    [
        "-A -t 10.2.2.3:80 -s rr -p 60",
        "-E -t 10.2.2.3:80 -s wrr",
        "-D -t 10.2.2.3:80",
        "-C",
        "-L",
        "-L -n --stats --exact",
        "-L -n -t 10.2.2.3:80 --tun-info",
        "-a -t 10.2.2.3:80 -r 10.3.3.3 -i -w 5 --tun-type ipip",
        "-e -t 10.2.2.3:80 -r 10.3.3.3 -i -w 0",
        "-d -t 10.2.2.3:80 -r 10.3.3.3",
        "-R",
        "-S",
        "-S -n",
        "-Z",
        "-Z -t 10.2.2.3:80",
    ],
)
def test_legal_lines_parse(line: str) -> None:
    parse(line.split(), resolver=RESOLVER)
