"""The maps of the director and of the decapsulation, declared once.

`DIRECTOR_MAPS` and `DECAP_MAPS` list every map: its field in `DirectorMaps`
(the map's name is `lb_` + field, `lb_decap_` + field for the decapsulation),
key and value types, kind and what its capacity grows with. From that one
list come the dict-backed twins here (`DirectorMaps.in_memory()`), on which
the reference pipeline runs, and in the adapter the pinned BPF maps and the
loader's resizing (pyvs.dataplane.maps, pyvs.dataplane.xdp); tests/abi checks
the list against the maps of the compiled objects (bpf/lb_maps.h, bpf/decap.h).

Handles are typed by their key and value: `MapHandle[K, V]` for hash and
array maps, `PerCpuHandle[K, V]` for per-CPU arrays. The twins hold exactly
the bytes a BPF map would, so one configuration written through either gives
byte-identical contents.

Rule: pure. Nothing here loads libbpf or talks to the kernel.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar, cast

from pyvs.model.enums import FLOW_STATES, DecapCounter, DropReason, IcmpCounter, Setting
from pyvs.model.errors import DataplaneError
from pyvs.packet import abi
from pyvs.sched import SCHED_SLOTS
from pyvs.sched.mh import TABLE_SIZE as MH_TABLE_SIZE

K = TypeVar("K", bound=ctypes._SimpleCData | ctypes.Structure)  # type: ignore[type-arg]
V = TypeVar("V", bound=ctypes._SimpleCData | ctypes.Structure)  # type: ignore[type-arg]
KC = TypeVar("KC", bound=ctypes._SimpleCData | ctypes.Structure, contravariant=True)  # type: ignore[type-arg]
U32 = ctypes.c_uint32
U64 = ctypes.c_uint64
BPF_ANY = 0
BPF_NOEXIST = 1

# The compiled capacities (bpf/lb_consts.h), which the loader may change.
LB_MAX_SERVICES = 16384
LB_MAX_REALS = 131072
LB_MAX_FLOWS = 262144
LB_MAX_DECAP_ADDRS = 256
LB_MAX_MH_SERVICES = 64
LB_MAX_FRAGS = 16384


class MapHandle(Protocol[K, V]):
    """A hash or array map (BPF, or its twin)."""

    max_entries: int

    def get(self, key: K) -> V | None: ...
    def put(self, key: K, value: V, flags: int = BPF_ANY) -> None: ...
    def put_many(self, keys: Sequence[K], values: Sequence[V]) -> None: ...
    def put_u32s(self, keys: Sequence[int], values: Sequence[int]) -> None: ...
    def delete(self, key: K) -> bool: ...
    def delete_many(self, keys: Sequence[K]) -> int: ...
    def zero(self, indices: Sequence[int]) -> None: ...
    def keys(self) -> Iterator[K]: ...
    def __iter__(self) -> Iterator[K]: ...
    def items(self) -> Iterator[tuple[K, V]]: ...
    def all_items(self) -> list[tuple[K, V]]: ...
    def close(self) -> None: ...


class PerCpuHandle(Protocol[KC, V]):
    """A per-CPU array (BPF, or its twin with one CPU)."""

    max_entries: int

    def get_all(self, key: KC) -> list[V]: ...
    def zero(self, indices: Sequence[int]) -> None: ...
    def sum_all(self) -> list[tuple[int, ...]]: ...
    def put_cpu0(self, key: KC, value: V) -> None: ...
    def close(self) -> None: ...


class MapKind(enum.IntEnum):
    """Map types, numbered as enum bpf_map_type."""

    HASH = 1
    ARRAY = 2
    PERCPU_ARRAY = 6
    LRU_HASH = 9


@dataclass(frozen=True, slots=True)
class Capacity:
    """How many services, real servers and flows the maps hold (None: as compiled)."""

    services: int | None = None
    reals: int | None = None
    flows: int | None = None


@dataclass(frozen=True, slots=True)
class MapSpec:
    field: str
    key: type[Any]
    value: type[Any]
    kind: MapKind
    entries: Callable[[Capacity], int | None]  # None: as compiled

    @property
    def per_cpu(self) -> bool:
        return self.kind == MapKind.PERCPU_ARRAY


def _services(c: Capacity) -> int | None:
    return c.services


def _sched_slots(c: Capacity) -> int | None:
    return None if c.services is None else c.services * 2 * SCHED_SLOTS


def _reals(c: Capacity) -> int | None:
    return c.reals


def _flows(c: Capacity) -> int | None:
    return c.flows


def _fixed(c: Capacity) -> int | None:
    return None


DIRECTOR_MAPS: tuple[MapSpec, ...] = (
    MapSpec("services", abi.SvcKey, abi.Svc, MapKind.HASH, _services),
    MapSpec("vip_addrs", U32, U32, MapKind.HASH, _services),
    MapSpec("reals", U32, abi.Real, MapKind.ARRAY, _reals),
    MapSpec("sched", U32, U32, MapKind.ARRAY, _sched_slots),
    MapSpec("mh", U32, U32, MapKind.ARRAY, _fixed),
    MapSpec("sched_pos", U32, U32, MapKind.ARRAY, _services),
    MapSpec("flows", abi.FlowKey, abi.Flow, MapKind.HASH, _flows),
    MapSpec("conns", U32, abi.Conns, MapKind.ARRAY, _reals),
    MapSpec("timeouts", U32, U32, MapKind.ARRAY, _fixed),
    MapSpec("sweeper", U32, abi.Sweeper, MapKind.ARRAY, _fixed),
    MapSpec("lblc", abi.LblcKey, abi.Lblc, MapKind.HASH, _services),
    MapSpec("svc_rates", U32, abi.Rate, MapKind.ARRAY, _services),
    MapSpec("real_rates", U32, abi.Rate, MapKind.ARRAY, _reals),
    MapSpec("estimator", U32, abi.Estimator, MapKind.ARRAY, _fixed),
    MapSpec("persist", abi.PersistKey, abi.Persist, MapKind.LRU_HASH, _flows),
    MapSpec("svc_stats", U32, abi.Counters, MapKind.PERCPU_ARRAY, _services),
    MapSpec("real_stats", U32, abi.Counters, MapKind.PERCPU_ARRAY, _reals),
    MapSpec("settings", U32, U32, MapKind.ARRAY, _fixed),
    MapSpec("frags", abi.FragKey, abi.Frag, MapKind.LRU_HASH, _fixed),
    MapSpec("icmp", U32, U64, MapKind.PERCPU_ARRAY, _fixed),
    MapSpec("drops", U32, U64, MapKind.PERCPU_ARRAY, _fixed),
)
DIRECTOR_PREFIX = "lb_"

DECAP_MAPS: tuple[MapSpec, ...] = (
    MapSpec("vips", U32, U32, MapKind.HASH, _fixed),
    MapSpec("locals", U32, U32, MapKind.HASH, _fixed),
    MapSpec("stats", U32, U64, MapKind.PERCPU_ARRAY, _fixed),
)
DECAP_PREFIX = "lb_decap_"

# Entries of the maps whose size does not follow a Capacity (as compiled).
FIXED_ENTRIES = {"lb_drops": len(DropReason), "lb_mh": LB_MAX_MH_SERVICES * 2 * MH_TABLE_SIZE,
                 "lb_timeouts": FLOW_STATES, "lb_sweeper": 1, "lb_estimator": 1,
                 "lb_settings": len(Setting), "lb_frags": LB_MAX_FRAGS, "lb_icmp": len(IcmpCounter),
                 "lb_decap_vips": LB_MAX_DECAP_ADDRS,
                 "lb_decap_locals": LB_MAX_DECAP_ADDRS, "lb_decap_stats": len(DecapCounter)}

# What a handle is made from: the map's spec and its name; returns the handle.
HandleMaker = Callable[[MapSpec, str], Any]


class MapSet:
    """A dataclass of map handles declared by SPECS, each map named PREFIX + field."""

    SPECS: ClassVar[tuple[MapSpec, ...]]
    PREFIX: ClassVar[str]

    @classmethod
    def made_by(cls, make: HandleMaker) -> Self:
        """Every declared map, each handle made by `make(spec, name)`."""
        return cls(**{spec.field: make(spec, cls.PREFIX + spec.field) for spec in cls.SPECS})

    @classmethod
    def twins(cls, capacity: Capacity) -> Self:
        return cls.made_by(lambda spec, name: twin(spec, name, capacity))

    def close(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            getattr(self, f.name).close()


@dataclass
class DirectorMaps(MapSet):
    """Handles on the director's maps (bpf/lb_maps.h), by field (the map is lb_<field>)."""

    SPECS = DIRECTOR_MAPS
    PREFIX = DIRECTOR_PREFIX

    services: MapHandle[abi.SvcKey, abi.Svc]
    vip_addrs: MapHandle[ctypes.c_uint32, ctypes.c_uint32]
    reals: MapHandle[ctypes.c_uint32, abi.Real]
    sched: MapHandle[ctypes.c_uint32, ctypes.c_uint32]
    mh: MapHandle[ctypes.c_uint32, ctypes.c_uint32]
    sched_pos: MapHandle[ctypes.c_uint32, ctypes.c_uint32]
    flows: MapHandle[abi.FlowKey, abi.Flow]
    conns: MapHandle[ctypes.c_uint32, abi.Conns]
    timeouts: MapHandle[ctypes.c_uint32, ctypes.c_uint32]
    sweeper: MapHandle[ctypes.c_uint32, abi.Sweeper]
    lblc: MapHandle[abi.LblcKey, abi.Lblc]
    svc_rates: MapHandle[ctypes.c_uint32, abi.Rate]
    real_rates: MapHandle[ctypes.c_uint32, abi.Rate]
    estimator: MapHandle[ctypes.c_uint32, abi.Estimator]
    persist: MapHandle[abi.PersistKey, abi.Persist]
    svc_stats: PerCpuHandle[ctypes.c_uint32, abi.Counters]
    real_stats: PerCpuHandle[ctypes.c_uint32, abi.Counters]
    settings: MapHandle[ctypes.c_uint32, ctypes.c_uint32]
    frags: MapHandle[abi.FragKey, abi.Frag]
    icmp: PerCpuHandle[ctypes.c_uint32, ctypes.c_uint64]
    drops: PerCpuHandle[ctypes.c_uint32, ctypes.c_uint64]

    @classmethod
    def in_memory(cls, *, max_services: int = 64, max_reals: int = 256,
                  max_flows: int = 4096) -> DirectorMaps:
        return cls.twins(Capacity(max_services, max_reals, max_flows))


