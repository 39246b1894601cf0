from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mgv.open.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ParticipantInput(_message.Message):
    __slots__ = ("speaker_key", "user_id", "origin_user_id", "name", "affiliation")
    SPEAKER_KEY_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_USER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    AFFILIATION_FIELD_NUMBER: _ClassVar[int]
    speaker_key: str
    user_id: int
    origin_user_id: str
    name: str
    affiliation: _common_pb2.Affiliation
    def __init__(self, speaker_key: _Optional[str] = ..., user_id: _Optional[int] = ..., origin_user_id: _Optional[str] = ..., name: _Optional[str] = ..., affiliation: _Optional[_Union[_common_pb2.Affiliation, str]] = ...) -> None: ...

class CreateConversationRequest(_message.Message):
    __slots__ = ("origin_conversation_id", "origin_owner_user_id", "owner_user_id", "origin_deal_id", "deal_id", "title", "channel", "direction", "begin_time", "duration_ms", "language", "custom_data", "participants")
    ORIGIN_CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_OWNER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_DEAL_ID_FIELD_NUMBER: _ClassVar[int]
    DEAL_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    BEGIN_TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_DATA_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    origin_conversation_id: str
    origin_owner_user_id: str
    owner_user_id: int
    origin_deal_id: str
    deal_id: int
    title: str
    channel: _common_pb2.Channel
    direction: _common_pb2.Direction
    begin_time: _timestamp_pb2.Timestamp
    duration_ms: int
    language: str
    custom_data: _struct_pb2.Struct
    participants: _containers.RepeatedCompositeFieldContainer[ParticipantInput]
    def __init__(self, origin_conversation_id: _Optional[str] = ..., origin_owner_user_id: _Optional[str] = ..., owner_user_id: _Optional[int] = ..., origin_deal_id: _Optional[str] = ..., deal_id: _Optional[int] = ..., title: _Optional[str] = ..., channel: _Optional[_Union[_common_pb2.Channel, str]] = ..., direction: _Optional[_Union[_common_pb2.Direction, str]] = ..., begin_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., duration_ms: _Optional[int] = ..., language: _Optional[str] = ..., custom_data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., participants: _Optional[_Iterable[_Union[ParticipantInput, _Mapping]]] = ...) -> None: ...

class CreateConversationResponse(_message.Message):
    __slots__ = ("conversation_id", "created")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    created: bool
    def __init__(self, conversation_id: _Optional[int] = ..., created: bool = ...) -> None: ...

class Sentence(_message.Message):
    __slots__ = ("seq", "speaker_key", "start_ms", "end_ms", "text")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_KEY_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    seq: int
    speaker_key: str
    start_ms: int
    end_ms: int
    text: str
    def __init__(self, seq: _Optional[int] = ..., speaker_key: _Optional[str] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ..., text: _Optional[str] = ...) -> None: ...

class TranscriptHeader(_message.Message):
    __slots__ = ("conversation_id", "expected_sentence_count")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SENTENCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    expected_sentence_count: int
    def __init__(self, conversation_id: _Optional[int] = ..., expected_sentence_count: _Optional[int] = ...) -> None: ...

class SentenceChunk(_message.Message):
    __slots__ = ("sentences",)
    SENTENCES_FIELD_NUMBER: _ClassVar[int]
    sentences: _containers.RepeatedCompositeFieldContainer[Sentence]
    def __init__(self, sentences: _Optional[_Iterable[_Union[Sentence, _Mapping]]] = ...) -> None: ...

class PutTranscriptRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: TranscriptHeader
    chunk: SentenceChunk
    def __init__(self, header: _Optional[_Union[TranscriptHeader, _Mapping]] = ..., chunk: _Optional[_Union[SentenceChunk, _Mapping]] = ...) -> None: ...

class PutTranscriptResponse(_message.Message):
    __slots__ = ("conversation_id", "sentence_count", "metrics")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    SENTENCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    sentence_count: int
    metrics: _common_pb2.Metrics
    def __init__(self, conversation_id: _Optional[int] = ..., sentence_count: _Optional[int] = ..., metrics: _Optional[_Union[_common_pb2.Metrics, _Mapping]] = ...) -> None: ...

class GetConversationRequest(_message.Message):
    __slots__ = ("conversation_id",)
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    def __init__(self, conversation_id: _Optional[int] = ...) -> None: ...

class TrackerHitCount(_message.Message):
    __slots__ = ("tracker_id", "tracker_name", "hits")
    TRACKER_ID_FIELD_NUMBER: _ClassVar[int]
    TRACKER_NAME_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    tracker_id: int
    tracker_name: str
    hits: int
    def __init__(self, tracker_id: _Optional[int] = ..., tracker_name: _Optional[str] = ..., hits: _Optional[int] = ...) -> None: ...

class GetConversationResponse(_message.Message):
    __slots__ = ("conversation", "participants", "metrics", "tracker_hits")
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    TRACKER_HITS_FIELD_NUMBER: _ClassVar[int]
    conversation: _common_pb2.Conversation
    participants: _containers.RepeatedCompositeFieldContainer[_common_pb2.Participant]
    metrics: _common_pb2.Metrics
    tracker_hits: _containers.RepeatedCompositeFieldContainer[TrackerHitCount]
    def __init__(self, conversation: _Optional[_Union[_common_pb2.Conversation, _Mapping]] = ..., participants: _Optional[_Iterable[_Union[_common_pb2.Participant, _Mapping]]] = ..., metrics: _Optional[_Union[_common_pb2.Metrics, _Mapping]] = ..., tracker_hits: _Optional[_Iterable[_Union[TrackerHitCount, _Mapping]]] = ...) -> None: ...

class ListConversationsRequest(_message.Message):
    __slots__ = ("filter", "page_size", "page_token")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    filter: _common_pb2.ConversationFilter
    page_size: int
    page_token: str
    def __init__(self, filter: _Optional[_Union[_common_pb2.ConversationFilter, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConversationsResponse(_message.Message):
    __slots__ = ("conversations", "next_page_token", "total")
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    conversations: _containers.RepeatedCompositeFieldContainer[_common_pb2.Conversation]
    next_page_token: str
    total: int
    def __init__(self, conversations: _Optional[_Iterable[_Union[_common_pb2.Conversation, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class GetTranscriptRequest(_message.Message):
    __slots__ = ("conversation_id", "q", "page_size", "page_token")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    Q_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    q: str
    page_size: int
    page_token: str
    def __init__(self, conversation_id: _Optional[int] = ..., q: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class TranscriptSentence(_message.Message):
    __slots__ = ("seq", "speaker_key", "start_ms", "end_ms", "text", "matches")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_KEY_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    seq: int
    speaker_key: str
    start_ms: int
    end_ms: int
    text: str
    matches: bool
    def __init__(self, seq: _Optional[int] = ..., speaker_key: _Optional[str] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ..., text: _Optional[str] = ..., matches: bool = ...) -> None: ...

class GetTranscriptResponse(_message.Message):
    __slots__ = ("conversation_id", "sentences", "next_page_token")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    SENTENCES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    sentences: _containers.RepeatedCompositeFieldContainer[TranscriptSentence]
    next_page_token: str
    def __init__(self, conversation_id: _Optional[int] = ..., sentences: _Optional[_Iterable[_Union[TranscriptSentence, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteConversationRequest(_message.Message):
    __slots__ = ("conversation_id",)
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    def __init__(self, conversation_id: _Optional[int] = ...) -> None: ...

class DeleteConversationResponse(_message.Message):
    __slots__ = ("conversation_id",)
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    def __init__(self, conversation_id: _Optional[int] = ...) -> None: ...
