"""The Maglev lookup table built in the kernel by bpf/maglev_build.bpf.c.

Python computes each backend's (offset, skip, turns) exactly as the pure
reference pyvs.sched.maglev does, writes them into the mmapped array map
maglev_backends and runs the SEC("syscall") program through
BPF_PROG_TEST_RUN; the program fills maglev_table, which Python reads back
through its own mapping. bpf_loop allows 1 << 23 iterations per run, so a
large table takes several runs: the program keeps its loop state in a
global and reports `done` in its context.

KernelMaglev keeps the object loaded, so that a benchmark can time a build
(write_params + run) apart from the load and from read_table.
"""

from __future__ import annotations

import ctypes
import mmap
from array import array
from collections.abc import Sequence

from pyvs.bpf import build
from pyvs.dataplane import libbpf
from pyvs.model.errors import DataplaneError
from pyvs.packet import abi
from pyvs.sched.maglev import Backend, check_table_size, table_inputs

LOOP_MAX = 1 << 23  # bpf_loop's limit on iterations per run (MAGLEV_LOOP_MAX in the C)
# An array map's elements sit round_up(value_size, 8) bytes apart in its mmapped area.
TABLE_STRIDE = 8  # maglev_table: a __u32 per slot
BACKEND_WORDS = ctypes.sizeof(abi.MaglevBackend) // 4  # offset, skip, turns, next


class KernelMaglev:
    """The loaded maglev_build object, sized for tables of up to max_m slots and max_backends backends."""

    def __init__(self, max_m: int, max_backends: int) -> None:
        if not 2 <= max_m <= LOOP_MAX or not 1 <= max_backends <= LOOP_MAX:
            raise ValueError(f"capacity ({max_m} slots, {max_backends} backends) outside [2, {LOOP_MAX}]")
        self.max_m = max_m
        self.max_backends = max_backends
        self.runs = 0  # program runs of the last build
        self.probes = 0  # slots tested by the last build
        self._obj = libbpf.BpfObject(build.object_path("maglev_build"))
        try:
            self._obj.set_max_entries("maglev_table", max_m)
            self._obj.set_max_entries("maglev_taken", (max_m + 63) // 64)
            self._obj.set_max_entries("maglev_backends", max_backends)
            self._obj.load()
            self._prog = self._obj.program_fd("maglev_build")
            self._table = mmap.mmap(self._obj.map_fd("maglev_table"), max_m * TABLE_STRIDE)
            self._backends = mmap.mmap(self._obj.map_fd("maglev_backends"), max_backends * BACKEND_WORDS * 4)
        except BaseException:
            self.close()
            raise

    def write_params(self, params: Sequence[tuple[int, int]], turns: Sequence[int]) -> None:
        """Backend i's offset, skip and turns into maglev_backends[i] (one memory copy, no syscall)."""
        if len(params) != len(turns) or not 1 <= len(params) <= self.max_backends:
            raise ValueError(f"need 1 to {self.max_backends} backends, with one turns value each")
        words = array("I")
        for (offset, skip), t in zip(params, turns, strict=True):
            words.extend((offset, skip, t, 0))
        self._backends[: len(words) * 4] = words.tobytes()

    def run(self, m: int, n: int, budget: int = LOOP_MAX) -> int:
        """Fill the first m slots from the first n backends written; the number of program runs.

        `budget` caps the loop iterations of one run (tests lower it to exercise the continuation).
        """
        check_table_size(m)
        if m > self.max_m or not 1 <= n <= self.max_backends:
            raise ValueError(f"table of {m} slots from {n} backends exceeds the maps "
                             f"({self.max_m} slots, {self.max_backends} backends)")
        args = abi.MaglevArgs(m=m, n=n, budget=budget, start=1)
        runs = 0
        while True:
            rc = libbpf.prog_run_syscall(self._prog, args)
            runs += 1
            if rc < 0:
                raise DataplaneError(-rc, f"maglev_build (run {runs}, M={m}, N={n})")
            if args.done:
                break
            args.start = 0
        self.runs, self.probes = runs, args.probes
        return runs

    def read_table(self, m: int) -> list[int]:
        """The first m slots of maglev_table, read through the mapping."""
        if m > self.max_m:
            raise ValueError(f"table of {m} slots exceeds the map ({self.max_m})")
        with memoryview(self._table) as view, view[: m * TABLE_STRIDE].cast("I") as words:
            return words[::2].tolist()  # each 8-byte element starts with its __u32

    def build(self, params: Sequence[tuple[int, int]], turns: Sequence[int], m: int) -> list[int]:
        self.write_params(params, turns)
        self.run(m, len(params))
        return self.read_table(m)

    def close(self) -> None:
        for name in ("_table", "_backends"):
            area = self.__dict__.pop(name, None)
            if area is not None:
                area.close()
        self._obj.close()

    def __enter__(self) -> KernelMaglev:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_table_in_kernel(backends: Sequence[Backend], m: int) -> list[int]:
    """pyvs.sched.maglev.build_table, with the populate loop run by the BPF program."""
    params, turns = table_inputs(backends, m)
    with KernelMaglev(m, len(backends)) as kernel:
        return kernel.build(params, turns, m)
