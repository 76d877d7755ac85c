"""The pure-Python Maglev table (pyvs.sched.maglev) against the paper, a naive model and its guarantees."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from collections import Counter
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyvs.sched.maglev import (
    OFFSET_PERSON,
    SKIP_PERSON,
    Backend,
    build_table,
    is_prime,
    permutation_params,
    populate,
    weight_turns,
)

M = 65537


def naive_populate(params: list[tuple[int, int]], turns: list[int], m: int) -> list[int]:
    """The paper's pseudocode word for word (explicit permutation lists, next[i] as an index into
    them), with IPVS's turns added: slow and obviously right, the model of `populate`."""
    permutation = [[(offset + j * skip) % m for j in range(m)] for offset, skip in params]
    next_ = [0] * len(params)
    entry: list[int | None] = [None] * m
    n = 0
    while True:
        for i in range(len(params)):
            for _ in range(turns[i]):
                c = permutation[i][next_[i]]
                while entry[c] is not None:
                    next_[i] += 1
                    c = permutation[i][next_[i]]
                entry[c] = i
                next_[i] += 1
                n += 1
                if n == m:
                    return [e for e in entry if e is not None]


def backends(n: int, seed: int, weights: list[int] | None = None) -> list[Backend]:
    rnd = random.Random(seed)
    addrs = rnd.sample(range(1, 2**32), n)
    return [Backend(IPv4Address(a), rnd.randrange(1, 65536), weights[i] if weights else 1)
            for i, a in enumerate(addrs)]


# The paper's Table 1: M = 7, backends B0, B1, B2 with (offset, skip) = (3, 4), (0, 2), (3, 1).
PAPER = [(3, 4), (0, 2), (3, 1)]


def test_paper_example_permutations() -> None:
    m = 7
    perms = [[(o + j * s) % m for j in range(m)] for o, s in PAPER]
    assert perms == [[3, 0, 4, 1, 5, 2, 6], [0, 2, 4, 6, 1, 3, 5], [3, 4, 5, 6, 0, 1, 2]]


def test_paper_example_table() -> None:
    # Round 1: B0 takes 3, B1 0, B2 wants 3 (taken) and takes 4. Round 2: B0 0 (taken), 4 (taken), 1;
    # B1 2; B2 5. Round 3: B0 5, 2 (taken), 6: full. The paper's "before" column: B1 B0 B1 B0 B2 B2 B0.
    assert populate(PAPER, [1, 1, 1], 7) == [1, 0, 1, 0, 2, 2, 0]


def test_paper_example_after_removing_b1() -> None:
    # Hand trace, B0 and B2 only. Round 1: B0 3; B2 3 (taken), 4. Round 2: B0 0; B2 5.
    # Round 3: B0 4 (taken), 1; B2 6. Round 4: B0 5 (taken), 2: full.
    # B1's slots 0 and 2 go to B0, and slot 6 moves from B0 to B2: Maglev's small extra disruption.
    assert populate([PAPER[0], PAPER[2]], [1, 1], 7) == [0, 0, 0, 0, 1, 1, 1]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_populate_matches_the_naive_pseudocode(data: st.DataObject) -> None:
    m = data.draw(st.sampled_from([2, 3, 5, 7, 11, 13, 31, 97, 251]))
    n = data.draw(st.integers(1, 12))
    params = [(data.draw(st.integers(0, m - 1)), data.draw(st.integers(1, m - 1))) for _ in range(n)]
    turns = data.draw(st.lists(st.integers(0, 4), min_size=n, max_size=n).filter(any))
    assert populate(params, turns, m) == naive_populate(params, turns, m)


def test_every_slot_filled_by_a_real_backend() -> None:
    for n in (1, 2, 10, 100, 1000):
        table = build_table(backends(n, seed=n), M)
        assert len(table) == M
        assert set(table) == set(range(n))  # M >> n: everybody gets slots, nobody else appears


