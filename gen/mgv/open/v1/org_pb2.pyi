from mgv.open.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Department(_message.Message):
    __slots__ = ("id", "parent_id", "name", "origin_department_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_DEPARTMENT_ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    parent_id: int
    name: str
    origin_department_id: str
    def __init__(self, id: _Optional[int] = ..., parent_id: _Optional[int] = ..., name: _Optional[str] = ..., origin_department_id: _Optional[str] = ...) -> None: ...

class UpsertDepartmentRequest(_message.Message):
    __slots__ = ("origin_department_id", "name", "origin_parent_id")
    ORIGIN_DEPARTMENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    origin_department_id: str
    name: str
    origin_parent_id: str
    def __init__(self, origin_department_id: _Optional[str] = ..., name: _Optional[str] = ..., origin_parent_id: _Optional[str] = ...) -> None: ...

class UpsertDepartmentResponse(_message.Message):
    __slots__ = ("department", "created")
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    department: Department
    created: bool
    def __init__(self, department: _Optional[_Union[Department, _Mapping]] = ..., created: bool = ...) -> None: ...

class UpsertUserRequest(_message.Message):
    __slots__ = ("origin_user_id", "name", "email", "phone", "role", "origin_department_id", "status")
    ORIGIN_USER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_DEPARTMENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    origin_user_id: str
    name: str
    email: str
    phone: str
    role: _common_pb2.Role
    origin_department_id: str
    status: _common_pb2.UserStatus
    def __init__(self, origin_user_id: _Optional[str] = ..., name: _Optional[str] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ..., role: _Optional[_Union[_common_pb2.Role, str]] = ..., origin_department_id: _Optional[str] = ..., status: _Optional[_Union[_common_pb2.UserStatus, str]] = ...) -> None: ...

class UpsertUserResponse(_message.Message):
    __slots__ = ("user", "created")
    USER_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    user: _common_pb2.User
    created: bool
    def __init__(self, user: _Optional[_Union[_common_pb2.User, _Mapping]] = ..., created: bool = ...) -> None: ...

class ListUsersRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "department_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    department_id: int
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., department_id: _Optional[int] = ...) -> None: ...

class ListUsersResponse(_message.Message):
    __slots__ = ("users", "next_page_token", "total")
    USERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[_common_pb2.User]
    next_page_token: str
    total: int
    def __init__(self, users: _Optional[_Iterable[_Union[_common_pb2.User, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...
