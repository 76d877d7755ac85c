"""A scanner for argv with the option syntax of popt, the parser ipvsadm is built with.

What popt accepts, and so what this scanner accepts:

- clustered short options: "-Ln" is "-L -n";
- a short option's argument glued to it ("-w5", "-w=5") or in the next word
  ("-w 5"), even when that word starts with "-";
- "--long=value" or "--long value";
- an optional argument (ipvsadm's "-p [timeout]") taken from the next word only
  when that word does not start with "-";
- "--" ends the options; every other word that is not an option is a leftover,
  which ipvsadm rejects only after all options were processed.

Rule: errors are raised lazily, in argv order, as popt reports them, so that a
bad value met earlier wins over an unknown option met later.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from pyvs.cli.errors import EXIT_REFUSED, CliError

K = TypeVar("K")

UNKNOWN_OPTION = "unknown option"
MISSING_ARGUMENT = "missing argument"
UNWANTED_ARGUMENT = "option does not take an argument"


class Arity(enum.Enum):
    """Whether an option takes an argument."""

    NONE = "none"
    REQUIRED = "required"
    OPTIONAL = "optional"


@dataclass(frozen=True, slots=True)
class OptionSpec(Generic[K]):
    """One option popt knows: its long name, short letter, arity and what it means."""

    key: K
    long: str
    short: str | None
    arity: Arity


@dataclass(frozen=True, slots=True)
class Occurrence(Generic[K]):
    """One option found in argv, with the word it came from (for error messages)."""

    spec: OptionSpec[K]
    word: str
    value: str | None


class PoptError(CliError):
    """popt refused a word: printed as "WORD: REASON", exit status 255."""

    def __init__(self, word: str, reason: str) -> None:
        super().__init__(f"{word}: {reason}", EXIT_REFUSED)
        self.word = word
        self.reason = reason


class OptionTable(Generic[K]):
    """The options popt knows, indexed once (pyvsadm -R scans every line with them)."""

    def __init__(self, specs: Iterable[OptionSpec[K]]) -> None:
        specs = list(specs)
        self.long = {spec.long: spec for spec in specs}
        self.short = {spec.short: spec for spec in specs if spec.short is not None}


class Scanner(Generic[K]):
    """Iterate over the options of argv (argv[0], the program, excluded).

    Words that are not options are collected in `leftovers` as the iteration
    goes; read it after the iteration ended.
    """

    def __init__(self, argv: Sequence[str], table: OptionTable[K]) -> None:
        self._argv = list(argv)
        self._next = 0
        self._long = table.long
        self._short = table.short
        self.leftovers: list[str] = []

    def __iter__(self) -> Iterator[Occurrence[K]]:
        while self._next < len(self._argv):
            word = self._take()
            if word == "--":
                self.leftovers.extend(self._argv[self._next :])
                self._next = len(self._argv)
            elif word.startswith("--"):
                yield self._long_option(word)
            elif word.startswith("-") and word != "-":
                yield from self._short_options(word)
            else:
                self.leftovers.append(word)

    def _take(self) -> str:
        word = self._argv[self._next]
        self._next += 1
        return word

    def _long_option(self, word: str) -> Occurrence[K]:
        name, equals, inline = word[2:].partition("=")
        spec = self._long.get(name)
        if spec is None:
            raise PoptError(word, UNKNOWN_OPTION)
        if spec.arity is Arity.NONE:
            if equals:
                raise PoptError(word, UNWANTED_ARGUMENT)
            return Occurrence(spec, word, None)
        if equals:
            return Occurrence(spec, word, inline)
        return Occurrence(spec, word, self._argument(spec, word))

    def _short_options(self, word: str) -> Iterator[Occurrence[K]]:
        position = 1
        while position < len(word):
            spec = self._short.get(word[position])
            if spec is None:
                raise PoptError(word, UNKNOWN_OPTION)
            position += 1
            if spec.arity is Arity.NONE:
                yield Occurrence(spec, word, None)
                continue
            rest = word[position:]
            if rest:
                yield Occurrence(spec, word, rest[1:] if rest.startswith("=") else rest)
            else:
                yield Occurrence(spec, word, self._argument(spec, word))
            return

    def _argument(self, spec: OptionSpec[K], word: str) -> str | None:
        """The option's argument from the next word, as popt takes it."""
        if self._next < len(self._argv):
            following = self._argv[self._next]
            if not (spec.arity is Arity.OPTIONAL and following.startswith("-")):
                return self._take()
        if spec.arity is Arity.REQUIRED:
            raise PoptError(word, MISSING_ARGUMENT)
        return None