def test_equal_weights_balance_is_exact() -> None:
    # Every round gives each backend exactly one slot (the table is not full before the round ends),
    # and the last, partial round goes in list order: the first M mod N backends get one more.
    for n in (3, 10, 100, 1000):
        counts = Counter(build_table(backends(n, seed=7 * n), M))
        assert [counts[i] for i in range(n)] == [M // n + (i < M % n) for i in range(n)]


def expected_counts(turns: list[int], m: int) -> list[int]:
    """Full rounds give each backend its turns; the claims left over go in list order."""
    rounds, left = divmod(m, sum(turns))
    counts = []
    for t in turns:
        extra = min(t, left)
        left -= extra
        counts.append(rounds * t + extra)
    return counts


def test_weights_are_proportional() -> None:
    weights = [1, 2, 3, 0, 6, 2]
    bs = backends(len(weights), seed=3, weights=weights)
    counts = Counter(build_table(bs, M))
    assert [counts[i] for i in range(len(bs))] == expected_counts([1, 2, 3, 0, 6, 2], M)
    assert counts[3] == 0
    assert abs(counts[4] / counts[0] - 6) < 0.01


def test_weights_divided_by_their_gcd() -> None:
    assert weight_turns([10, 20, 30]) == [1, 2, 3]
    assert build_table(backends(3, seed=5, weights=[10, 20, 30]), 251) == \
        build_table(backends(3, seed=5, weights=[1, 2, 3]), 251)


def test_large_weights_shifted_like_ipvs() -> None:
    # ip_vs_mh: shift = fls(max / gcd) - 6 when positive; a positive weight keeps at least one turn.
    assert weight_turns([1, 63]) == [1, 63]  # 63 fits in 6 bits: no shift
    assert weight_turns([1, 100]) == [1, 50]  # fls(100) = 7: shift 1
    assert weight_turns([1, 1000, 64]) == [1, 62, 4]  # fls(1000) = 10: shift 4, 1 >> 4 = 0 -> 1
    assert weight_turns([0, 5]) == [0, 1]


def test_zero_weight_backend_is_as_if_absent() -> None:
    bs = backends(20, seed=11)
    with_zero = bs[:7] + [Backend(IPv4Address("192.0.2.1"), 80, weight=0)] + bs[7:]
    table = build_table(with_zero, M)
    assert 7 not in table
    assert [i if i < 7 else i - 1 for i in table] == build_table(bs, M)


def test_removing_one_of_100_backends_moves_few_other_slots() -> None:
    # Measured on these seeds: 0.49% to 0.59% of the slots change hands between surviving backends
    # (beside the ~1% that were the removed backend's). The bound leaves margin for other seeds.
    for seed in range(4):
        bs = backends(100, seed=100 + seed)
        gone = seed * 31 % 100
        before = build_table(bs, M)
        after = build_table(bs[:gone] + bs[gone + 1:], M)
        survivors = [i for i in range(100) if i != gone]
        moved = sum(1 for s in range(M) if before[s] != gone and survivors[after[s]] != before[s])
        assert moved / M < 0.01


def test_permutation_params_are_blake2b_of_address_and_port() -> None:
    # Pinned so that a change of the hash input or personalisation shows: the digests are BLAKE2b's,
    # stable everywhere. 0x3289a21406298791 % 7 = 2, 0x3fd4f940db9aae35 % 6 + 1 = 4, and so on.
    bs = [Backend(IPv4Address("10.0.0.1"), 80), Backend(IPv4Address("10.0.0.2"), 80),
          Backend(IPv4Address("10.0.0.3"), 8080)]
    digests = [(hashlib.blake2b(b.key(), digest_size=8, person=OFFSET_PERSON).hexdigest(),
                hashlib.blake2b(b.key(), digest_size=8, person=SKIP_PERSON).hexdigest()) for b in bs]
    assert digests == [("3289a21406298791", "3fd4f940db9aae35"), ("38a2e617cc2f7a1b", "2a9893e6150a7072"),
                       ("a765ddb70ab8405e", "b55783b802d6b4b4")]
    assert bs[0].key() == bytes([10, 0, 0, 1, 0, 80])
    assert permutation_params(bs, 7) == [(2, 4), (1, 1), (4, 5)]
    # Permutations: B0 2 6 3 0 4 1 5, B1 1 2 3 4 5 6 0, B2 4 2 0 5 3 1 6. Round 1: B0 2, B1 1, B2 4.
    # Round 2: B0 6; B1 2 (taken), 3; B2 2 (taken), 0. Round 3: B0 3, 0, 4, 1 (all taken), 5: full.
    assert build_table(bs, 7) == [2, 1, 0, 1, 2, 0, 0]


def test_same_table_in_another_process() -> None:
    bs = backends(50, seed=9, weights=[1 + i % 4 for i in range(50)])
    code = (
        "import json, sys\n"
        "from ipaddress import IPv4Address\n"
        "from pyvs.sched.maglev import Backend, build_table\n"
        "bs = [Backend(IPv4Address(a), p, w) for a, p, w in json.load(sys.stdin)]\n"
        "print(json.dumps(build_table(bs, 65537)))\n"
    )
    given_backends = json.dumps([(str(b.address), b.port, b.weight) for b in bs])
    done = subprocess.run([sys.executable, "-c", code], input=given_backends, capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONHASHSEED": "12345"})  # hash() would differ
    assert json.loads(done.stdout) == build_table(bs, M)


@pytest.mark.parametrize("m", [0, 1, 4, 9, 65536, 655371])
def test_table_size_must_be_prime(m: int) -> None:
    assert not is_prime(m)
    with pytest.raises(ValueError, match="not prime"):
        build_table(backends(3, seed=1), m)
    with pytest.raises(ValueError, match="not prime"):
        populate([(0, 1)], [1], m)


def test_primes() -> None:
    assert [n for n in range(30) if is_prime(n)] == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
    assert is_prime(65537) and is_prime(655373)


def test_bad_backend_sets() -> None:
    with pytest.raises(ValueError, match="at least one backend"):
        build_table([], 7)
    with pytest.raises(ValueError, match="positive weight"):
        build_table(backends(3, seed=1, weights=[0, 0, 0]), 7)
    with pytest.raises(ValueError, match="duplicate"):
        build_table(backends(2, seed=1) * 2, 7)
    with pytest.raises(ValueError, match="negative weight"):
        Backend(IPv4Address("10.0.0.1"), 80, -1)
    with pytest.raises(ValueError, match="port"):
        Backend(IPv4Address("10.0.0.1"), 65536)
    with pytest.raises(ValueError, match="outside"):
        populate([(7, 1)], [1], 7)
    with pytest.raises(ValueError, match="outside"):
        populate([(0, 0)], [1], 7)
