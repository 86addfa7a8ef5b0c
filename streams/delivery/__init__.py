"""Alert delivery to the localities' task forces: subscriptions, signed webhooks, the
terminal tail."""

from streams.delivery.signing import SignatureError, sign, verify
from streams.delivery.subscriptions import Subscription, SubscriptionStore, matches

__all__ = ["SignatureError", "Subscription", "SubscriptionStore", "matches", "sign", "verify"]
