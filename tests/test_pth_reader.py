"""The torch-free .pth reader: round trips through a hand-written legacy file, and refuses
pickles that would run code."""

from __future__ import annotations

import builtins
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from tessera.zoo.pth_reader import LEGACY_MAGIC, LEGACY_PROTOCOL, PthFormatError, read_state_dict

STORAGE_NAMES = {np.dtype("<f4"): "FloatStorage", np.dtype("<i8"): "LongStorage",
                 np.dtype("<f2"): "HalfStorage"}


def _frag(value) -> bytes:
    """Opcodes that push one plain value (a protocol-2 pickle without PROTO and STOP)."""
    return pickle.dumps(value, protocol=2)[2:-1]


def _global(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def _empty_ordered_dict() -> bytes:
    return _global("collections", "OrderedDict") + pickle.EMPTY_TUPLE + pickle.REDUCE


def state_dict_pickle(tensors: dict, storages: dict, legacy: bool = True) -> bytes:
    """The pickle torch.save writes for a state dict. ``tensors``: name -> (storage key,
    offset, shape, stride); ``storages``: key -> 1-D numpy array."""
    out = [pickle.PROTO + b"\x02", _empty_ordered_dict(), pickle.MARK]
    for name, (key, offset, shape, stride) in tensors.items():
        data = storages[key]
        pid = (pickle.MARK + _frag("storage") + _global("torch", STORAGE_NAMES[data.dtype])
               + _frag(key) + _frag("cpu") + _frag(data.size)
               + (pickle.NONE if legacy else b"") + pickle.TUPLE)
        args = (pickle.MARK + pid + pickle.BINPERSID + _frag(offset) + _frag(tuple(shape))
                + _frag(tuple(stride)) + pickle.NEWFALSE + _empty_ordered_dict() + pickle.TUPLE)
        out += [_frag(name), _global("torch._utils", "_rebuild_tensor_v2"), args, pickle.REDUCE]
    out += [pickle.SETITEMS, pickle.STOP]
    return b"".join(out)


def legacy_file(state_pickle: bytes, storages: dict, header: bytes | None = None) -> bytes:
    f = io.BytesIO()
    f.write(header or pickle.dumps(LEGACY_MAGIC, protocol=2))
    pickle.dump(LEGACY_PROTOCOL, f, protocol=2)
    pickle.dump({"protocol_version": LEGACY_PROTOCOL, "little_endian": True,
                 "type_sizes": {"short": 2, "int": 4, "long": 4}}, f, protocol=2)
    f.write(state_pickle)
    pickle.dump(list(storages), f, protocol=2)
    for data in storages.values():
        f.write(np.int64(data.size).tobytes())
        f.write(data.tobytes())
    return f.getvalue()


def zip_file(state_pickle: bytes, storages: dict) -> bytes:
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("archive/data.pkl", state_pickle)
        for key, data in storages.items():
            z.writestr(f"archive/data/{key}", data.tobytes())
    return f.getvalue()


STORAGES = {
    "1001": np.arange(24, dtype="<f4") * 0.5,
    "1002": np.array([7], dtype="<i8"),
    "1003": np.array([1.5, -2.0, 3.25], dtype="<f2"),
}
TENSORS = {
    "conv.weight": ("1001", 1, (2, 3, 2), (1, 6, 3)),  # non-contiguous view with an offset
    "conv.bias": ("1001", 20, (4,), (1,)),  # a second tensor over the same storage
    "bn.num_batches_tracked": ("1002", 0, (), ()),
    "half": ("1003", 0, (3,), (1,)),
}


def expected(name: str) -> np.ndarray:
    key, offset, shape, stride = TENSORS[name]
    data = STORAGES[key]
    return np.lib.stride_tricks.as_strided(
        data[offset:], shape, [s * data.itemsize for s in stride]).copy()


@pytest.mark.parametrize("fmt", ["legacy", "zip"])
def test_round_trip(fmt):
    if fmt == "legacy":
        blob = legacy_file(state_dict_pickle(TENSORS, STORAGES), STORAGES)
    else:
        blob = zip_file(state_dict_pickle(TENSORS, STORAGES, legacy=False), STORAGES)
    state = read_state_dict(blob)
    assert list(state) == list(TENSORS)
    for name, array in state.items():
        want = expected(name)
        assert array.shape == want.shape and array.dtype == want.dtype, name
        np.testing.assert_array_equal(array, want)
    # conv.weight[i, j, k] = storage[1 + i + 6 j + 3 k] * 0.5 -- spelled out once by hand
    assert state["conv.weight"][1, 2, 1] == (1 + 1 + 12 + 3) * 0.5
    assert state["bn.num_batches_tracked"].shape == () and int(state["bn.num_batches_tracked"]) == 7


def test_reads_from_a_path(tmp_path):
    path = tmp_path / "w.pth"
    path.write_bytes(legacy_file(state_dict_pickle(TENSORS, STORAGES), STORAGES))
    np.testing.assert_array_equal(read_state_dict(path)["conv.bias"], expected("conv.bias"))


class _Exploit:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


def _exploits(marker):
    return {
        "os.system": _Exploit(os.system, f"touch {marker}"),
        "builtins.eval": _Exploit(builtins.eval, f"open({str(marker)!r}, 'w').close()"),
    }


@pytest.mark.parametrize("where", ["state dict", "header", "zip"])
@pytest.mark.parametrize("attack", ["os.system", "builtins.eval"])
def test_refuses_code_execution(tmp_path, where, attack):
    marker = tmp_path / "pwned"
    evil = pickle.dumps(_exploits(marker)[attack], protocol=2)
    if where == "state dict":
        blob = legacy_file(evil, {})
    elif where == "header":
        blob = legacy_file(state_dict_pickle(TENSORS, STORAGES), STORAGES, header=evil)
    else:
        blob = zip_file(evil, {})
    with pytest.raises(PthFormatError, match="refusing to load"):
        read_state_dict(blob)
    assert not marker.exists()


def test_refuses_non_tensor_values():
    blob = legacy_file(pickle.dumps({"lr": 0.1}, protocol=2), {})
    with pytest.raises(PthFormatError, match="state dict"):
        read_state_dict(blob)


def test_refuses_a_tensor_past_the_end_of_its_storage():
    tensors = {"w": ("1001", 20, (5,), (1,))}
    blob = legacy_file(state_dict_pickle(tensors, STORAGES), {"1001": STORAGES["1001"]})
    with pytest.raises(PthFormatError, match="past its end"):
        read_state_dict(blob)


def test_refuses_truncated_and_foreign_files():
    blob = legacy_file(state_dict_pickle(TENSORS, STORAGES), STORAGES)
    with pytest.raises(PthFormatError, match="truncated"):
        read_state_dict(blob[:-5])
    with pytest.raises(PthFormatError):
        read_state_dict(b"GIF89a not a weights file")
