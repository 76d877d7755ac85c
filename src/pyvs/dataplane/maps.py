"""Typed handles on BPF maps by fd: the adapter's side of pyvs.packet.tables.

`BpfMap` and `PerCpuMap` have the interfaces of pyvs.packet.tables'
MapHandle and PerCpuHandle (whose dict-backed twins hold the same bytes), and
`pinned_director_maps()` / `pinned_decap_maps()` open every map of the
declared layout from a pin directory.
"""

from __future__ import annotations

import ctypes
import errno
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

from pyvs.dataplane import libbpf
from pyvs.model.errors import DataplaneError
from pyvs.packet.tables import DecapMaps, DirectorMaps, HandleMaker, MapSpec

BPF_MAP_TYPE_ARRAY = 2

K = TypeVar("K", bound=ctypes._SimpleCData | ctypes.Structure)  # type: ignore[type-arg]
V = TypeVar("V", bound=ctypes._SimpleCData | ctypes.Structure)  # type: ignore[type-arg]


class BpfMap(Generic[K, V]):
    """One BPF map opened by fd; keys and values are ctypes instances."""

    def __init__(self, fd: int, key_type: type[K], value_type: type[V]) -> None:
        self.fd = fd
        self.key_type = key_type
        self.value_type = value_type
        info = libbpf.map_info(fd)
        self.max_entries = info.max_entries
        self.is_array = info.type == BPF_MAP_TYPE_ARRAY
        if (info.key_size, info.value_size) != (ctypes.sizeof(key_type), ctypes.sizeof(value_type)):
            # Maps outlive pyvs upgrades: a layout pinned by another version must not be misread.
            raise DataplaneError(errno.EPROTO, (
                f"map {info.name} has {info.key_size}-byte keys and {info.value_size}-byte values where "
                f"this pyvs needs {ctypes.sizeof(key_type)} and {ctypes.sizeof(value_type)}: it was made by "
                "another version of pyvs (save the configuration with that version's pyvsadm -S, remove "
                "/sys/fs/bpf/pyvs/ of this network namespace, attach again and restore it)"))

    @classmethod
    def pinned(cls, directory: Path, name: str, key_type: type[K], value_type: type[V]) -> BpfMap[K, V]:
        return cls(libbpf.obj_get(directory / name), key_type, value_type)

    def get(self, key: K) -> V | None:
        value = self.value_type()
        return value if libbpf.map_lookup(self.fd, key, value) else None

    def put(self, key: K, value: V, flags: int = libbpf.BPF_ANY) -> None:
        libbpf.map_update(self.fd, key, value, flags)

    def put_many(self, keys: Sequence[K], values: Sequence[V]) -> None:
        """Write many entries in one syscall (a batch), in order."""
        if keys:
            libbpf.map_update_batch(self.fd, b"".join(map(bytes, keys)),
                                    b"".join(map(bytes, values)), len(keys))

    def put_u32s(self, keys: Sequence[int], values: Sequence[int]) -> None:
        """put_many() of a map of u32 to u32, from plain ints, in one batch."""
        if keys:
            libbpf.map_update_batch(self.fd, struct.pack(f"={len(keys)}I", *keys),
                                    struct.pack(f"={len(values)}I", *values), len(keys))

    def delete(self, key: K) -> bool:
        return libbpf.map_delete(self.fd, key)

    def delete_many(self, keys: Sequence[K]) -> int:
        """Delete `keys` of a hash map in one batch, stopping at the first absent one; how many went."""
        if not keys:
            return 0
        return libbpf.map_delete_batch(self.fd, b"".join(map(bytes, keys)), len(keys))

    def zero(self, indices: Sequence[int]) -> None:
        """Reset the array entries at `indices`, in one batch."""
        if indices:
            libbpf.map_update_batch(self.fd, struct.pack(f"={len(indices)}I", *indices),
                                    bytes(ctypes.sizeof(self.value_type) * len(indices)), len(indices))

    def keys(self) -> Iterator[K]:
        key: K | None = None
        while True:
            nxt = self.key_type()
            if not libbpf.map_next_key(self.fd, key, nxt):
                return
            yield nxt
            key = nxt

    def __iter__(self) -> Iterator[K]:
        return self.keys()

    def items(self) -> Iterator[tuple[K, V]]:
        for key in self.keys():
            value = self.get(key)
            if value is not None:
                yield key, value

    def all_items(self) -> list[tuple[K, V]]:
        """Every entry, read in batches (one syscall per batch rather than per key);
        for arrays, only the entries that are not all zero bytes."""
        ksize, vsize = ctypes.sizeof(self.key_type), ctypes.sizeof(self.value_type)
        keys, values, count = libbpf.map_lookup_batch(self.fd, ksize, vsize, self.max_entries)
        zero = bytes(vsize)
        return [(self.key_type.from_buffer_copy(keys, i * ksize),  # type: ignore[misc]
                 self.value_type.from_buffer_copy(values, i * vsize))
                for i in range(count)
                if not (self.is_array and values[i * vsize:(i + 1) * vsize] == zero)]

    def count(self) -> int:
        """How many entries a hash map holds (read in batches)."""
        return libbpf.map_lookup_batch(self.fd, ctypes.sizeof(self.key_type), ctypes.sizeof(self.value_type),
                                       self.max_entries)[2]

    def close(self) -> None:
        libbpf.close_fd(self.fd)


