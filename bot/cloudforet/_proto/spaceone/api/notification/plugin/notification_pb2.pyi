from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PluginDispatchRequest(_message.Message):
    __slots__ = ("options", "message", "notification_type", "secret_data", "channel_data")
    class NotificationType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        NOTIFICATION_TYPE_NONE: _ClassVar[PluginDispatchRequest.NotificationType]
        INFO: _ClassVar[PluginDispatchRequest.NotificationType]
        ERROR: _ClassVar[PluginDispatchRequest.NotificationType]
        SUCCESS: _ClassVar[PluginDispatchRequest.NotificationType]
        WARNING: _ClassVar[PluginDispatchRequest.NotificationType]
    NOTIFICATION_TYPE_NONE: PluginDispatchRequest.NotificationType
    INFO: PluginDispatchRequest.NotificationType
    ERROR: PluginDispatchRequest.NotificationType
    SUCCESS: PluginDispatchRequest.NotificationType
    WARNING: PluginDispatchRequest.NotificationType
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_TYPE_FIELD_NUMBER: _ClassVar[int]
    SECRET_DATA_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_DATA_FIELD_NUMBER: _ClassVar[int]
    options: _struct_pb2.Struct
    message: _struct_pb2.Struct
    notification_type: PluginDispatchRequest.NotificationType
    secret_data: _struct_pb2.Struct
    channel_data: _struct_pb2.Struct
    def __init__(self, options: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., message: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., notification_type: _Optional[_Union[PluginDispatchRequest.NotificationType, str]] = ..., secret_data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., channel_data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
