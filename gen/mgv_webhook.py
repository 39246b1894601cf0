"""Verify mgvcore webhook deliveries (kept outside mgv/, which make proto rewrites).

    from mgv_webhook import verify_signature, event_key, Deduplicator

    ok = verify_signature(secret, headers["X-Mgv-Timestamp"],
                          headers["X-Mgv-Signature"], raw_body)
    if ok and not dedup.seen(event_key(raw_body)):
        handle(raw_body)

The signature is v1=<hex HMAC-SHA256(secret, timestamp + "." + body)> over the
raw body as received; during a rotation's grace the header carries one per
secret, comma separated, and any of them may match. It is compared in
constant time, and a timestamp more
than `tolerance` seconds away from now is refused, so a captured delivery
cannot be replayed later. Deliveries are at least once: deduplicate by
event_key(raw_body), the tenant and id of the event in the signed body. Not
by the id alone, nor by the X-Mgv-Event-Id header: ids count from 1 in each
tenant's log, so a receiver of several tenants' subscriptions gets the same
id for different events, and the header is not covered by the signature.
"""

import hashlib
import hmac
import json
import time
from collections import OrderedDict

__all__ = ["verify_signature", "sign", "event_key", "Deduplicator"]


def sign(secret, timestamp, body):
    """The X-Mgv-Signature value of body sent at timestamp (Unix seconds)."""
    if isinstance(secret, str):
        secret = secret.encode()
    mac = hmac.new(secret, str(int(timestamp)).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify_signature(secret, timestamp, signature, body, tolerance=300, now=None):
    """True when one of the signatures (comma separated) signs body at
    timestamp with secret and timestamp is fresh."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    want = sign(secret, ts, body).encode()
    ok = False
    for sig in (signature or "").split(","):
        # As bytes: compare_digest raises on a str that is not ASCII, which
        # a forged header may well be.
        ok = hmac.compare_digest(want, sig.strip().encode("utf-8", "surrogateescape")) or ok
    return ok


def event_key(body):
    """The key that tells one event from every other a receiver may get:
    (tenant_id, id) of the delivery's body, which verify_signature has
    accepted. Event ids increase per tenant, so the id alone names different
    events of different tenants."""
    event = json.loads(body)
    return (int(event["tenant_id"]), int(event["id"]))


class Deduplicator:
    """Remembers the last `size` event keys (event_key); seen() is True for
    a repeat."""

    def __init__(self, size=100_000):
        self._keys = OrderedDict()
        self._size = size

    def seen(self, key):
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        self._keys[key] = None
        if len(self._keys) > self._size:
            self._keys.popitem(last=False)
        return False
