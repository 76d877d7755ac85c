"""Typed handles on maps: BPF maps by fd, and dict-backed twins with the same interface.

The dict-backed ones hold exactly the bytes a BPF map would (keys and values
are the ABI structs of pyvs.dataplane.abi), so one configuration written
through either gives byte-identical contents: the reference pipeline runs on
them, and tests compare them with the kernel's maps.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Generic, TypeVar, cast

from pyvs.dataplane import libbpf

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
        if info.key_size != ctypes.sizeof(key_type):
            raise ValueError(f"map {info.name!r}: key size {info.key_size} != {ctypes.sizeof(key_type)}")

    @classmethod
    def pinned(cls, directory: Path, name: str, key_type: type[K], value_type: type[V]) -> BpfMap[K, V]:
        return cls(libbpf.obj_get(directory / name), key_type, value_type)

    def get(self, key: K) -> V | None:
        value = self.value_type()
        return value if libbpf.map_lookup(self.fd, key, value) else None

    def put(self, key: K, value: V, flags: int = libbpf.BPF_ANY) -> None:
        libbpf.map_update(self.fd, key, value, flags)

    def delete(self, key: K) -> bool:
        return libbpf.map_delete(self.fd, key)

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

    def zero(self, key: K) -> None:
        buf = ctypes.create_string_buffer(self._stride * self.ncpus)
        libbpf.map_update(self.fd, key, buf)

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


class DictMap(Generic[K, V]):
    """A BPF map's twin in a dict of bytes; arrays read as zero values where unset."""

    def __init__(self, key_type: type[K], value_type: type[V], max_entries: int, *,
                 is_array: bool = False) -> None:
        self.key_type = key_type
        self.value_type = value_type
        self.max_entries = max_entries
        self.is_array = is_array
        self.data: dict[bytes, bytes] = {}

    def _in_range(self, key: K) -> bool:
        return not self.is_array or int(getattr(key, "value")) < self.max_entries  # noqa: B009

    def get(self, key: K) -> V | None:
        if not self._in_range(key):
            return None
        raw = self.data.get(bytes(key))
        if raw is None:
            return self.value_type() if self.is_array else None
        return cast(V, self.value_type.from_buffer_copy(raw))

    def put(self, key: K, value: V, flags: int = libbpf.BPF_ANY) -> None:
        if not self._in_range(key):
            raise KeyError(f"index beyond {self.max_entries}")
        self.data[bytes(key)] = bytes(value)

    def delete(self, key: K) -> bool:
        return self.data.pop(bytes(key), None) is not None

    def keys(self) -> Iterator[K]:
        for raw in list(self.data):
            yield cast(K, self.key_type.from_buffer_copy(raw))

    def __iter__(self) -> Iterator[K]:
        return self.keys()

    def items(self) -> Iterator[tuple[K, V]]:
        for raw_key, raw_value in list(self.data.items()):
            yield (cast(K, self.key_type.from_buffer_copy(raw_key)),
                   cast(V, self.value_type.from_buffer_copy(raw_value)))

    def all_items(self) -> list[tuple[K, V]]:
        zero = bytes(ctypes.sizeof(self.value_type))
        return [(k, v) for k, v in self.items() if not (self.is_array and bytes(v) == zero)]

    def close(self) -> None:
        pass


class DictPerCpuMap(Generic[K, V]):
    """A per-CPU array's twin with a single CPU."""

    def __init__(self, key_type: type[K], value_type: type[V], max_entries: int) -> None:
        self.inner = DictMap(key_type, value_type, max_entries, is_array=True)
        self.max_entries = max_entries

    def get_all(self, key: K) -> list[V]:
        value = self.inner.get(key)
        return [] if value is None else [value]

    def zero(self, key: K) -> None:
        self.inner.delete(key)

    def sum_all(self) -> list[tuple[int, ...]]:
        words = ctypes.sizeof(self.inner.value_type) // 8
        rows = []
        for i in range(self.max_entries):
            raw = self.inner.data.get(bytes(self.inner.key_type(i)), bytes(words * 8))
            rows.append(struct.unpack(f"<{words}Q", raw))
        return rows

    def put_cpu0(self, key: K, value: V) -> None:
        self.inner.put(key, value)

    def close(self) -> None:
        pass
