"""sh and dh as IPVS runs them: a 256-bucket table of real servers and a hash into it.

The kernel builds each table from the service's list of real servers in list
order (newest first), again whenever a real server is added, removed or (sh
only) edited, and the data path hashes each new connection into it:

- sh (ip_vs_sh.c): bucket i goes to the current real server; the walk moves
  on to the next real server once it has given it `weight` buckets (at least
  one: a real server of weight 0 holds one bucket, in which it is
  unavailable), wrapping around the list. The hash is of the client's address
  (and source port with -b sh-port); an unavailable real server (weight 0)
  fails the connection, or with -b sh-fallback the kernel tries the buckets
  from the hash on. That search depends only on the first bucket (the
  kernel's offsets make it scan from twice the bucket, modulo 256) and on
  which real servers are available, which changes only with a change of
  weights, when the table is written again anyway: so pyvs writes each
  bucket's outcome of the search into the table (`fallback`), and the data
  path needs no loop.
- dh (ip_vs_dh.c): bucket i goes to real server i mod n, whatever the
  weights; the hash is of the packet's destination address (the VIP, for a
  tunnel-mode service: all of a VIP's clients share one real server).

Both use the kernel's defaults (CONFIG_IP_VS_SH_TAB_BITS and
CONFIG_IP_VS_DH_TAB_BITS of 8) and its hash, so a client lands where IPVS
would put it. The table fills one bank of lb_sched (SCHED_SLOTS = 256 slots).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pyvs.sched.sequence import SCHED_SLOTS

TABLE_SIZE: Final = 256  # IP_VS_SH_TAB_SIZE and IP_VS_DH_TAB_SIZE
TABLE_MASK: Final = TABLE_SIZE - 1
HASH_MULTIPLIER: Final = 2654435761  # the kernel's (and lb_shared.h's LB_HASH_MULTIPLIER)

assert TABLE_SIZE == SCHED_SLOTS  # a table fills one bank of lb_sched


def sh_table(weights: Sequence[int]) -> list[int]:
    """ip_vs_sh_reassign(): the index (into `weights`, list order) of each bucket's real server."""
    if not weights:
        return []
    table = []
    current, given = 0, 0
    for _bucket in range(TABLE_SIZE):
        table.append(current)
        given += 1
        if given >= weights[current]:
            current, given = (current + 1) % len(weights), 0
    return table


def dh_table(count: int) -> list[int]:
    """ip_vs_dh_reassign(): real server i mod n in bucket i."""
    return [bucket % count for bucket in range(TABLE_SIZE)] if count else []


def sh_hash(address: int, port: int) -> int:
    """ip_vs_sh_hashkey() at offset 0, which is also ip_vs_dh_hashkey() with port 0:
    `address` and `port` in host order (port 0 without sh-port). The fallback's
    other offsets are folded into the table (`fallback`)."""
    return ((port + address) * HASH_MULTIPLIER) & TABLE_MASK


def fallback(table: Sequence[int], weights: Sequence[int]) -> list[int]:
    """ip_vs_sh_get_fallback()'s answer for each first bucket, as a table: the
    bucket's real server when available (weight > 0), else that of the first
    available bucket from (2 * bucket) mod 256 on, else the bucket's own (the
    connection fails: no real server is available)."""
    resolved = []
    for bucket, index in enumerate(table):
        if weights[index] <= 0:
            for offset in range(TABLE_SIZE):
                other = table[(offset + 2 * bucket) & TABLE_MASK]
                if weights[other] > 0:
                    index = other
                    break
        resolved.append(index)
    return resolved
