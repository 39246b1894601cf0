"""Verify mgvcore webhook deliveries (kept outside mgv/, which make proto rewrites).

    from mgv_webhook import verify_signature, Deduplicator

    ok = verify_signature(secret, headers["X-Mgv-Timestamp"],
                          headers["X-Mgv-Signature"], raw_body)

The signature is v1=<hex HMAC-SHA256(secret, timestamp + "." + body)> over the
raw body as received; during a rotation's grace the header carries one per
secret, comma separated, and any of them may match. It is compared in
constant time, and a timestamp more
than `tolerance` seconds away from now is refused, so a captured delivery
cannot be replayed later. Deliveries are at least once: deduplicate by the
X-Mgv-Event-Id header.
"""

import hashlib
import hmac
import time
from collections import OrderedDict

__all__ = ["verify_signature", "sign", "Deduplicator"]


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


class Deduplicator:
    """Remembers the last `size` event ids; seen() is True for a repeat."""

    def __init__(self, size=100_000):
        self._ids = OrderedDict()
        self._size = size

    def seen(self, event_id):
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return True
        self._ids[event_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return False
