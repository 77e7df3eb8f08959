from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NotificationTag(_message.Message):
    __slots__ = ("key", "value", "options")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    options: _struct_pb2.Struct
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ..., options: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class NotificationCallback(_message.Message):
    __slots__ = ("label", "url", "options")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    label: str
    url: str
    options: _struct_pb2.Struct
    def __init__(self, label: _Optional[str] = ..., url: _Optional[str] = ..., options: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class NotificationMessage(_message.Message):
    __slots__ = ("title", "link", "description", "image_url", "tags", "callbacks", "occurred_at")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    LINK_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CALLBACKS_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    title: str
    link: str
    description: str
    image_url: str
    tags: _containers.RepeatedCompositeFieldContainer[NotificationTag]
    callbacks: _containers.RepeatedCompositeFieldContainer[NotificationCallback]
    occurred_at: str
    def __init__(self, title: _Optional[str] = ..., link: _Optional[str] = ..., description: _Optional[str] = ..., image_url: _Optional[str] = ..., tags: _Optional[_Iterable[_Union[NotificationTag, _Mapping]]] = ..., callbacks: _Optional[_Iterable[_Union[NotificationCallback, _Mapping]]] = ..., occurred_at: _Optional[str] = ...) -> None: ...

class DispatchRequest(_message.Message):
    __slots__ = ("options", "secret_data", "channel_data", "message", "notification_type", "domain_id")
    class NotificationType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        NOTIFICATION_TYPE_NONE: _ClassVar[DispatchRequest.NotificationType]
        ERROR: _ClassVar[DispatchRequest.NotificationType]
        WARNING: _ClassVar[DispatchRequest.NotificationType]
        SUCCESS: _ClassVar[DispatchRequest.NotificationType]
        INFO: _ClassVar[DispatchRequest.NotificationType]
    NOTIFICATION_TYPE_NONE: DispatchRequest.NotificationType
    ERROR: DispatchRequest.NotificationType
    WARNING: DispatchRequest.NotificationType
    SUCCESS: DispatchRequest.NotificationType
    INFO: DispatchRequest.NotificationType
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    SECRET_DATA_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_DATA_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_TYPE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    options: _struct_pb2.Struct
    secret_data: _struct_pb2.Struct
    channel_data: _struct_pb2.Struct
    message: NotificationMessage
    notification_type: DispatchRequest.NotificationType
    domain_id: str
    def __init__(self, options: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., secret_data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., channel_data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., message: _Optional[_Union[NotificationMessage, _Mapping]] = ..., notification_type: _Optional[_Union[DispatchRequest.NotificationType, str]] = ..., domain_id: _Optional[str] = ...) -> None: ...