@dataclass
class DecapMaps(MapSet):
    """Handles on the real-server decapsulation's maps (bpf/decap.h): lb_decap_<field>."""

    SPECS = DECAP_MAPS
    PREFIX = DECAP_PREFIX

    vips: MapHandle[ctypes.c_uint32, ctypes.c_uint32]
    locals: MapHandle[ctypes.c_uint32, ctypes.c_uint32]
    stats: PerCpuHandle[ctypes.c_uint32, ctypes.c_uint64]

    @classmethod
    def in_memory(cls) -> DecapMaps:
        return cls.twins(Capacity())


def entries(spec: MapSpec, name: str, capacity: Capacity) -> int:
    """The map's size for `capacity` (the compiled size where it does not say)."""
    sized = spec.entries(capacity)
    if sized is not None:
        return sized
    if name in FIXED_ENTRIES:
        return FIXED_ENTRIES[name]
    compiled = Capacity(LB_MAX_SERVICES, LB_MAX_REALS, LB_MAX_FLOWS)
    return cast(int, spec.entries(compiled))


def twin(spec: MapSpec, name: str, capacity: Capacity) -> DictMap[Any, Any] | DictPerCpuMap[Any, Any]:
    """The dict-backed twin of one map."""
    size = entries(spec, name, capacity)
    if spec.per_cpu:
        return DictPerCpuMap(spec.key, spec.value, size)
    return DictMap(spec.key, spec.value, size, is_array=spec.kind == MapKind.ARRAY,
                   bounded=spec.kind == MapKind.HASH)


