"""Read PyTorch state-dict files (.pth) into numpy arrays without torch and without running code.

The bundled weights use PyTorch's legacy (pre-1.6) serialisation: five pickles in a row —
magic number, protocol version, system info, the object (here a state dict whose tensors are
``torch._utils._rebuild_tensor_v2`` calls over persistent storage references), the list of
storage keys — followed by each storage's raw little-endian bytes, prefixed by its element
count as int64. The zip format (PyTorch >= 1.6) keeps the same pickle in ``*/data.pkl`` and
each storage in ``*/data/<key>``; it is read too.

Pickle is a program, not a data format, so the unpickler here resolves only the handful of
globals a state dict needs and turns each of them into an inert placeholder; anything else
is a :class:`PthFormatError`. Tensors are materialised after unpickling, from the storages,
honouring each tensor's shape, stride and storage offset.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class PthFormatError(ValueError):
    """The file is not a state dict of tensors that this reader can load safely."""


class _Inert:
    """Placeholders must not be altered by a BUILD opcode in a crafted pickle."""

    def __setstate__(self, state):
        raise PthFormatError("the pickle tries to modify a tensor or storage")


@dataclass(frozen=True)
class _StorageType(_Inert):
    dtype: np.dtype


@dataclass(frozen=True)
class _StorageRef(_Inert):
    key: str
    dtype: np.dtype
    numel: int


@dataclass(frozen=True)
class _TensorRef(_Inert):
    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None) -> _TensorRef:
    if not isinstance(storage, _StorageRef):
        raise PthFormatError("a tensor is built over something that is not a storage")
    ints = (storage_offset, *size, *stride)
    if not all(type(v) is int and v >= 0 for v in ints) or len(size) != len(stride):
        raise PthFormatError("a tensor has an invalid shape, stride or offset")
    return _TensorRef(storage, storage_offset, tuple(size), tuple(stride))


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        raise PthFormatError(f"refusing to load {module}.{name}: only tensors and plain "
                             "containers are allowed in a weights file")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise PthFormatError(f"unknown persistent reference {pid!r:.80}")
        _, storage_type, key, _location, numel = pid[:5]
        if not isinstance(storage_type, _StorageType):
            raise PthFormatError(f"unsupported storage type {storage_type!r:.80}")
        if len(pid) > 5 and pid[5] is not None:
            raise PthFormatError("storage views (PyTorch < 0.4 files) are not supported")
        if not isinstance(key, str) or type(numel) is not int or numel < 0:
            raise PthFormatError("malformed storage reference")
        return _StorageRef(key, storage_type.dtype, numel)


def _unpickle(f: BinaryIO):
    try:
        return _RestrictedUnpickler(f).load()
    except PthFormatError:
        raise
    except Exception as exc:  # any malformed pickle: truncated, bad opcode, wrong call
        raise PthFormatError(f"malformed pickle: {exc}") from exc


class _NoGlobalsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        raise PthFormatError(f"refusing to load {module}.{name} in a file header")


def _plain_load(f: BinaryIO):
    """One of the legacy header pickles: only plain data, so no globals at all."""
    try:
        return _NoGlobalsUnpickler(f).load()
    except PthFormatError:
        raise
    except Exception as exc:
        raise PthFormatError(f"malformed header: {exc}") from exc


def _tensor_refs(obj) -> dict[str, _TensorRef]:
    if not isinstance(obj, dict) or not all(
            isinstance(k, str) and isinstance(v, _TensorRef) for k, v in obj.items()):
        raise PthFormatError("the file does not hold a state dict (a mapping of names to tensors)")
    return dict(obj)


def _materialise(ref: _TensorRef, storages: dict[str, np.ndarray]) -> np.ndarray:
    data = storages.get(ref.storage.key)
    if data is None:
        raise PthFormatError(f"storage {ref.storage.key} is missing from the file")
    if ref.shape and min(ref.shape) == 0:
        return np.zeros(ref.shape, data.dtype)
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride))
    if last >= data.size:
        raise PthFormatError(f"a tensor over storage {ref.storage.key} reaches past its end")
    item = data.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(data[ref.offset:], ref.shape,
                                           [s * item for s in ref.stride], writeable=False)
    return view.copy()  # C order, detached from the file buffer


def _read_legacy(f: BinaryIO) -> dict[str, np.ndarray]:
    if _plain_load(f) != LEGACY_MAGIC:
        raise PthFormatError("not a PyTorch weights file (bad magic number)")
    if _plain_load(f) != LEGACY_PROTOCOL:
        raise PthFormatError("unsupported PyTorch legacy protocol version")
    info = _plain_load(f)
    if not isinstance(info, dict) or not info.get("little_endian", False):
        raise PthFormatError("only little-endian PyTorch files are supported")
    refs = _tensor_refs(_unpickle(f))
    keys = _plain_load(f)
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise PthFormatError("malformed storage key list")
    dtypes = {r.storage.key: r.storage.dtype for r in refs.values()}
    storages = {}
    for key in keys:
        if key not in dtypes:
            raise PthFormatError(f"storage {key} is not used by any tensor")
        numel = int.from_bytes(_read_exact(f, 8), "little", signed=True)
        dtype = dtypes[key]
        storages[key] = np.frombuffer(_read_exact(f, numel * dtype.itemsize), dtype)
    return {name: _materialise(ref, storages) for name, ref in refs.items()}


def _read_exact(f: BinaryIO, n: int) -> bytes:
    if n < 0:
        raise PthFormatError("negative storage size")
    data = f.read(n)
    if len(data) != n:
        raise PthFormatError("the file is truncated")
    return data


def _read_zip(z: zipfile.ZipFile) -> dict[str, np.ndarray]:
    pickles = [n for n in z.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise PthFormatError("zip file without exactly one */data.pkl: not a PyTorch weights file")
    prefix = pickles[0][: -len("data.pkl")]
    refs = _tensor_refs(_unpickle(io.BytesIO(z.read(pickles[0]))))
    storages = {}
    for ref in refs.values():
        s = ref.storage
        if s.key not in storages:
            try:
                raw = z.read(f"{prefix}data/{s.key}")
            except KeyError:
                raise PthFormatError(f"storage {s.key} is missing from the file") from None
            if len(raw) < s.numel * s.dtype.itemsize:
                raise PthFormatError(f"storage {s.key} is truncated")
            storages[s.key] = np.frombuffer(raw, s.dtype, count=s.numel)
    return {name: _materialise(ref, storages) for name, ref in refs.items()}


def read_state_dict(source: str | Path | bytes) -> dict[str, np.ndarray]:
    """Load a state dict from a .pth path or its bytes: name -> C-contiguous numpy array."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return _read_zip(z)
    return _read_legacy(io.BytesIO(data))
