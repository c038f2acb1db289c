"""Plain Python values <-> the host's tensors (raw little-endian bytes, as the WIT says).

No numpy in the sandbox: nested lists are flattened into ``array.array`` buffers, which
are the same bytes the host's tensors hold (wasm is little-endian).
"""

import array
import struct

from wit_world.imports.types import Datatype, Tensor

from predictor_runtime._errors import BadInput

# array typecodes of the fixed-width datatypes.
_CODES = {
    Datatype.BOOL: "B",
    Datatype.UINT8: "B",
    Datatype.UINT16: "H",
    Datatype.UINT32: "I",
    Datatype.UINT64: "Q",
    Datatype.INT8: "b",
    Datatype.INT16: "h",
    Datatype.INT32: "i",
    Datatype.INT64: "q",
    Datatype.FP32: "f",
    Datatype.FP64: "d",
}

INTEGER_TYPES = frozenset(
    [Datatype.UINT8, Datatype.UINT16, Datatype.UINT32, Datatype.UINT64,
     Datatype.INT8, Datatype.INT16, Datatype.INT32, Datatype.INT64]
)


def _bf16_to_floats(data: bytes) -> list:
    """BF16 elements as floats: each is the upper half of an FP32, so shifting its 16 bits
    up gives the FP32 exactly (``array`` has no 16-bit float code)."""
    halves = array.array("H")
    halves.frombytes(data)
    wide = array.array("I", [h << 16 for h in halves])
    floats = array.array("f")
    floats.frombytes(wide.tobytes())
    return floats.tolist()


def _floats_to_bf16(flat: list) -> bytes:
    """Floats as BF16, rounded to nearest even from FP32 (a NaN stays a quiet NaN)."""
    wide = array.array("I")
    wide.frombytes(array.array("f", flat).tobytes())
    out = array.array("H")
    for bits in wide:
        if bits & 0x7F800000 == 0x7F800000 and bits & 0x007FFFFF:
            out.append((bits >> 16) | 0x0040)
        else:
            out.append(((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) & 0xFFFF)
    return out.tobytes()


def datatype_name(datatype: Datatype) -> str:
    """The Open Inference Protocol name: ``FP32``, ``INT64``, ``BYTES``..."""
    return datatype.name


def _shape_of(value) -> list:
    shape = []
    while isinstance(value, (list, tuple)):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _flatten(value, depth: int) -> list:
    if depth == 0:
        return [value]
    if depth == 1:
        return list(value)
    if depth == 2:
        return [e for row in value for e in row]
    return [e for part in value for e in _flatten(part, depth - 1)]


def to_tensor(name: str, datatype: Datatype, value) -> Tensor:
    """A tensor named ``name`` from a number, a (nested) list, or bytes/str for BYTES."""
    code = _CODES.get(datatype)
    # The common case first (rows of numbers for a fixed-width type), in as few bytecodes
    # as possible: this runs on every request.
    if code is not None and datatype != Datatype.BOOL and type(value) is list and value and type(value[0]) is list:
        cols = len(value[0])
        try:
            flat = [e for row in value for e in row]
        except TypeError:
            flat = None  # a row that is not a list: the general path says it is ragged
        if flat is not None and len(flat) == len(value) * cols:
            try:
                return Tensor(name, datatype, [len(value), cols], array.array(code, flat).tobytes())
            except (TypeError, OverflowError):
                pass  # the general path below says which element is wrong
    if datatype == Datatype.BYTES and isinstance(value, (str, bytes)):
        value = [value]
    shape = _shape_of(value)
    try:
        flat = _flatten(value, len(shape))
    except TypeError:  # a number where a row should be
        flat = None
    expected = 1
    for d in shape:
        expected *= d
    if flat is None or len(flat) != expected or any(isinstance(e, (list, tuple)) for e in flat):
        raise BadInput(f"input {name!r} is ragged: rows of different lengths, shape starts {shape}")
    try:
        if datatype == Datatype.BYTES:
            parts = []
            for e in flat:
                b = e.encode() if isinstance(e, str) else bytes(e)
                parts.append(struct.pack("<I", len(b)))
                parts.append(b)
            data = b"".join(parts)
        elif datatype == Datatype.FP16:
            data = struct.pack(f"<{len(flat)}e", *flat)
        elif datatype == Datatype.BF16:
            data = _floats_to_bf16(flat)
        elif datatype == Datatype.BOOL:
            data = bytes(1 if e else 0 for e in flat)
        elif datatype in _CODES:
            data = array.array(_CODES[datatype], flat).tobytes()
        else:
            raise BadInput(f"input {name!r}: datatype {datatype.name} is not supported from Python")
    except (TypeError, OverflowError, struct.error) as e:
        raise BadInput(f"input {name!r} is not {datatype.name} data: {e}") from None
    return Tensor(name=name, datatype=datatype, shape=shape, data=data)


def _reshape(flat: list, shape: list):
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return flat
    if len(shape) == 2:
        cols = shape[1]
        return [flat[i:i + cols] for i in range(0, len(flat), cols)] if cols else [[] for _ in range(shape[0])]
    step = len(flat) // shape[0] if shape[0] else 0
    return [_reshape(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def from_tensor(tensor: Tensor):
    """A tensor's elements as a nested list shaped like the tensor (a scalar for rank 0)."""
    dt = tensor.datatype
    data = tensor.data
    if dt == Datatype.BYTES:
        flat = []
        at = 0
        while at < len(data):
            (n,) = struct.unpack_from("<I", data, at)
            raw = data[at + 4:at + 4 + n]
            at += 4 + n
            try:
                flat.append(raw.decode())
            except UnicodeDecodeError:
                flat.append(raw)
    elif dt == Datatype.FP16:
        flat = list(struct.unpack(f"<{len(data) // 2}e", data))
    elif dt == Datatype.BF16:
        flat = _bf16_to_floats(data)
    elif dt == Datatype.BOOL:
        flat = [b != 0 for b in data]
    elif dt in _CODES:
        buf = array.array(_CODES[dt])
        buf.frombytes(data)
        flat = buf.tolist()
    else:
        raise BadInput(f"tensor {tensor.name!r}: datatype {dt.name} is not supported from Python")
    return _reshape(flat, list(tensor.shape))
