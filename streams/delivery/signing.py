"""Webhook signatures: HMAC-SHA256 over a timestamp and the body.

The sender adds ``X-Goodsflow-Signature: t=<unix seconds>,v1=<hex digest>``, where the digest
is HMAC-SHA256 with the subscription's secret over ``f"{t}.".encode() + body``. A receiver
recomputes it over the exact bytes it received, compares in constant time, and refuses a
timestamp more than ``tolerance_s`` (300 s) away from its clock, so a captured request
cannot be replayed later. Receivers also ignore an alert id + revision they have seen:
delivery is at least once.

Example (a receiver, in a few lines):
    >>> from streams.delivery import verify
    >>> verify(secret, request.headers["X-Goodsflow-Signature"], request.body)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import hmac
import time

from schemas import GoodsflowError

HEADER = "X-Goodsflow-Signature"
TOLERANCE_S = 300


class SignatureError(GoodsflowError):
    """A webhook signature is missing, malformed, stale, or does not match the body."""


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, now: float | None = None) -> str:
    """The signature header value for ``body`` sent at ``now`` (default: the clock)."""
    timestamp = int(time.time() if now is None else now)
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify(
    secret: str, header: str | None, body: bytes, now: float | None = None,
    tolerance_s: float = TOLERANCE_S,
) -> None:  # fmt: skip
    """Check a received signature; raise SignatureError saying what is wrong."""
    if not header:
        raise SignatureError(f"no {HEADER} header")
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp, given = int(parts["t"]), parts["v1"]
    except (KeyError, ValueError):
        raise SignatureError(f"malformed {HEADER}: {header!r}") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError(
            f"signature time {timestamp} is {abs(current - timestamp):.0f} s away from now "
            f"(tolerance {tolerance_s:.0f} s): a replay, or a clock to fix"
        )
    if not hmac.compare_digest(given, _digest(secret, timestamp, body)):
        raise SignatureError("signature does not match the body")
