from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AlertUpdateRequest(_message.Message):
    __slots__ = ("alert_id", "state")
    class AlertState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ALERT_STATE_NONE: _ClassVar[AlertUpdateRequest.AlertState]
        TRIGGERED: _ClassVar[AlertUpdateRequest.AlertState]
        ACKNOWLEDGED: _ClassVar[AlertUpdateRequest.AlertState]
        RESOLVED: _ClassVar[AlertUpdateRequest.AlertState]
        ERROR: _ClassVar[AlertUpdateRequest.AlertState]
    ALERT_STATE_NONE: AlertUpdateRequest.AlertState
    TRIGGERED: AlertUpdateRequest.AlertState
    ACKNOWLEDGED: AlertUpdateRequest.AlertState
    RESOLVED: AlertUpdateRequest.AlertState
    ERROR: AlertUpdateRequest.AlertState
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    state: AlertUpdateRequest.AlertState
    def __init__(self, alert_id: _Optional[str] = ..., state: _Optional[_Union[AlertUpdateRequest.AlertState, str]] = ...) -> None: ...

class AlertSearchQuery(_message.Message):
    __slots__ = ("alert_id",)
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    def __init__(self, alert_id: _Optional[str] = ...) -> None: ...

class AlertInfo(_message.Message):
    __slots__ = ("alert_id", "state", "domain_id")
    class AlertState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ALERT_STATE_NONE: _ClassVar[AlertInfo.AlertState]
        TRIGGERED: _ClassVar[AlertInfo.AlertState]
        ACKNOWLEDGED: _ClassVar[AlertInfo.AlertState]
        RESOLVED: _ClassVar[AlertInfo.AlertState]
        ERROR: _ClassVar[AlertInfo.AlertState]
    ALERT_STATE_NONE: AlertInfo.AlertState
    TRIGGERED: AlertInfo.AlertState
    ACKNOWLEDGED: AlertInfo.AlertState
    RESOLVED: AlertInfo.AlertState
    ERROR: AlertInfo.AlertState
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    state: AlertInfo.AlertState
    domain_id: str
    def __init__(self, alert_id: _Optional[str] = ..., state: _Optional[_Union[AlertInfo.AlertState, str]] = ..., domain_id: _Optional[str] = ...) -> None: ...

class AlertsInfo(_message.Message):
    __slots__ = ("results", "total_count")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[AlertInfo]
    total_count: int
    def __init__(self, results: _Optional[_Iterable[_Union[AlertInfo, _Mapping]]] = ..., total_count: _Optional[int] = ...) -> None: ...
