"""The `pyvs bench` command: run the sections, print the table, write the JSON."""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pyvs.bench.runner import Figure, Options, document, table, write_json
from pyvs.child_env import PACKAGE_ROOT

# name on the command line -> module; the order is the table's.
SECTIONS: dict[str, str] = {
    "cost": "pyvs.bench.prog_cost",
    "rate": "pyvs.bench.packet_rate",
    "http": "pyvs.bench.http",
    "restore": "pyvs.bench.restore",
    "maglev": "pyvs.bench.maglev",
    "sweep": "pyvs.bench.sweep",
    "weights": "pyvs.bench.weight_changes",
}


def default_output() -> Path:
    """bench/results/latest.json of the source tree pyvs runs from, else of the current directory."""
    tree = Path(PACKAGE_ROOT).parent
    base = tree if (tree / "bench").is_dir() else Path.cwd()
    return base / "bench" / "results" / "latest.json"


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def convert(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
        return value

    return convert


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true",
                        help="one short repetition of each figure (what CI runs)")
    parser.add_argument("--reps", type=_positive(int), help="repetitions per figure (default 5)")
    parser.add_argument("--seconds", type=_positive(float), help="duration of each traffic run (default 5)")
    parser.add_argument("--repeat", type=_positive(int),
                        help="BPF_PROG_TEST_RUN repetitions per sample (default 1,000,000)")
    parser.add_argument("--only", action="append", choices=list(SECTIONS), metavar="SECTION",
                        help=f"run only these sections ({', '.join(SECTIONS)}); repeatable")
    parser.add_argument("--output", type=Path, help="where the JSON goes (default bench/results/latest.json)")


def options_from(args: argparse.Namespace) -> Options:
    base = Options.for_smoke() if args.smoke else Options()
    reps = base.reps if args.reps is None else args.reps
    seconds = base.seconds if args.seconds is None else args.seconds
    repeat = base.repeat if args.repeat is None else args.repeat
    return Options(reps=reps, seconds=seconds, repeat=repeat, smoke=base.smoke)


def words_of(args: argparse.Namespace) -> list[str]:
    """The options as they were given, for the record (the JSON's "command")."""
    words = ["--smoke"] if args.smoke else []
    for flag in ("reps", "seconds", "repeat", "output"):
        value = getattr(args, flag)
        if value is not None:
            words += [f"--{flag}", str(value)]
    for name in args.only or ():
        words += ["--only", name]
    return words


def run(args: argparse.Namespace) -> int:
    options = options_from(args)
    names = args.only or list(SECTIONS)
    figures: list[Figure] = []
    for name in SECTIONS:
        if name not in names:
            continue
        section: Callable[[Options], list[Figure]] = importlib.import_module(SECTIONS[name]).run
        started = time.monotonic()
        print(f"pyvs bench: {name} ...", file=sys.stderr, flush=True)
        figures += section(options)
        print(f"pyvs bench: {name} done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    command = shlex.join(["pyvs", "bench", *words_of(args)])
    doc = document(figures, options, command)
    text = table(figures, doc)
    print(f"$ {command}\n\n{text}")
    output = args.output or default_output()
    write_json(output, doc)
    output.with_suffix(".md").write_text(f"```sh\n{command}\n```\n\n{text}\n")
    print(f"\nwrote {output} and {output.with_suffix('.md')}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pyvs bench", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
