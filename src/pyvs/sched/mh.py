"""mh as IPVS runs it (ip_vs_mh.c): a Maglev table of 4093 buckets and the kernel's hash.

The table is the Maglev population of pyvs.sched.maglev (the same loop as the
kernel's ip_vs_mh_populate()), fed with IPVS's own inputs:

- each real server's permutation starts at hsiphash(port + address, HASH1)
  mod M and steps by hsiphash(port + address, HASH2) mod (M - 1) + 1, with
  the kernel's fixed keys (generate_hash_secret(): the same on every
  director, so a site's directors and pyvs build the same table);
- its turns per round come from its last non-zero weight (a real server set
  to weight 0 keeps its buckets and is unavailable in them, as in IPVS; one
  added with weight 0 gets none);
- real servers in kernel list order (newest first).

A client goes to bucket hsiphash(port + address, HASH1) mod M (the port is
the client's source port with -b mh-port, else 0). hsiphash is the kernel's
on 64-bit machines: SipHash-1-3 over 64-bit words, its 64-bit result folded
to 32 bits (tests/unit/test_sched_mh.py checks it against the kernel's own
test vectors); 32-bit kernels use HalfSipHash and so other tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pyvs.sched.maglev import populate, weight_turns

TABLE_SIZE: Final = 4093  # IP_VS_MH_TAB_SIZE: primes[CONFIG_IP_VS_MH_TAB_INDEX - 8], index 12 by default
HASH1: Final = (2654435761, 2654435761)  # hsiphash keys of generate_hash_secret()
HASH2: Final = (2654446892, 2654446892)

_M64: Final = (1 << 64) - 1
_SIP_INIT: Final = (0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573)


def _round(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & _M64
    v1 = (((v1 << 13) | (v1 >> 51)) & _M64) ^ v0
    v0 = ((v0 << 32) | (v0 >> 32)) & _M64
    v2 = (v2 + v3) & _M64
    v3 = (((v3 << 16) | (v3 >> 48)) & _M64) ^ v2
    v0 = (v0 + v3) & _M64
    v3 = (((v3 << 21) | (v3 >> 43)) & _M64) ^ v0
    v2 = (v2 + v1) & _M64
    v1 = (((v1 << 17) | (v1 >> 47)) & _M64) ^ v2
    v2 = ((v2 << 32) | (v2 >> 32)) & _M64
    return v0, v1, v2, v3


def hsiphash(data: bytes, key: tuple[int, int]) -> int:
    """The kernel's hsiphash() on a 64-bit machine (lib/siphash.c)."""
    k0, k1 = key
    v0, v1, v2, v3 = _SIP_INIT[0] ^ k0, _SIP_INIT[1] ^ k1, _SIP_INIT[2] ^ k0, _SIP_INIT[3] ^ k1
    whole = len(data) - len(data) % 8
    for i in range(0, whole, 8):
        word = int.from_bytes(data[i:i + 8], "little")
        v3 ^= word
        v0, v1, v2, v3 = _round(v0, v1, v2, v3)
        v0 ^= word
    last = ((len(data) << 56) & _M64) | int.from_bytes(data[whole:], "little")
    v3 ^= last
    v0, v1, v2, v3 = _round(v0, v1, v2, v3)
    v0 ^= last
    v2 ^= 0xFF
    for _ in range(3):
        v0, v1, v2, v3 = _round(v0, v1, v2, v3)
    return (v0 ^ v1 ^ v2 ^ v3) & 0xFFFFFFFF


def mh_hash(address: int, port: int, key: tuple[int, int] = HASH1, offset: int = 0) -> int:
    """ip_vs_mh_hashkey(): hsiphash of the u32 offset + port + address (host order)."""
    return hsiphash(((offset + port + address) & 0xFFFFFFFF).to_bytes(4, "little"), key)


def mh_table(reals: Sequence[tuple[int, int, int]]) -> list[int]:
    """ip_vs_mh_reassign(): the index (into `reals`: (address, port, last weight),
    kernel list order) of each bucket's real server; [] when no real server has
    had a weight (the kernel's table is then empty)."""
    last_weights = [weight for _, _, weight in reals]
    if not any(last_weights):
        return []
    params = [(mh_hash(address, port, HASH1) % TABLE_SIZE,
               mh_hash(address, port, HASH2) % (TABLE_SIZE - 1) + 1) for address, port, _ in reals]
    return populate(params, weight_turns(last_weights), TABLE_SIZE)
