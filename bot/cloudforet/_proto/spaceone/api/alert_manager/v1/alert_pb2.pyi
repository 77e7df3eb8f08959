from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AlertUpdateRequest(_message.Message):
    __slots__ = ("alert_id", "status")
    class AlertStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ALERT_STATE_NONE: _ClassVar[AlertUpdateRequest.AlertStatus]
        TRIGGERED: _ClassVar[AlertUpdateRequest.AlertStatus]
        ACKNOWLEDGED: _ClassVar[AlertUpdateRequest.AlertStatus]
        RESOLVED: _ClassVar[AlertUpdateRequest.AlertStatus]
        IGNORED: _ClassVar[AlertUpdateRequest.AlertStatus]
    ALERT_STATE_NONE: AlertUpdateRequest.AlertStatus
    TRIGGERED: AlertUpdateRequest.AlertStatus
    ACKNOWLEDGED: AlertUpdateRequest.AlertStatus
    RESOLVED: AlertUpdateRequest.AlertStatus
    IGNORED: AlertUpdateRequest.AlertStatus
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    status: AlertUpdateRequest.AlertStatus
    def __init__(self, alert_id: _Optional[str] = ..., status: _Optional[_Union[AlertUpdateRequest.AlertStatus, str]] = ...) -> None: ...

class AlertSearchQuery(_message.Message):
    __slots__ = ("alert_id",)
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    def __init__(self, alert_id: _Optional[str] = ...) -> None: ...

class AlertInfo(_message.Message):
    __slots__ = ("alert_id", "status", "domain_id")
    class AlertStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ALERT_STATE_NONE: _ClassVar[AlertInfo.AlertStatus]
        TRIGGERED: _ClassVar[AlertInfo.AlertStatus]
        ACKNOWLEDGED: _ClassVar[AlertInfo.AlertStatus]
        RESOLVED: _ClassVar[AlertInfo.AlertStatus]
        IGNORED: _ClassVar[AlertInfo.AlertStatus]
    ALERT_STATE_NONE: AlertInfo.AlertStatus
    TRIGGERED: AlertInfo.AlertStatus
    ACKNOWLEDGED: AlertInfo.AlertStatus
    RESOLVED: AlertInfo.AlertStatus
    IGNORED: AlertInfo.AlertStatus
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    status: AlertInfo.AlertStatus
    domain_id: str
    def __init__(self, alert_id: _Optional[str] = ..., status: _Optional[_Union[AlertInfo.AlertStatus, str]] = ..., domain_id: _Optional[str] = ...) -> None: ...

class AlertsInfo(_message.Message):
    __slots__ = ("results", "total_count")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[AlertInfo]
    total_count: int
    def __init__(self, results: _Optional[_Iterable[_Union[AlertInfo, _Mapping]]] = ..., total_count: _Optional[int] = ...) -> None: ...
