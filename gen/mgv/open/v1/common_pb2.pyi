from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_REP: _ClassVar[Role]
    ROLE_MANAGER: _ClassVar[Role]
    ROLE_ADMIN: _ClassVar[Role]

class UserStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    USER_STATUS_UNSPECIFIED: _ClassVar[UserStatus]
    USER_STATUS_ACTIVE: _ClassVar[UserStatus]
    USER_STATUS_DISABLED: _ClassVar[UserStatus]

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    CHANNEL_CALL: _ClassVar[Channel]
    CHANNEL_MEETING: _ClassVar[Channel]

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_UNSPECIFIED: _ClassVar[Direction]
    DIRECTION_INBOUND: _ClassVar[Direction]
    DIRECTION_OUTBOUND: _ClassVar[Direction]
    DIRECTION_UNKNOWN: _ClassVar[Direction]

class Affiliation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AFFILIATION_UNSPECIFIED: _ClassVar[Affiliation]
    AFFILIATION_INTERNAL: _ClassVar[Affiliation]
    AFFILIATION_EXTERNAL: _ClassVar[Affiliation]
    AFFILIATION_UNKNOWN: _ClassVar[Affiliation]

class ConversationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONVERSATION_STATUS_UNSPECIFIED: _ClassVar[ConversationStatus]
    CONVERSATION_STATUS_PENDING: _ClassVar[ConversationStatus]
    CONVERSATION_STATUS_READY: _ClassVar[ConversationStatus]
    CONVERSATION_STATUS_FAILED: _ClassVar[ConversationStatus]
ROLE_UNSPECIFIED: Role
ROLE_REP: Role
ROLE_MANAGER: Role
ROLE_ADMIN: Role
USER_STATUS_UNSPECIFIED: UserStatus
USER_STATUS_ACTIVE: UserStatus
USER_STATUS_DISABLED: UserStatus
CHANNEL_UNSPECIFIED: Channel
CHANNEL_CALL: Channel
CHANNEL_MEETING: Channel
DIRECTION_UNSPECIFIED: Direction
DIRECTION_INBOUND: Direction
DIRECTION_OUTBOUND: Direction
DIRECTION_UNKNOWN: Direction
AFFILIATION_UNSPECIFIED: Affiliation
AFFILIATION_INTERNAL: Affiliation
AFFILIATION_EXTERNAL: Affiliation
AFFILIATION_UNKNOWN: Affiliation
CONVERSATION_STATUS_UNSPECIFIED: ConversationStatus
CONVERSATION_STATUS_PENDING: ConversationStatus
CONVERSATION_STATUS_READY: ConversationStatus
CONVERSATION_STATUS_FAILED: ConversationStatus

