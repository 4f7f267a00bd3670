"""TensorFlow's ``GraphDef``, the file of a frozen DeepRacer model, written and read without TF.

A frozen TensorFlow 1 graph (``model.pb``) is one protobuf message, ``GraphDef``. racer writes
and reads the few messages and fields such a graph needs by hand, on protobuf's wire format, so
that neither TensorFlow nor generated protobuf classes are needed. The field numbers are those of
TensorFlow's ``.proto`` files in ``tensorflow/core/framework/``:

====================  =========================================================================
message               fields used (number: name)
====================  =========================================================================
``GraphDef``          1: node (NodeDef, repeated), 4: versions (VersionDef)
``VersionDef``        1: producer, 2: min_consumer
``NodeDef``           1: name, 2: op, 3: input (repeated), 4: device, 5: attr (map<string,
                      AttrValue>, each entry a message of 1: key, 2: value)
``AttrValue``         1: list, 2: s, 3: i, 4: f, 5: b, 6: type, 7: shape, 8: tensor (a oneof)
``AttrValue.List``    2: s, 3: i, 4: f, 5: b, 6: type, 7: shape, 8: tensor (all repeated)
``TensorProto``       1: dtype, 2: tensor_shape, 4: tensor_content (little-endian bytes);
                      read also: 5 float_val, 6 double_val, 7 int_val, 10 int64_val,
                      11 bool_val, 13 half_val
``TensorShapeProto``  2: dim (repeated Dim of 1: size, -1 when unknown), 3: unknown_rank
====================  =========================================================================

Attribute values are plain Python values, told apart by type: ``bool`` (b), `DataType` (type),
``int`` (i), ``float`` (f), ``bytes`` or ``str`` (s; read back as bytes), `TensorShape` (shape),
a numpy array (tensor) and a ``list`` of any one of these (list). Unknown fields are skipped when
reading, as protobuf does, so graphs written by TensorFlow itself decode too.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from racer.errors import ExportError

DataType = enum.IntEnum(
    "DataType",
    "FLOAT DOUBLE INT32 UINT8 INT16 INT8 STRING COMPLEX64 INT64 BOOL QINT8 QUINT8 QINT32 "
    "BFLOAT16 QINT16 QUINT16 UINT16 COMPLEX128 HALF RESOURCE VARIANT UINT32 UINT64",
    start=1,
)
"""TensorFlow's ``DataType`` enum (``types.proto``), its plain types: FLOAT = 1 ... UINT64 = 23
(the ``*_REF`` types of unfrozen variables, 101 and up, never occur in a frozen graph)."""


_NUMPY = {DataType.FLOAT: "<f4", DataType.DOUBLE: "<f8", DataType.INT32: "<i4",
          DataType.UINT8: "u1", DataType.INT16: "<i2", DataType.INT8: "i1",
          DataType.INT64: "<i8", DataType.BOOL: "?", DataType.HALF: "<f2"}  # fmt: skip
"""The little-endian numpy dtype of each numeric DataType (``tensor_content``'s layout)."""


@dataclass(frozen=True)
class TensorShape:
    """A ``TensorShapeProto``: ``dims`` gives each axis' size, -1 where unknown (the batch).

    ``dims=None`` is a shape of unknown rank.
    """

    dims: tuple[int, ...] | None


@dataclass
class NodeDef:
    """One operation of the graph (``NodeDef``).

    Attributes:
        name: the node's name; its first output is the tensor ``name:0``.
        op: the TensorFlow op, e.g. ``"Conv2D"``.
        inputs: the input tensors' names (``node`` for ``node:0``, ``node:k`` otherwise).
        attr: the op's attributes (see the module doc for the value types).
        device: the device it is pinned to; empty lets the runtime choose.
    """

    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attr: dict[str, Any] = field(default_factory=dict)
    device: str = ""


@dataclass
class GraphDef:
    """A frozen graph: its nodes in order, and the TensorFlow version that produced it.

    Attributes:
        nodes: every node; a frozen graph's weights are ``Const`` nodes among them.
        producer: ``versions.producer``, TensorFlow's graph version at write time.
        min_consumer: ``versions.min_consumer``, the oldest graph version that may read it.
    """

    nodes: list[NodeDef] = field(default_factory=list)
    producer: int = 0
    min_consumer: int = 0

    def node(self, name: str) -> NodeDef:
        """The node called ``name`` (a tensor name's ``:0`` is ignored); KeyError if none."""
        name = name.removesuffix(":0")
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def ops(self) -> list[str]:
        """The op of every node, in order."""
        return [node.op for node in self.nodes]


# --------------------------------------------------------------------------- writing
def _varint(value: int) -> bytes:
    """A protobuf varint; negative numbers as their 64-bit two's complement (10 bytes)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _int_field(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(int(value))


def _bytes_field(number: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else bytes(value)
    return _key(number, 2) + _varint(len(data)) + data


def _shape_message(shape: TensorShape) -> bytes:
    if shape.dims is None:
        return _int_field(3, 1)
    return b"".join(_bytes_field(2, _int_field(1, size) if size else b"") for size in shape.dims)


def _tensor_message(array: np.ndarray) -> bytes:
    dtype = _data_type(array.dtype)
    content = np.ascontiguousarray(array, dtype=_NUMPY[dtype]).tobytes()
    shape = _shape_message(TensorShape(tuple(int(n) for n in array.shape)))
    return _int_field(1, dtype) + _bytes_field(2, shape) + _bytes_field(4, content)


def _data_type(dtype: np.dtype) -> DataType:
    """The DataType of a numpy dtype (ExportError for one TensorFlow graphs cannot hold)."""
    for data_type, name in _NUMPY.items():
        if np.dtype(name) == np.dtype(dtype).newbyteorder("<"):
            return data_type
    raise ExportError(f"A graph constant cannot have numpy dtype {dtype}.")


def _packed(number: int, values: list[Any], encode: Any) -> bytes:
    data = b"".join(encode(v) for v in values)
    return _bytes_field(number, data) if values else b""


def _list_message(values: list[Any]) -> bytes:
    if not values:
        return b""
    first = values[0]
    if isinstance(first, bool):
        return _packed(5, values, lambda v: _varint(int(bool(v))))
    if isinstance(first, DataType):
        return _packed(6, values, lambda v: _varint(int(v)))
    if isinstance(first, int):
        return _packed(3, values, lambda v: _varint(int(v)))
    if isinstance(first, float):
        return _packed(4, values, lambda v: np.float32(v).astype("<f4").tobytes())
    if isinstance(first, bytes | str):
        return b"".join(_bytes_field(2, v) for v in values)
    if isinstance(first, TensorShape):
        return b"".join(_bytes_field(7, _shape_message(v)) for v in values)
    if isinstance(first, np.ndarray):
        return b"".join(_bytes_field(8, _tensor_message(v)) for v in values)
    raise ExportError(f"A graph attribute cannot be a list of {type(first).__name__}.")


def _attr_message(value: Any) -> bytes:
    """An ``AttrValue`` holding ``value`` (types as in the module doc)."""
    if isinstance(value, bool):
        return _int_field(5, int(value))
    if isinstance(value, DataType):
        return _int_field(6, int(value))
    if isinstance(value, int):
        return _int_field(3, value)
    if isinstance(value, float):
        return _key(4, 5) + np.float32(value).astype("<f4").tobytes()
    if isinstance(value, bytes | str):
        return _bytes_field(2, value)
    if isinstance(value, TensorShape):
        return _bytes_field(7, _shape_message(value))
    if isinstance(value, np.ndarray):
        return _bytes_field(8, _tensor_message(value))
    if isinstance(value, list):
        return _bytes_field(1, _list_message(value))
    raise ExportError(f"A graph attribute cannot be a {type(value).__name__} ({value!r}).")


def _node_message(node: NodeDef) -> bytes:
    parts = [_bytes_field(1, node.name), _bytes_field(2, node.op)]
    parts += [_bytes_field(3, name) for name in node.inputs]
    if node.device:
        parts.append(_bytes_field(4, node.device))
    for key in sorted(node.attr):  # sorted, as TensorFlow's deterministic serialisation
        entry = _bytes_field(1, key) + _bytes_field(2, _attr_message(node.attr[key]))
        parts.append(_bytes_field(5, entry))
    return b"".join(parts)


def encode_graph(graph: GraphDef) -> bytes:
    """The ``GraphDef`` message of ``graph``: the bytes of a ``.pb`` file.

    Raises:
        ExportError: an attribute has a type a GraphDef cannot hold.
    """
    parts = [_bytes_field(1, _node_message(node)) for node in graph.nodes]
    versions = _int_field(1, graph.producer) if graph.producer else b""
    if graph.min_consumer:
        versions += _int_field(2, graph.min_consumer)
    if versions:  # DeepRacer's own graphs have none
        parts.append(_bytes_field(4, versions))
    return b"".join(parts)


# --------------------------------------------------------------------------- reading
def _fields(data: memoryview) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of each field of a message; varints as ints."""
    position, end = 0, len(data)
    while position < end:
        key, position = _read_varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, position = _read_varint(data, position)
        elif wire == 1:
            value, position = data[position : position + 8], position + 8
        elif wire == 2:
            size, position = _read_varint(data, position)
            value, position = data[position : position + size], position + size
        elif wire == 5:
            value, position = data[position : position + 4], position + 4
        else:
            raise ExportError(f"not a GraphDef: protobuf wire type {wire} at byte {position}.")
        if position > end:
            raise ExportError("not a GraphDef: a field runs past the end (a truncated file?).")
        yield number, wire, value


def _read_varint(data: memoryview, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise ExportError("not a GraphDef: a varint runs past the end (a truncated file?).")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, position


def _signed(value: int) -> int:
    """A varint read as int64 (two's complement)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _varints(wire: int, value: Any) -> list[int]:
    """The ints of a repeated varint field, packed (wire 2) or not (wire 0)."""
    if wire == 0:
        return [_signed(value)]
    out, position = [], 0
    while position < len(value):
        number, position = _read_varint(value, position)
        out.append(_signed(number))
    return out


def _floats(wire: int, value: Any, dtype: str) -> list[float]:
    """The floats of a repeated float or double field, packed (wire 2) or not (wire 5, 1)."""
    return [float(v) for v in np.frombuffer(bytes(value), dtype=dtype)]


def _read_shape(data: memoryview) -> TensorShape:
    dims: list[int] = []
    for number, _, value in _fields(data):
        if number == 3 and value:
            return TensorShape(None)
        if number == 2:
            size = [_signed(v) for n, _, v in _fields(value) if n == 1]
            dims.append(size[-1] if size else 0)
    return TensorShape(tuple(dims))


def _read_tensor(data: memoryview) -> np.ndarray:
    """A ``TensorProto`` as a numpy array (a STRING tensor as an object array of bytes)."""
    dtype, dims, content = DataType.FLOAT, (), b""
    values: list[Any] = []
    for number, wire, value in _fields(data):
        if number == 1:
            dtype = DataType(value)
        elif number == 2:
            dims = _read_shape(value).dims or ()
        elif number == 4:
            content = bytes(value)
        elif number in (5, 6):
            values += _floats(wire, value, "<f4" if number == 5 else "<f8")
        elif number in (7, 10, 11, 13):
            values += _varints(wire, value)
        elif number == 8:
            values.append(bytes(value))
    if dtype != DataType.STRING and dtype not in _NUMPY:
        raise ExportError(f"a graph constant of TensorFlow type {dtype.name} is not supported.")
    if content:
        return np.frombuffer(content, dtype=_NUMPY[dtype]).reshape(dims).copy()
    return _filled(dtype, dims, values)


def _filled(dtype: DataType, dims: tuple[int, ...], values: list[Any]) -> np.ndarray:
    """A tensor of shape ``dims`` from its ``*_val`` field; TensorFlow repeats the last value."""
    if dtype == DataType.STRING:
        numpy_type: Any = object
    elif dtype == DataType.HALF:  # half_val holds the float16 bit patterns as ints
        numpy_type, values = np.float16, list(np.array(values, np.uint16).view(np.float16))
    else:
        numpy_type = _NUMPY[dtype]
    size = int(np.prod(dims, dtype=np.int64))
    array = np.zeros(size, dtype=numpy_type)
    if values:
        array[: len(values)] = values[:size]
        array[len(values) :] = values[-1]
    return array.reshape(dims)


def _read_list(data: memoryview) -> list[Any]:
    out: list[Any] = []
    for number, wire, value in _fields(data):
        if number == 2:
            out.append(bytes(value))
        elif number == 3:
            out += _varints(wire, value)
        elif number == 4:
            out += _floats(wire, value, "<f4")
        elif number == 5:
            out += [bool(v) for v in _varints(wire, value)]
        elif number == 6:
            out += [DataType(v) for v in _varints(wire, value)]
        elif number == 7:
            out.append(_read_shape(value))
        elif number == 8:
            out.append(_read_tensor(value))
    return out


_ATTR_READERS: dict[int, Any] = {
    1: _read_list,
    2: bytes,
    3: _signed,
    4: lambda v: float(np.frombuffer(bytes(v), "<f4")[0]),
    5: bool,
    6: DataType,
    7: _read_shape,
    8: _read_tensor,
}
"""AttrValue's oneof field number -> the reader of its value."""


def _read_attr(data: memoryview) -> Any:
    for number, _, value in _fields(data):
        if number in _ATTR_READERS:
            return _ATTR_READERS[number](value)
    return None  # an AttrValue kind racer does not read (func, placeholder)


def _read_node(data: memoryview) -> NodeDef:
    node = NodeDef(name="", op="")
    for number, _, value in _fields(data):
        if number == 1:
            node.name = bytes(value).decode()
        elif number == 2:
            node.op = bytes(value).decode()
        elif number == 3:
            node.inputs.append(bytes(value).decode())
        elif number == 4:
            node.device = bytes(value).decode()
        elif number == 5:
            entry = {n: v for n, _, v in _fields(value)}
            node.attr[bytes(entry.get(1, b"")).decode()] = _read_attr(entry.get(2, memoryview(b"")))
    return node


def decode_graph(data: bytes) -> GraphDef:
    """The `GraphDef` in the bytes of a ``.pb`` file.

    Raises:
        ExportError: the bytes are not a well-formed GraphDef.
    """
    graph = GraphDef()
    try:
        for number, _, value in _fields(memoryview(data)):
            if number == 1:
                graph.nodes.append(_read_node(value))
            elif number == 4:
                versions = {n: v for n, _, v in _fields(value)}
                graph.producer = _signed(versions.get(1, 0))
                graph.min_consumer = _signed(versions.get(2, 0))
    except (ValueError, UnicodeDecodeError, TypeError) as exc:
        raise ExportError(f"not a GraphDef ({exc}).") from None
    return graph


def read_graph(path: str | os.PathLike[str]) -> GraphDef:
    """The `GraphDef` in the ``.pb`` file at ``path``.

    Raises:
        ExportError: the file cannot be read or is not a GraphDef.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ExportError(f"cannot read {path}: {exc.strerror or exc}.") from None
    try:
        return decode_graph(data)
    except ExportError as exc:
        raise ExportError(f"{path} is {exc}") from None
