"""Schemathesis hooks for scripts/schemathesis.sh: valid admin tokens for
every operation, and a tally of what each operation answered.

One shared token does not survive a fuzz run: fuzzed calls sign its user out
(logout), change its password, role or status, and a wrong-password storm on
the documented example account throttles signing in again. So:

* A minting account, an admin the fuzzer never addresses, is created at
  start with the seeded admin's token (MGV_ST_SEED_TOKEN). The fuzzer reuses
  what answers show (user ids, emails, names), so every call that would
  address the minting account (PUT /api/v1/users/{its id}, its email or name
  in a sign-in, lookup or erasure) is pointed at the calling operation's own
  admin instead: the self-destructive call the run must survive anyway.
* Each operation gets its own throwaway admin, made by the minting account,
  and that admin's token. After an answer of 401 or 403 the token is checked
  with GET /api/v1/me; when it no longer belongs to an active admin, the
  operation gets a fresh throwaway admin for its next call.
* Every answer is counted per operation and status; at exit the tally is
  written to MGV_ST_TALLY as JSON for the script to print and judge.

Environment: MGV_ST_BASE (the service's base URL), MGV_ST_SEED_TOKEN,
MGV_ST_TALLY.
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import secrets
import time
import urllib.error
import urllib.request

import schemathesis

BASE = os.environ["MGV_ST_BASE"].rstrip("/")
TALLY_PATH = os.environ["MGV_ST_TALLY"]

# operation label -> status -> count
tally: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
minted: collections.Counter = collections.Counter()


def slug(label: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in label.lower()).split())[:40]


class MintError(RuntimeError):
    pass


def call(method: str, path: str, token: str | None = None, body: object = None) -> tuple[int, dict]:
    """One request of the hooks' own; a 503 (a database restarting, an open
    breaker) is retried for up to a minute so it does not end the run."""
    deadline = time.monotonic() + 60
    while True:
        status, payload = call_once(method, path, token, body)
        if status != 503 or time.monotonic() > deadline:
            return status, payload
        time.sleep(1)


def call_once(method: str, path: str, token: str | None, body: object) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as e:
        try:
            payload = json.load(e)
        except ValueError:
            payload = {}
        return e.code, payload


class Account:
    """An active admin the hooks made: its id, sign-in and name."""

    def __init__(self, token: str, label: str) -> None:
        self.email = f"st-{slug(label)}-{secrets.token_hex(6)}@fuzz.example"
        self.name = f"fuzz {label} {secrets.token_hex(3)}"
        self.password = secrets.token_urlsafe(18)
        status, body = call("POST", "/api/v1/users", token,
                            {"name": self.name, "email": self.email, "password": self.password, "role": "admin"})
        if status != 201:
            raise MintError(f"creating admin {self.email}: {status} {body}")
        self.id = body["data"]["id"]


def login(account: str, password: str) -> str:
    status, body = call("POST", "/api/v1/auth/login", body={"account": account, "password": password})
    if status != 200:
        raise MintError(f"signing in as {account}: {status} {body}")
    return body["data"]["access_token"]


def is_active_admin(token: str) -> bool:
    status, body = call("GET", "/api/v1/me", token)
    if status != 200:
        return False
    me = body.get("data") or {}
    return me.get("role") == "admin" and me.get("status") == "active"


class Minter:
    """The account that makes the throwaway admins."""

    def __init__(self) -> None:
        self.account = Account(os.environ["MGV_ST_SEED_TOKEN"], "minter")
        self.token = login(self.account.email, self.account.password)

    def admin(self, label: str) -> tuple[Account, str]:
        try:
            a = Account(self.token, label)
        except MintError:
            # The minting token may have expired; its account is never fuzzed.
            self.token = login(self.account.email, self.account.password)
            a = Account(self.token, label)
        minted[label] += 1
        return a, login(a.email, a.password)


minter = Minter()


class Admin:
    def __init__(self, label: str) -> None:
        self.label = label
        self.account, self.token = minter.admin(label)
        self.suspect = False


admins: dict[str, Admin] = {}


def admin_for(label: str) -> Admin:
    a = admins.get(label)
    if a is None:
        a = admins[label] = Admin(label)
    elif a.suspect:
        if is_active_admin(a.token):
            a.suspect = False
        else:
            a = admins[label] = Admin(label)
    return a


@schemathesis.auth(refresh_interval=None)
class PerOperationAdmin:
    def get(self, case, context):
        return admin_for(case.operation.label).token

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


class Nobody:
    """Who a call without an admin of its own addresses instead: no one."""

    id, email, name = 0, "nobody@fuzz.example", "nobody"


NOBODY = Nobody()


def aimed_away(value, own: Account | Nobody):
    """value with every mention of the minting account (its id where a user id
    goes, its email, its name) replaced by the same of own."""
    m = minter.account
    if isinstance(value, dict):
        return {k: aimed_away(v, own) for k, v in value.items()}
    if isinstance(value, list):
        return [aimed_away(v, own) for v in value]
    if isinstance(value, str):
        folded = value.strip().lower()
        if folded == m.email:
            return own.email
        if folded == m.name.lower():
            return own.name
    return value


@schemathesis.hook
def before_call(context, case, kwargs):
    """Keep the minting account out of the fuzzer's reach: a call that would
    change, erase or sign in as it addresses the operation's own admin instead
    (the fuzzer learns users from the answers it gets)."""
    op = case.operation
    a = admins.get(op.label)
    own = a.account if a else NOBODY
    if op.path.startswith("/api/v1/users/{") and str((case.path_parameters or {}).get("id")) == str(minter.account.id):
        case.path_parameters["id"] = own.id
    if case.query:
        case.query = aimed_away(case.query, own)
    if isinstance(case.body, (dict, list, str)):
        case.body = aimed_away(case.body, own)


@schemathesis.hook
def after_call(context, case, response):
    label = case.operation.label
    tally[label][str(response.status_code)] += 1
    if response.status_code in (401, 403) and label in admins:
        admins[label].suspect = True


@atexit.register
def write_tally() -> None:
    with open(TALLY_PATH, "w") as f:
        json.dump({"operations": {k: dict(v) for k, v in tally.items()},
                   "admins_minted": dict(minted)}, f, indent=1, sort_keys=True)