class User(_message.Message):
    __slots__ = ("id", "origin_user_id", "name", "email", "phone", "role", "status", "department_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_USER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    origin_user_id: str
    name: str
    email: str
    phone: str
    role: Role
    status: UserStatus
    department_id: int
    def __init__(self, id: _Optional[int] = ..., origin_user_id: _Optional[str] = ..., name: _Optional[str] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., status: _Optional[_Union[UserStatus, str]] = ..., department_id: _Optional[int] = ...) -> None: ...

class Conversation(_message.Message):
    __slots__ = ("id", "origin_conversation_id", "owner_user_id", "deal_id", "title", "channel", "direction", "begin_time", "duration_ms", "language", "status", "custom_data")
    ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    DEAL_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    BEGIN_TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_DATA_FIELD_NUMBER: _ClassVar[int]
    id: int
    origin_conversation_id: str
    owner_user_id: int
    deal_id: int
    title: str
    channel: Channel
    direction: Direction
    begin_time: _timestamp_pb2.Timestamp
    duration_ms: int
    language: str
    status: ConversationStatus
    custom_data: _struct_pb2.Struct
    def __init__(self, id: _Optional[int] = ..., origin_conversation_id: _Optional[str] = ..., owner_user_id: _Optional[int] = ..., deal_id: _Optional[int] = ..., title: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., direction: _Optional[_Union[Direction, str]] = ..., begin_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., duration_ms: _Optional[int] = ..., language: _Optional[str] = ..., status: _Optional[_Union[ConversationStatus, str]] = ..., custom_data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Participant(_message.Message):
    __slots__ = ("speaker_key", "user_id", "name", "affiliation")
    SPEAKER_KEY_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    AFFILIATION_FIELD_NUMBER: _ClassVar[int]
    speaker_key: str
    user_id: int
    name: str
    affiliation: Affiliation
    def __init__(self, speaker_key: _Optional[str] = ..., user_id: _Optional[int] = ..., name: _Optional[str] = ..., affiliation: _Optional[_Union[Affiliation, str]] = ...) -> None: ...

class Metrics(_message.Message):
    __slots__ = ("talk_ratio", "longest_monologue_ms", "longest_customer_story_ms", "interactivity", "patience_ms", "question_count_internal", "question_count_external", "question_rate", "silence_ms", "algo_version")
    TALK_RATIO_FIELD_NUMBER: _ClassVar[int]
    LONGEST_MONOLOGUE_MS_FIELD_NUMBER: _ClassVar[int]
    LONGEST_CUSTOMER_STORY_MS_FIELD_NUMBER: _ClassVar[int]
    INTERACTIVITY_FIELD_NUMBER: _ClassVar[int]
    PATIENCE_MS_FIELD_NUMBER: _ClassVar[int]
    QUESTION_COUNT_INTERNAL_FIELD_NUMBER: _ClassVar[int]
    QUESTION_COUNT_EXTERNAL_FIELD_NUMBER: _ClassVar[int]
    QUESTION_RATE_FIELD_NUMBER: _ClassVar[int]
    SILENCE_MS_FIELD_NUMBER: _ClassVar[int]
    ALGO_VERSION_FIELD_NUMBER: _ClassVar[int]
    talk_ratio: float
    longest_monologue_ms: int
    longest_customer_story_ms: int
    interactivity: float
    patience_ms: float
    question_count_internal: int
    question_count_external: int
    question_rate: float
    silence_ms: int
    algo_version: int
    def __init__(self, talk_ratio: _Optional[float] = ..., longest_monologue_ms: _Optional[int] = ..., longest_customer_story_ms: _Optional[int] = ..., interactivity: _Optional[float] = ..., patience_ms: _Optional[float] = ..., question_count_internal: _Optional[int] = ..., question_count_external: _Optional[int] = ..., question_rate: _Optional[float] = ..., silence_ms: _Optional[int] = ..., algo_version: _Optional[int] = ...) -> None: ...

class MetricsMean(_message.Message):
    __slots__ = ("talk_ratio", "longest_monologue_ms", "longest_customer_story_ms", "interactivity", "patience_ms", "question_count_internal", "question_count_external", "question_rate", "silence_ms")
    TALK_RATIO_FIELD_NUMBER: _ClassVar[int]
    LONGEST_MONOLOGUE_MS_FIELD_NUMBER: _ClassVar[int]
    LONGEST_CUSTOMER_STORY_MS_FIELD_NUMBER: _ClassVar[int]
    INTERACTIVITY_FIELD_NUMBER: _ClassVar[int]
    PATIENCE_MS_FIELD_NUMBER: _ClassVar[int]
    QUESTION_COUNT_INTERNAL_FIELD_NUMBER: _ClassVar[int]
    QUESTION_COUNT_EXTERNAL_FIELD_NUMBER: _ClassVar[int]
    QUESTION_RATE_FIELD_NUMBER: _ClassVar[int]
    SILENCE_MS_FIELD_NUMBER: _ClassVar[int]
    talk_ratio: float
    longest_monologue_ms: float
    longest_customer_story_ms: float
    interactivity: float
    patience_ms: float
    question_count_internal: float
    question_count_external: float
    question_rate: float
    silence_ms: float
    def __init__(self, talk_ratio: _Optional[float] = ..., longest_monologue_ms: _Optional[float] = ..., longest_customer_story_ms: _Optional[float] = ..., interactivity: _Optional[float] = ..., patience_ms: _Optional[float] = ..., question_count_internal: _Optional[float] = ..., question_count_external: _Optional[float] = ..., question_rate: _Optional[float] = ..., silence_ms: _Optional[float] = ...) -> None: ...

class ConversationFilter(_message.Message):
    __slots__ = ("start_time", "end_time", "owner_ids", "department_id", "deal_id", "direction", "min_duration_ms", "max_duration_ms", "tracker_id")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    OWNER_IDS_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DEAL_ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    MIN_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    TRACKER_ID_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    owner_ids: _containers.RepeatedScalarFieldContainer[int]
    department_id: int
    deal_id: int
    direction: Direction
    min_duration_ms: int
    max_duration_ms: int
    tracker_id: int
    def __init__(self, start_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., owner_ids: _Optional[_Iterable[int]] = ..., department_id: _Optional[int] = ..., deal_id: _Optional[int] = ..., direction: _Optional[_Union[Direction, str]] = ..., min_duration_ms: _Optional[int] = ..., max_duration_ms: _Optional[int] = ..., tracker_id: _Optional[int] = ...) -> None: ...
