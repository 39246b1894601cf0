from mgv.open.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchTranscriptsRequest(_message.Message):
    __slots__ = ("query", "filter", "speaker_affiliation", "page_size", "page_token")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_AFFILIATION_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    query: str
    filter: _common_pb2.ConversationFilter
    speaker_affiliation: _common_pb2.Affiliation
    page_size: int
    page_token: str
    def __init__(self, query: _Optional[str] = ..., filter: _Optional[_Union[_common_pb2.ConversationFilter, _Mapping]] = ..., speaker_affiliation: _Optional[_Union[_common_pb2.Affiliation, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class Snippet(_message.Message):
    __slots__ = ("seq", "start_ms", "speaker_key", "text")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_KEY_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    seq: int
    start_ms: int
    speaker_key: str
    text: str
    def __init__(self, seq: _Optional[int] = ..., start_ms: _Optional[int] = ..., speaker_key: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class SearchResult(_message.Message):
    __slots__ = ("conversation", "snippets", "score")
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    SNIPPETS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    conversation: _common_pb2.Conversation
    snippets: _containers.RepeatedCompositeFieldContainer[Snippet]
    score: float
    def __init__(self, conversation: _Optional[_Union[_common_pb2.Conversation, _Mapping]] = ..., snippets: _Optional[_Iterable[_Union[Snippet, _Mapping]]] = ..., score: _Optional[float] = ...) -> None: ...

class OwnerFacet(_message.Message):
    __slots__ = ("owner_user_id", "owner_name", "conversations")
    OWNER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_NAME_FIELD_NUMBER: _ClassVar[int]
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    owner_user_id: int
    owner_name: str
    conversations: int
    def __init__(self, owner_user_id: _Optional[int] = ..., owner_name: _Optional[str] = ..., conversations: _Optional[int] = ...) -> None: ...

class DayFacet(_message.Message):
    __slots__ = ("day", "conversations")
    DAY_FIELD_NUMBER: _ClassVar[int]
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    day: str
    conversations: int
    def __init__(self, day: _Optional[str] = ..., conversations: _Optional[int] = ...) -> None: ...

class SearchTranscriptsResponse(_message.Message):
    __slots__ = ("results", "total", "owner_facets", "day_facets", "next_page_token")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    OWNER_FACETS_FIELD_NUMBER: _ClassVar[int]
    DAY_FACETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SearchResult]
    total: int
    owner_facets: _containers.RepeatedCompositeFieldContainer[OwnerFacet]
    day_facets: _containers.RepeatedCompositeFieldContainer[DayFacet]
    next_page_token: str
    def __init__(self, results: _Optional[_Iterable[_Union[SearchResult, _Mapping]]] = ..., total: _Optional[int] = ..., owner_facets: _Optional[_Iterable[_Union[OwnerFacet, _Mapping]]] = ..., day_facets: _Optional[_Iterable[_Union[DayFacet, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
