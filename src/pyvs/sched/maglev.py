"""Maglev hashing: the lookup table of Eisenbud et al., NSDI 2016, section 3.4, in pure Python.

Every backend i owns a permutation of the M table slots,
    permutation[i][j] = (offset_i + j * skip_i) mod M,
    offset_i = h1(i) mod M,  skip_i = h2(i) mod (M - 1) + 1.
Backends take turns, each claiming the next slot of its permutation that is
still empty, until all M slots are claimed. M prime makes every skip in
[1, M-1] coprime with M, so every permutation visits every slot: the loop
always finishes and each backend gets close to M/N slots.

Weights follow Linux IPVS's `mh` scheduler (net/netfilter/ipvs/ip_vs_mh.c):
in each round a backend claims `turns` slots in a row, where turns is its
weight divided by the gcd of the positive weights, shifted right just enough
that the largest fits in TURN_BITS bits (huge weights would otherwise make a
round longer than the table); a positive weight never drops below one turn,
weight 0 gets no slot. Backends keep their list order in every round.

Hashes: BLAKE2b with an 8-byte digest of the backend's packed IPv4 address
followed by its port (2 bytes, big endian), read as a big-endian integer.
h1 and h2 are the same function personalised with two different `person`
strings (OFFSET_PERSON, SKIP_PERSON), so they are independent and stable
across processes and Python versions (unlike hash()). The tables are not
IPVS's own (it uses siphash of address + port): only the algorithm is the same.

`populate` is the loop itself, on explicit (offset, skip) pairs, so that the
paper's worked example and the BPF program (bpf/maglev_build.bpf.c, driven by
dataplane/maglev_kernel.py) can be checked against it exactly.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address
from itertools import cycle, islice

TURN_BITS = 6  # IPVS's IP_VS_MH_TAB_BITS with its default CONFIG_IP_VS_MH_TAB_INDEX=12
OFFSET_PERSON = b"pyvs-maglev-h1"  # BLAKE2b personalisation of h1 (<= 16 bytes)
SKIP_PERSON = b"pyvs-maglev-h2"  # ... and of h2

# Primes for the table size: the paper's 65537 and the tenfold-larger one used by the benchmark.
SMALL_M = 65537
LARGE_M = 655373


@dataclass(frozen=True)
class Backend:
    address: IPv4Address
    port: int
    weight: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 0xFFFF:
            raise ValueError(f"port {self.port} out of range")
        if self.weight < 0:
            raise ValueError(f"negative weight {self.weight}")

    def key(self) -> bytes:
        """What the hashes see: 4 address bytes, then the port in network order."""
        return self.address.packed + self.port.to_bytes(2, "big")


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    if n % 2 == 0 or n % 3 == 0:
        return n in (2, 3)
    f = 5
    while f * f <= n:
        if n % f == 0 or n % (f + 2) == 0:
            return False
        f += 6
    return True


def check_table_size(m: int) -> None:
    if not is_prime(m):
        # A composite M lets skip share a factor with M: that permutation then
        # cycles through only M/gcd slots and the populate loop may never end.
        raise ValueError(f"Maglev table size {m} is not prime")


def _hash(key: bytes, person: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(key, digest_size=8, person=person).digest(), "big")


def permutation_params(backends: Sequence[Backend], m: int) -> list[tuple[int, int]]:
    """(offset, skip) of each backend's permutation of the M slots."""
    check_table_size(m)
    return [(_hash(b.key(), OFFSET_PERSON) % m, _hash(b.key(), SKIP_PERSON) % (m - 1) + 1) for b in backends]


def weight_turns(weights: Sequence[int]) -> list[int]:
    """Slots each backend claims per round, as ip_vs_mh does it (see the module's doc)."""
    if any(w < 0 for w in weights):
        raise ValueError("negative weight")
    g = math.gcd(*weights)  # gcd ignores zeros; 0 only when every weight is 0
    if g == 0:
        raise ValueError("no backend with a positive weight")
    shift = max(0, (max(weights) // g).bit_length() - TURN_BITS)
    return [max(1, (w // g) >> shift) if w > 0 else 0 for w in weights]


def populate(params: Sequence[tuple[int, int]], turns: Sequence[int], m: int) -> list[int]:
    """The table (a backend index per slot) from explicit (offset, skip) pairs and turns per round."""
    check_table_size(m)
    if len(params) != len(turns):
        raise ValueError("one turns value per backend is needed")
    for offset, skip in params:
        if not (0 <= offset < m and 1 <= skip < m):
            raise ValueError(f"(offset, skip) = ({offset}, {skip}) outside [0, {m}) x [1, {m})")
    # One round, unrolled: backend i appears turns[i] times in a row, zero-weight ones not at all.
    # Cycling through it for exactly m claims needs no "table full" test in the loop.
    order = [i for i, t in enumerate(turns) for _ in range(t)]
    if not order:
        raise ValueError("no backend with a positive weight")
    table = [0] * m
    taken = bytearray(m)  # one byte per slot: faster to test than the list once M outgrows the caches
    nexts = [offset for offset, _ in params]  # each backend's current place in its permutation
    skips = [skip for _, skip in params]
    for i in islice(cycle(order), m):
        pos = nexts[i]
        skip = skips[i]
        while taken[pos]:
            pos += skip  # (pos + skip) mod m without the division: pos, skip < m
            if pos >= m:
                pos -= m
        taken[pos] = 1
        table[pos] = i
        nexts[i] = pos  # taken now, so the next claim starts by stepping past it
    return table


def table_inputs(backends: Sequence[Backend], m: int) -> tuple[list[tuple[int, int]], list[int]]:
    """Validated input of `populate` for `backends`: their (offset, skip) pairs and turns."""
    if not backends:
        raise ValueError("a Maglev table needs at least one backend")
    if len(set(b.key() for b in backends)) != len(backends):
        raise ValueError("duplicate backend address:port")  # same key, same permutation: a config error
    return permutation_params(backends, m), weight_turns([b.weight for b in backends])


def build_table(backends: Sequence[Backend], m: int) -> list[int]:
    """The Maglev lookup table of `backends`: for each of the M slots, an index into `backends`."""
    params, turns = table_inputs(backends, m)
    return populate(params, turns, m)
