from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TrackerAffiliation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRACKER_AFFILIATION_UNSPECIFIED: _ClassVar[TrackerAffiliation]
    TRACKER_AFFILIATION_ANYONE: _ClassVar[TrackerAffiliation]
    TRACKER_AFFILIATION_INTERNAL: _ClassVar[TrackerAffiliation]
    TRACKER_AFFILIATION_EXTERNAL: _ClassVar[TrackerAffiliation]

class TrackerStatsGroupBy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRACKER_STATS_GROUP_BY_UNSPECIFIED: _ClassVar[TrackerStatsGroupBy]
    TRACKER_STATS_GROUP_BY_OWNER: _ClassVar[TrackerStatsGroupBy]
    TRACKER_STATS_GROUP_BY_DAY: _ClassVar[TrackerStatsGroupBy]
TRACKER_AFFILIATION_UNSPECIFIED: TrackerAffiliation
TRACKER_AFFILIATION_ANYONE: TrackerAffiliation
TRACKER_AFFILIATION_INTERNAL: TrackerAffiliation
TRACKER_AFFILIATION_EXTERNAL: TrackerAffiliation
TRACKER_STATS_GROUP_BY_UNSPECIFIED: TrackerStatsGroupBy
TRACKER_STATS_GROUP_BY_OWNER: TrackerStatsGroupBy
TRACKER_STATS_GROUP_BY_DAY: TrackerStatsGroupBy

class Tracker(_message.Message):
    __slots__ = ("id", "name", "keywords", "affiliation")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    AFFILIATION_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    keywords: _containers.RepeatedScalarFieldContainer[str]
    affiliation: TrackerAffiliation
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., keywords: _Optional[_Iterable[str]] = ..., affiliation: _Optional[_Union[TrackerAffiliation, str]] = ...) -> None: ...

class ListTrackersRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTrackersResponse(_message.Message):
    __slots__ = ("trackers", "next_page_token", "total")
    TRACKERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    trackers: _containers.RepeatedCompositeFieldContainer[Tracker]
    next_page_token: str
    total: int
    def __init__(self, trackers: _Optional[_Iterable[_Union[Tracker, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class GetTrackerStatsRequest(_message.Message):
    __slots__ = ("tracker_id", "group_by", "start_time", "end_time")
    TRACKER_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    tracker_id: int
    group_by: TrackerStatsGroupBy
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, tracker_id: _Optional[int] = ..., group_by: _Optional[_Union[TrackerStatsGroupBy, str]] = ..., start_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TrackerStatsBucket(_message.Message):
    __slots__ = ("key", "label", "hits", "conversations")
    KEY_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    key: str
    label: str
    hits: int
    conversations: int
    def __init__(self, key: _Optional[str] = ..., label: _Optional[str] = ..., hits: _Optional[int] = ..., conversations: _Optional[int] = ...) -> None: ...

class GetTrackerStatsResponse(_message.Message):
    __slots__ = ("tracker_id", "buckets")
    TRACKER_ID_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    tracker_id: int
    buckets: _containers.RepeatedCompositeFieldContainer[TrackerStatsBucket]
    def __init__(self, tracker_id: _Optional[int] = ..., buckets: _Optional[_Iterable[_Union[TrackerStatsBucket, _Mapping]]] = ...) -> None: ...
