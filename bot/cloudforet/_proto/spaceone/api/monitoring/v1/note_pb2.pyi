from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class CreateNoteRequest(_message.Message):
    __slots__ = ("alert_id", "note", "domain_id")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    note: str
    domain_id: str
    def __init__(self, alert_id: _Optional[str] = ..., note: _Optional[str] = ..., domain_id: _Optional[str] = ...) -> None: ...

class NoteInfo(_message.Message):
    __slots__ = ("note_id", "alert_id", "note", "created_by")
    NOTE_ID_FIELD_NUMBER: _ClassVar[int]
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    note_id: str
    alert_id: str
    note: str
    created_by: str
    def __init__(self, note_id: _Optional[str] = ..., alert_id: _Optional[str] = ..., note: _Optional[str] = ..., created_by: _Optional[str] = ...) -> None: ...
