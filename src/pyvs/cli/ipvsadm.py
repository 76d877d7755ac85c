"""pyvsadm: ipvsadm's command line for pyvs, with ipvsadm's syntax, output, messages and exit codes.

This module runs what parse.py parses. Three steps, as in ipvsadm:

1. parse(argv) -> Command: parse.py (pure; parse is re-exported here).
2. run(command, dataplane) -> exit status. Edits read the data plane's Config,
   apply the pure edit (edit.apply) and commit old and new; -R applies every
   line or none; -L/-S render the data plane's status, -L -c its connections
   (render.py); -h prints the synopsis and the help lines of parse.WORDS.
3. main() -> exit status: the console script. It opens the XDP data plane only
   for the commands that need one.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TextIO

from pyvs import __version__
from pyvs.cli.address import NUMERIC, Namer, Resolver, SystemNamer
from pyvs.cli.command import Cmd, Command, Opt
from pyvs.cli.edit import apply
from pyvs.cli.errors import EXIT_LIST, CliError, NotSupported, exit_status, message
from pyvs.cli.parse import DEFAULT_PROGRAM, command_help, option_help, parse
from pyvs.cli.render import (
    IPVS_VERSION,
    ListFormat,
    list_all,
    list_connections,
    list_service,
    list_timeouts,
    save,
)
from pyvs.cli.restore import RestoreError, restore, rule_words
from pyvs.dataplane.base import Dataplane
from pyvs.model.errors import LbError, NoSuchService

if TYPE_CHECKING:
    from pyvs.dataplane.xdp import XdpDataplane

__all__ = [
    "main",
    "open_dataplane",
    "parse",
    "program_name",
    "report",
    "rule_words",
    "run",
    "usage",
    "version",
]

# -- run ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    command: Command
    dataplane: Dataplane | None
    stdin: TextIO
    stdout: TextIO
    stderr: TextIO
    resolver: Resolver | None
    namer: Namer | None

    @property
    def program(self) -> str:
        return self.command.program

    def plane(self) -> Dataplane:
        if self.dataplane is None:
            raise ValueError(f"{self.command.kind.value} needs a data plane")
        return self.dataplane


def run(
    command: Command,
    dataplane: Dataplane | None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    resolver: Resolver | None = None,
    namer: Namer | None = None,
) -> int:
    """Execute `command` against `dataplane`; its exit status.

    Errors are printed on `stderr` the way ipvsadm prints them. `dataplane`
    may be None for -h and -v only. `resolver` serves -R's lines and `namer`
    the listings without -n (defaults: the system's).
    """
    context = _Context(
        command,
        dataplane,
        stdin if stdin is not None else sys.stdin,
        stdout if stdout is not None else sys.stdout,
        stderr if stderr is not None else sys.stderr,
        resolver,
        namer,
    )
    try:
        return _RUNNERS.get(command.kind, _edit)(context)
    except LbError as error:
        return report(error, context.stderr, command.program)


def report(error: LbError, stream: TextIO, program: str) -> int:
    """Print `error` as ipvsadm would; its exit status."""
    stream.write(message(error, program) + "\n")
    return exit_status(error)


def _help(context: _Context) -> int:
    context.stdout.write(usage(context.program))
    return 0


def _version(context: _Context) -> int:
    context.stdout.write(version(context.program) + "\n")
    return 0


def _edit(context: _Context) -> int:
    dataplane = context.plane()
    old = dataplane.read()
    dataplane.commit(old, apply(context.command, old))
    return 0


def _list(context: _Context) -> int:
    command = context.command
    dataplane = context.plane()
    if command.has(Opt.CONNECTION):
        context.stdout.write(list_connections(dataplane.connections(), _namer(context),
                                              command.has(Opt.PERSISTENT_CONN)))
        return 0
    if command.has(Opt.DAEMON):
        return 0  # ipvsadm lists the running sync daemons: pyvs has none
    if command.service is None and command.has(Opt.TIMEOUT):
        context.stdout.write(list_timeouts(*dataplane.timeouts()))
        return 0
    if command.has(Opt.RATE) and not dataplane.estimating():
        raise NotSupported("--rate needs the rate estimator, which runs on Linux 5.19 and later "
                           "(bpf_map_lookup_percpu_elem): this director has none")
    fmt = ListFormat(
        stats=command.has(Opt.STATS),
        rate=command.has(Opt.RATE),
        exact=command.has(Opt.EXACT),
        tun_info=command.has(Opt.TUN_INFO),
        thresholds=command.has(Opt.THRESHOLDS),
        persistent_conn=command.has(Opt.PERSISTENT_CONN),
        nosort=command.has(Opt.NOSORT),
    )
    statuses = dataplane.status()
    namer = _namer(context)
    if command.service is None:
        table_size = dataplane.connection_table_size()
        context.stdout.write(list_all(statuses, table_size, fmt, namer))
        return 0
    for status in statuses:
        if status.service.key == command.service:
            context.stdout.write(list_service(status, fmt, namer))
            return 0
    raise CliError("No such service", EXIT_LIST)


def _save(context: _Context) -> int:
    context.stdout.write(save(context.plane().status(), _namer(context)))
    return 0


def _zero(context: _Context) -> int:
    dataplane = context.plane()
    key = context.command.service
    if key is not None and key not in dataplane.read():
        raise NoSuchService()
    dataplane.zero(key)
    return 0


def _restore(context: _Context) -> int:
    """-R: every line of stdin is one rule; all are applied in one commit, or none."""
    dataplane = context.plane()
    with _collector_paused():
        old = dataplane.read()
        try:
            config = restore(context.stdin, old, program=context.program, resolver=context.resolver)
        except RestoreError as failed:
            status = report(failed.error, context.stderr, context.program)
            context.stderr.write(f"{context.program}: -R stopped at line {failed.number}: "
                                 "no rule was restored\n")
            return status
        if dict(config) != dict(old):
            dataplane.commit(old, config)
    return 0


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off: a large -R makes hundreds of thousands of
    objects that live to the end, which it would scan again and again (it
    took half of planning's time) for no cycle at all."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _namer(context: _Context) -> Namer:
    if context.command.has(Opt.NUMERIC):
        return NUMERIC
    return context.namer if context.namer is not None else SystemNamer()


def _set_timeouts(context: _Context) -> int:
    context.plane().set_timeouts(*context.command.timeouts)
    return 0


_RUNNERS: Final[Mapping[Cmd, Callable[[_Context], int]]] = {
    Cmd.SET_TIMEOUTS: _set_timeouts,
    Cmd.HELP: _help,
    Cmd.VERSION: _version,
    Cmd.LIST: _list,
    Cmd.SAVE: _save,
    Cmd.ZERO: _zero,
    Cmd.RESTORE: _restore,
}

# -- help and version -------------------------------------------------------------


def version(program: str = DEFAULT_PROGRAM) -> str:
    """The version line, shaped like ipvsadm's."""
    return f"{program} v{__version__} (ipvsadm v1.31 syntax, IPVS v{IPVS_VERSION})"


def usage(program: str = DEFAULT_PROGRAM) -> str:
    """-h: the version, the synopsis and the commands and options of WORDS."""
    p = program
    lines = [
        version(p),
        "Usage:",
        f"  {p} -A|E -t|u service-address [-s scheduler] [-p [timeout]] [-M netmask] [-b sched-flags] [-o]",
        f"  {p} -D -t|u service-address",
        f"  {p} -C",
        f"  {p} -R",
        f"  {p} -S [-n]",
        f"  {p} -a|e -t|u service-address -r server-address -i [-w weight] [-x upper-threshold] "
        "[-y lower-threshold]",
        f"  {p} -d -t|u service-address -r server-address",
        f"  {p} -L|l [-t|u service-address] [options]",
        f"  {p} -Z [-t|u service-address]",
        f"  {p} --set tcp tcpfin udp",
        f"  {p} -h",
        "",
        "Commands:",
        "Either long or short options are allowed.",
        *command_help(),
        "",
        "Options:",
        *option_help(),
    ]
    return "".join(line + "\n" for line in lines)


# -- main -----------------------------------------------------------------------


def open_dataplane() -> XdpDataplane:
    """The XDP data plane of this network namespace (imported late: it needs libbpf)."""
    from pyvs.dataplane.xdp import XdpDataplane

    return XdpDataplane.open_pinned()


def main(argv: Sequence[str] | None = None) -> int:
    """The pyvsadm console script; `argv` excludes the program name."""
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):  # bytes that are no UTF-8 pass through, as in ipvsadm
            stream.reconfigure(errors="surrogateescape")
    if argv is None:
        program, args = program_name(sys.argv[0]), sys.argv[1:]
    else:
        program, args = DEFAULT_PROGRAM, list(argv)
    try:
        command = parse(args, program=program)
    except LbError as error:
        return report(error, sys.stderr, program)
    if not command.kind.needs_dataplane:
        return run(command, None)
    try:
        dataplane = open_dataplane()
    except (LbError, OSError, ImportError) as error:
        sys.stderr.write(f"{program}: cannot open the pyvs data plane: {error}\n")
        return 2
    try:
        return run(command, dataplane)
    finally:
        dataplane.close()


def program_name(argv0: str) -> str:
    """The name pyvsadm goes by in messages: argv[0]'s basename."""
    name = os.path.basename(argv0)
    if not name or name.endswith(".py") or name == "-c":
        return DEFAULT_PROGRAM
    return name


if __name__ == "__main__":
    raise SystemExit(main())
