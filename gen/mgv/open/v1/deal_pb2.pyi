from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Deal(_message.Message):
    __slots__ = ("id", "origin_deal_id", "name", "account_name", "stage", "amount_cents", "owner_user_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_DEAL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_NAME_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_CENTS_FIELD_NUMBER: _ClassVar[int]
    OWNER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    origin_deal_id: str
    name: str
    account_name: str
    stage: str
    amount_cents: int
    owner_user_id: int
    def __init__(self, id: _Optional[int] = ..., origin_deal_id: _Optional[str] = ..., name: _Optional[str] = ..., account_name: _Optional[str] = ..., stage: _Optional[str] = ..., amount_cents: _Optional[int] = ..., owner_user_id: _Optional[int] = ...) -> None: ...

class UpsertDealRequest(_message.Message):
    __slots__ = ("origin_deal_id", "name", "account_name", "stage", "amount_cents", "origin_owner_user_id", "owner_user_id")
    ORIGIN_DEAL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_NAME_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_CENTS_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_OWNER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    origin_deal_id: str
    name: str
    account_name: str
    stage: str
    amount_cents: int
    origin_owner_user_id: str
    owner_user_id: int
    def __init__(self, origin_deal_id: _Optional[str] = ..., name: _Optional[str] = ..., account_name: _Optional[str] = ..., stage: _Optional[str] = ..., amount_cents: _Optional[int] = ..., origin_owner_user_id: _Optional[str] = ..., owner_user_id: _Optional[int] = ...) -> None: ...

class UpsertDealResponse(_message.Message):
    __slots__ = ("deal", "created")
    DEAL_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    deal: Deal
    created: bool
    def __init__(self, deal: _Optional[_Union[Deal, _Mapping]] = ..., created: bool = ...) -> None: ...
