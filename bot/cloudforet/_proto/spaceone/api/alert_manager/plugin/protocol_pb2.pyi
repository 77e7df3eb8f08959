from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InitRequest(_message.Message):
    __slots__ = ("options", "domain_id")
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    options: _struct_pb2.Struct
    domain_id: str
    def __init__(self, options: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., domain_id: _Optional[str] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("options", "secret_data", "domain_id")
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    SECRET_DATA_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    options: _struct_pb2.Struct
    secret_data: _struct_pb2.Struct
    domain_id: str
    def __init__(self, options: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., secret_data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., domain_id: _Optional[str] = ...) -> None: ...

class PluginInfo(_message.Message):
    __slots__ = ("metadata",)
    METADATA_FIELD_NUMBER: _ClassVar[int]
    metadata: _struct_pb2.Struct
    def __init__(self, metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
