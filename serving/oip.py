"""The Open Inference Protocol's gRPC messages, declared in code: no protoc, no generated files.

Only what the wire needs is declared: field numbers and types of the messages behind the six RPCs
this server answers (``ServerLive``, ``ServerReady``, ``ModelReady``, ``ServerMetadata``,
``ModelMetadata``, ``ModelInfer`` of ``inference.GRPCInferenceService``). Message *names* never
travel on the wire, so nested messages are declared at top level, and a ``map<string,
InferParameter>`` is declared as what it is on the wire: a repeated ``{key = 1, value = 2}``
message. Building the descriptors at import from this table keeps the serving image free of
grpcio-tools and of any generated-code / protobuf-runtime version pairing, and works offline.
Compatibility with stock clients is what the tests prove (``tritonclient.grpc`` talks to it).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

SERVICE = "inference.GRPCInferenceService"
_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "bool": _F.TYPE_BOOL,
    "int32": _F.TYPE_INT32,
    "int64": _F.TYPE_INT64,
    "uint32": _F.TYPE_UINT32,
    "uint64": _F.TYPE_UINT64,
    "float": _F.TYPE_FLOAT,
    "double": _F.TYPE_DOUBLE,
    "string": _F.TYPE_STRING,
    "bytes": _F.TYPE_BYTES,
}

#: Fields of an input and of an output tensor (the same on the wire).
_TENSOR = [
    ("name", 1, "string", False),
    ("datatype", 2, "string", False),
    ("shape", 3, "int64", True),
    ("parameters", 4, "ParameterEntry", True),
    ("contents", 5, "InferTensorContents", False),
]

#: message -> fields as (name, number, type, repeated); a type not in _SCALARS names a message.
MESSAGES: dict[str, list[tuple[str, int, str, bool]]] = {
    "ServerLiveRequest": [],
    "ServerLiveResponse": [("live", 1, "bool", False)],
    "ServerReadyRequest": [],
    "ServerReadyResponse": [("ready", 1, "bool", False)],
    "ModelReadyRequest": [("name", 1, "string", False), ("version", 2, "string", False)],
    "ModelReadyResponse": [("ready", 1, "bool", False)],
    "ServerMetadataRequest": [],
    "ServerMetadataResponse": [
        ("name", 1, "string", False),
        ("version", 2, "string", False),
        ("extensions", 3, "string", True),
    ],
    "ModelMetadataRequest": [("name", 1, "string", False), ("version", 2, "string", False)],
    "TensorMetadata": [("name", 1, "string", False), ("datatype", 2, "string", False), ("shape", 3, "int64", True)],
    "ModelMetadataResponse": [
        ("name", 1, "string", False),
        ("versions", 2, "string", True),
        ("platform", 3, "string", False),
        ("inputs", 4, "TensorMetadata", True),
        ("outputs", 5, "TensorMetadata", True),
    ],
    # InferParameter is a oneof of these (see _ONEOF).
    "InferParameter": [
        ("bool_param", 1, "bool", False),
        ("int64_param", 2, "int64", False),
        ("string_param", 3, "string", False),
        ("double_param", 4, "double", False),
        ("uint64_param", 5, "uint64", False),
    ],
    "ParameterEntry": [("key", 1, "string", False), ("value", 2, "InferParameter", False)],
    "InferTensorContents": [
        ("bool_contents", 1, "bool", True),
        ("int_contents", 2, "int32", True),
        ("int64_contents", 3, "int64", True),
        ("uint_contents", 4, "uint32", True),
        ("uint64_contents", 5, "uint64", True),
        ("fp32_contents", 6, "float", True),
        ("fp64_contents", 7, "double", True),
        ("bytes_contents", 8, "bytes", True),
    ],
    "InferInputTensor": _TENSOR,
    "InferRequestedOutputTensor": [("name", 1, "string", False), ("parameters", 2, "ParameterEntry", True)],
    "ModelInferRequest": [
        ("model_name", 1, "string", False),
        ("model_version", 2, "string", False),
        ("id", 3, "string", False),
        ("parameters", 4, "ParameterEntry", True),
        ("inputs", 5, "InferInputTensor", True),
        ("outputs", 6, "InferRequestedOutputTensor", True),
        ("raw_input_contents", 7, "bytes", True),
    ],
    "InferOutputTensor": _TENSOR,  # the same fields as an input tensor
    "ModelInferResponse": [
        ("model_name", 1, "string", False),
        ("model_version", 2, "string", False),
        ("id", 3, "string", False),
        ("parameters", 4, "ParameterEntry", True),
        ("outputs", 5, "InferOutputTensor", True),
        ("raw_output_contents", 6, "bytes", True),
    ],
}
_ONEOF = {"InferParameter": "parameter_choice"}

#: RPC name -> (request message, response message).
RPCS = {
    "ServerLive": ("ServerLiveRequest", "ServerLiveResponse"),
    "ServerReady": ("ServerReadyRequest", "ServerReadyResponse"),
    "ModelReady": ("ModelReadyRequest", "ModelReadyResponse"),
    "ServerMetadata": ("ServerMetadataRequest", "ServerMetadataResponse"),
    "ModelMetadata": ("ModelMetadataRequest", "ModelMetadataResponse"),
    "ModelInfer": ("ModelInferRequest", "ModelInferResponse"),
}


def _file() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(name="yardarm/oip.proto", package="inference", syntax="proto3")
    for name, fields in MESSAGES.items():
        message = proto.message_type.add(name=name)
        if name in _ONEOF:
            message.oneof_decl.add(name=_ONEOF[name])
        for field_name, number, kind, repeated in fields:
            field = message.field.add(name=field_name, number=number)
            field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
            if kind in _SCALARS:
                field.type = _SCALARS[kind]
            else:
                field.type = _F.TYPE_MESSAGE
                field.type_name = f".inference.{kind}"
            if name in _ONEOF:
                field.oneof_index = 0
    return proto


def _classes() -> dict[str, Any]:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file())
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"inference.{name}")) for name in MESSAGES}


#: Message classes by name (``M["ModelInferRequest"]()``).
M = _classes()