class PerCpuMap(Generic[K, V]):
    """A per-CPU array: reads give one value per possible CPU."""

    def __init__(self, fd: int, key_type: type[K], value_type: type[V]) -> None:
        self.fd = fd
        self.key_type = key_type
        self.value_type = value_type
        self.ncpus = libbpf.num_possible_cpus()
        self._stride = (ctypes.sizeof(value_type) + 7) // 8 * 8
        self.max_entries = libbpf.map_info(fd).max_entries

    @classmethod
    def pinned(cls, directory: Path, name: str, key_type: type[K], value_type: type[V]) -> PerCpuMap[K, V]:
        return cls(libbpf.obj_get(directory / name), key_type, value_type)

    def get_all(self, key: K) -> list[V]:
        buf = ctypes.create_string_buffer(self._stride * self.ncpus)
        if not libbpf.map_lookup(self.fd, key, buf):
            return []
        return [self.value_type.from_buffer_copy(buf.raw, i * self._stride)  # type: ignore[misc]
                for i in range(self.ncpus)]

    def zero(self, indices: Sequence[int]) -> None:
        """Reset the entries at `indices` on every CPU, in one batch."""
        if indices:
            libbpf.map_update_batch(self.fd, struct.pack(f"={len(indices)}I", *indices),
                                    bytes(self._stride * self.ncpus * len(indices)), len(indices))

    def sum_all(self) -> list[tuple[int, ...]]:
        """Every index's value, each field summed over CPUs, read in one batch."""
        size = ctypes.sizeof(self.value_type)
        _keys, values, count = libbpf.map_lookup_batch(self.fd, ctypes.sizeof(self.key_type),
                                                       self._stride * self.ncpus, self.max_entries)
        words = size // 8
        fmt = f"<{words}Q"
        rows = []
        for i in range(count):
            base = i * self._stride * self.ncpus
            per_cpu = [struct.unpack_from(fmt, values, base + c * self._stride) for c in range(self.ncpus)]
            rows.append(tuple(sum(col) for col in zip(*per_cpu, strict=True)))
        return rows

    def put_cpu0(self, key: K, value: V) -> None:
        """Set CPU 0's value, keeping the others (the live Python data plane counts on CPU 0)."""
        buf = ctypes.create_string_buffer(self._stride * self.ncpus)
        libbpf.map_lookup(self.fd, key, buf)
        ctypes.memmove(buf, ctypes.byref(value), ctypes.sizeof(value))
        libbpf.map_update(self.fd, key, buf)

    def close(self) -> None:
        libbpf.close_fd(self.fd)


def pinned(directory: Path) -> HandleMaker:
    """What makes each map's handle from its pin in `directory`."""
    def make(spec: MapSpec, name: str) -> Any:
        if spec.per_cpu:
            return PerCpuMap.pinned(directory, name, spec.key, spec.value)
        return BpfMap.pinned(directory, name, spec.key, spec.value)
    return make


def pinned_counters(directory: Path, name: str) -> list[int]:
    """Every entry, summed over CPUs, of a per-CPU u64 array pinned in `directory`
    ([] if it is not pinned there): lb_drops, lb_decap_stats."""
    if not (directory / name).exists():
        return []
    counters = PerCpuMap.pinned(directory, name, ctypes.c_uint32, ctypes.c_uint64)
    try:
        return [row[0] for row in counters.sum_all()]
    finally:
        counters.close()


def pinned_director_maps(directory: Path) -> DirectorMaps:
    return DirectorMaps.made_by(pinned(directory))


def pinned_decap_maps(directory: Path) -> DecapMaps:
    return DecapMaps.made_by(pinned(directory))
