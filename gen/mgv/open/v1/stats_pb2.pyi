from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mgv.open.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetRepStatsRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "department_id")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_ID_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    department_id: int
    def __init__(self, start_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., department_id: _Optional[int] = ...) -> None: ...

class RepStats(_message.Message):
    __slots__ = ("user", "conversation_count", "total_duration_ms", "mean", "measured_count")
    USER_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    MEASURED_COUNT_FIELD_NUMBER: _ClassVar[int]
    user: _common_pb2.User
    conversation_count: int
    total_duration_ms: int
    mean: _common_pb2.MetricsMean
    measured_count: int
    def __init__(self, user: _Optional[_Union[_common_pb2.User, _Mapping]] = ..., conversation_count: _Optional[int] = ..., total_duration_ms: _Optional[int] = ..., mean: _Optional[_Union[_common_pb2.MetricsMean, _Mapping]] = ..., measured_count: _Optional[int] = ...) -> None: ...

class TeamStats(_message.Message):
    __slots__ = ("rep_count", "conversation_count", "total_duration_ms", "mean", "measured_count")
    REP_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    MEASURED_COUNT_FIELD_NUMBER: _ClassVar[int]
    rep_count: int
    conversation_count: int
    total_duration_ms: int
    mean: _common_pb2.MetricsMean
    measured_count: int
    def __init__(self, rep_count: _Optional[int] = ..., conversation_count: _Optional[int] = ..., total_duration_ms: _Optional[int] = ..., mean: _Optional[_Union[_common_pb2.MetricsMean, _Mapping]] = ..., measured_count: _Optional[int] = ...) -> None: ...

class GetRepStatsResponse(_message.Message):
    __slots__ = ("reps", "team")
    REPS_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    reps: _containers.RepeatedCompositeFieldContainer[RepStats]
    team: TeamStats
    def __init__(self, reps: _Optional[_Iterable[_Union[RepStats, _Mapping]]] = ..., team: _Optional[_Union[TeamStats, _Mapping]] = ...) -> None: ...
