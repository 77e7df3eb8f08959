from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AlertState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_STATE_NONE: _ClassVar[AlertState]
    TRIGGERED: _ClassVar[AlertState]
    ACKNOWLEDGED: _ClassVar[AlertState]
    RESOLVED: _ClassVar[AlertState]
    ERROR: _ClassVar[AlertState]
ALERT_STATE_NONE: AlertState
TRIGGERED: AlertState
ACKNOWLEDGED: AlertState
RESOLVED: AlertState
ERROR: AlertState

class UpdateAlertRequest(_message.Message):
    __slots__ = ("alert_id", "state", "domain_id")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    state: str
    domain_id: str
    def __init__(self, alert_id: _Optional[str] = ..., state: _Optional[str] = ..., domain_id: _Optional[str] = ...) -> None: ...

class AlertQuery(_message.Message):
    __slots__ = ("alert_id", "domain_id")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    domain_id: str
    def __init__(self, alert_id: _Optional[str] = ..., domain_id: _Optional[str] = ...) -> None: ...

class AlertInfo(_message.Message):
    __slots__ = ("alert_id", "state", "domain_id")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    state: AlertState
    domain_id: str
    def __init__(self, alert_id: _Optional[str] = ..., state: _Optional[_Union[AlertState, str]] = ..., domain_id: _Optional[str] = ...) -> None: ...

class AlertsInfo(_message.Message):
    __slots__ = ("results", "total_count")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[AlertInfo]
    total_count: int
    def __init__(self, results: _Optional[_Iterable[_Union[AlertInfo, _Mapping]]] = ..., total_count: _Optional[int] = ...) -> None: ...
