"""Control plane: building a Maglev lookup table, in pure Python and in a BPF program.

For N real servers (10, 100, 1,000) and table sizes M (65537, the Maglev
paper's, and 655373), both builds start from the same per-backend (offset,
skip, turns), computed once beforehand and not timed in either (hashing the
backends with BLAKE2b: about 5 ms for 1,000 here; `extra` has it):

- python: pyvs.sched.maglev.populate, the reference.
- kernel: writing the parameters into the mmapped map plus running
  bpf/maglev_build.bpf.c through BPF_PROG_TEST_RUN until it is done (one run
  per 1 << 23 bpf_loop iterations). Loading the object is not timed; reading
  the table back through the mapping is timed apart, in `extra`.

The kernel figure's baseline is the Python build of the same N and M, so its
ratio is kernel / python. The paper's own figures (1.8 ms and 22.9 ms for
1,000 backends, NSDI 2016 section 5.3) come from another machine and another
implementation: they are a note, not a baseline.
"""

from __future__ import annotations

import statistics
import time
from ipaddress import IPv4Address

from pyvs.bench.runner import Figure, Options
from pyvs.dataplane.maglev_kernel import KernelMaglev
from pyvs.sched.maglev import LARGE_M, SMALL_M, Backend, populate, table_inputs

SECTION = "control plane"
PAPER_MS = {(1000, SMALL_M): 1.8, (1000, LARGE_M): 22.9}
FIRST_REAL = IPv4Address("10.3.0.1")


def real_servers(n: int) -> list[Backend]:
    return [Backend(FIRST_REAL + i, 80) for i in range(n)]


def _ms(start: int) -> float:
    return (time.perf_counter_ns() - start) / 1e6


def _name(n: int, m: int, how: str) -> str:
    return f"Maglev build N={n} M={m} ({how})"


def run(options: Options) -> list[Figure]:
    sizes = (10,) if options.smoke else (10, 100, 1000)
    tables = (SMALL_M,) if options.smoke else (SMALL_M, LARGE_M)
    reps = 1 if options.smoke else options.reps
    figures = []
    for m in tables:
        with KernelMaglev(m, max(sizes)) as kernel:
            for n in sizes:
                reals = real_servers(n)
                start = time.perf_counter_ns()
                params, turns = table_inputs(reals, m)
                params_ms = _ms(start)
                note = f"paper: {PAPER_MS[n, m]} ms" if (n, m) in PAPER_MS else ""

                python_ms = []
                for _ in range(reps):
                    start = time.perf_counter_ns()
                    expected = populate(params, turns, m)
                    python_ms.append(_ms(start))
                figures.append(Figure(SECTION, _name(n, m, "python"), "ms", python_ms, note=note,
                                      extra={"params_ms": params_ms}))

                kernel_ms, read_ms = [], []
                for _ in range(reps):
                    start = time.perf_counter_ns()
                    kernel.write_params(params, turns)
                    kernel.run(m, n)
                    kernel_ms.append(_ms(start))
                    start = time.perf_counter_ns()
                    table = kernel.read_table(m)
                    read_ms.append(_ms(start))
                    if table != expected:
                        raise RuntimeError(f"kernel and Python Maglev tables differ (N={n}, M={m})")
                extra = {"read_back_ms": read_ms, "read_back_ms_median": statistics.median(read_ms),
                         "program_runs": kernel.runs, "probes": kernel.probes}
                figures.append(Figure(SECTION, _name(n, m, "kernel"), "ms", kernel_ms,
                                      baseline=_name(n, m, "python"), note=note, extra=extra))
    return figures