class DictMap(Generic[K, V]):
    """A BPF map's twin in a dict of bytes; arrays read as zero values where unset."""

    def __init__(self, key_type: type[K], value_type: type[V], max_entries: int, *,
                 is_array: bool = False, bounded: bool = False) -> None:
        self.key_type = key_type
        self.value_type = value_type
        self.max_entries = max_entries
        self.is_array = is_array
        self.bounded = bounded  # a plain hash map: full at max_entries
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

    def put(self, key: K, value: V, flags: int = BPF_ANY) -> None:
        """As bpf_map_update_elem(): DataplaneError EEXIST for BPF_NOEXIST on a key
        that is there, E2BIG for a new key of a full hash map (an LRU map evicts instead,
        which the twin does not model: it grows)."""
        if not self._in_range(key):
            raise KeyError(f"index beyond {self.max_entries}")
        raw = bytes(key)
        if not self.is_array and raw in self.data and flags == BPF_NOEXIST:
            raise DataplaneError(errno.EEXIST, "update map element")
        if self.bounded and raw not in self.data and len(self.data) >= self.max_entries:
            raise DataplaneError(errno.E2BIG, "update map element")
        self.data[raw] = bytes(value)

    def put_many(self, keys: Sequence[K], values: Sequence[V]) -> None:
        for key, value in zip(keys, values, strict=True):
            self.put(key, value)

    def put_u32s(self, keys: Sequence[int], values: Sequence[int]) -> None:
        """put_many() of a map of u32 to u32, from plain ints."""
        for key, value in zip(keys, values, strict=True):
            self.put(self.key_type(key), self.value_type(value))

    def delete(self, key: K) -> bool:
        return self.data.pop(bytes(key), None) is not None

    def delete_many(self, keys: Sequence[K]) -> int:
        """As a batch delete: stops at the first absent key; how many went."""
        for done, key in enumerate(keys):
            if not self.delete(key):
                return done
        return len(keys)

    def zero(self, indices: Sequence[int]) -> None:
        """Reset the array entries at `indices` (an unset entry reads as zeros)."""
        for index in indices:
            self.delete(self.key_type(index))

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

    def zero(self, indices: Sequence[int]) -> None:
        for index in indices:
            self.inner.delete(self.inner.key_type(index))

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
