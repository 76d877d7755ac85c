"""The Maglev table built by bpf/maglev_build.bpf.c equals pyvs.sched.maglev's, slot for slot."""

from __future__ import annotations

import errno
import random
from collections.abc import Iterator
from ipaddress import IPv4Address

import pytest

from pyvs.dataplane.maglev_kernel import KernelMaglev, build_table_in_kernel
from pyvs.model.errors import DataplaneError
from pyvs.sched.maglev import Backend, build_table, populate, table_inputs

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_bpf, pytest.mark.needs_clang]

MAX_M = 65537
MAX_BACKENDS = 1000


@pytest.fixture(scope="module")
def kernel() -> Iterator[KernelMaglev]:
    """One loaded object for the module: every build also checks that a new start forgets the last."""
    with KernelMaglev(MAX_M, MAX_BACKENDS) as k:
        yield k


def random_backends(rnd: random.Random, n: int, weights: list[int]) -> list[Backend]:
    return [Backend(IPv4Address(a), rnd.randrange(1, 65536), w)
            for a, w in zip(rnd.sample(range(1, 2**32), n), weights, strict=True)]


def random_weights(rnd: random.Random, n: int) -> list[int]:
    kind = rnd.choice(["equal", "small", "zeros", "large"])
    if kind == "equal":
        return [1] * n
    if kind == "small":
        return [rnd.randint(1, 5) for _ in range(n)]
    if kind == "zeros":
        weights = [rnd.choice([0, 0, 1, 2]) for _ in range(n)]
        weights[rnd.randrange(n)] = 3  # at least one positive
        return weights
    return [rnd.randint(0, 5000) or 1 for _ in range(n)]  # beyond 6 bits: IPVS's shift applies


@pytest.mark.parametrize("m", [7, 251, 65537])
def test_kernel_table_equals_python(kernel: KernelMaglev, m: int) -> None:
    rnd = random.Random(m)
    cases = 40 if m < 1000 else 12
    for _ in range(cases):
        n = rnd.choice([1, 2, 3, 5, 10, 50, 100, 300, 1000])
        params, turns = table_inputs(random_backends(rnd, n, random_weights(rnd, n)), m)
        assert kernel.build(params, turns, m) == populate(params, turns, m), (m, n, turns[:10])
        assert kernel.runs == 1


def test_more_backends_than_slots(kernel: KernelMaglev) -> None:
    rnd = random.Random(1)
    params, turns = table_inputs(random_backends(rnd, 20, [1] * 20), 7)
    table = kernel.build(params, turns, 7)
    assert table == populate(params, turns, 7)
    assert sorted(table) == list(range(7))  # the first round fills it: backends 7 to 19 get nothing


@pytest.mark.parametrize("budget", [1, 7, 1000])
def test_continuation_over_many_runs(kernel: KernelMaglev, budget: int) -> None:
    # Runs end in the middle of turns of several slots and of probe sequences longer than one iteration.
    rnd = random.Random(budget)
    m = 251 if budget < 1000 else 65537
    params, turns = table_inputs(random_backends(rnd, 30, [1, 2, 0, 3, 5] * 6), m)
    kernel.write_params(params, turns)
    runs = kernel.run(m, len(params), budget=budget)
    assert runs > 1
    assert kernel.read_table(m) == populate(params, turns, m)


def test_large_table_from_1000_backends() -> None:
    """M = 655373 from 1,000 backends: in one run with the full budget, and over several with less."""
    m = 655373
    rnd = random.Random(655373)
    bs = random_backends(rnd, 1000, [1] * 1000)
    expected = build_table(bs, m)
    assert build_table_in_kernel(bs, m) == expected
    params, turns = table_inputs(bs, m)
    with KernelMaglev(m, len(bs)) as k:
        k.write_params(params, turns)
        assert k.run(m, len(bs), budget=1 << 18) == 3  # 655,373 claims plus the iterations that overran
        assert k.read_table(m) == expected
        assert 8_000_000 < k.probes < 10_000_000  # about M ln M


def test_kernel_rejects_bad_input(kernel: KernelMaglev) -> None:
    with pytest.raises(DataplaneError) as bad_offset:
        kernel.write_params([(7, 1)], [1])  # offset not below m
        kernel.run(7, 1)
    assert bad_offset.value.errno == errno.EINVAL
    with pytest.raises(DataplaneError) as nobody:
        kernel.write_params([(0, 1), (1, 2)], [0, 0])
        kernel.run(7, 2)
    assert nobody.value.errno == errno.EINVAL
    with pytest.raises(ValueError, match="exceeds"):
        kernel.run(655373, 1)
    with pytest.raises(ValueError, match="not prime"):
        kernel.run(65536, 1)
    # and the object still works afterwards
    params, turns = table_inputs(random_backends(random.Random(2), 4, [1, 2, 3, 4]), 251)
    assert kernel.build(params, turns, 251) == populate(params, turns, 251)
