"""Errors raised by ``push``.

Tree::

    PushError                       base of every error push raises itself
    ├── WebhookUrlNotAllowed        a subscription's URL is not in its client's allow-list
    ├── SubscriptionNotFound        no subscription with that id for that client
    ├── InvalidSectors              a subscription asks for sectors its client does not see
    ├── InvalidPhone                a phone number that is not a Vietnamese mobile number
    ├── NoticeNotFound              no notice (or dead letter) with that id
    ├── DeliveryNotFound            no webhook delivery (or dead letter) with that id
    └── PushConfigError             templates or push settings unusable at start

Messages carry ids and codes, never a phone number or a name.
"""

from __future__ import annotations


class PushError(Exception):
    """Base of every error raised by push."""


class WebhookUrlNotAllowed(PushError):
    """Raised when a subscription names a URL that is not in its client's allow-list."""

    def __init__(self, client_id: str) -> None:
        super().__init__(f"the URL is not in the webhook allow-list of client {client_id}")
        self.client_id = client_id


class SubscriptionNotFound(PushError):
    """Raised when no subscription with this id belongs to the client."""

    def __init__(self, subscription_id: str) -> None:
        super().__init__(f"no subscription {subscription_id}")
        self.subscription_id = subscription_id


class InvalidSectors(PushError):
    """Raised when a subscription names sectors its client may not see (or none at all)."""

    def __init__(self, sectors: list[str]) -> None:
        super().__init__(f"sectors not visible to this client: {', '.join(sectors) or '(none)'}")
        self.sectors = sectors


class InvalidPhone(PushError):
    """Raised when a phone number is not a Vietnamese mobile number (the number is not shown)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid phone number: {reason}")
        self.reason = reason


class NoticeNotFound(PushError):
    """Raised when no notice with that id is in the state asked for."""

    def __init__(self, notice_id: int, state: str) -> None:
        super().__init__(f"no {state} notice {notice_id}")
        self.notice_id = notice_id


class DeliveryNotFound(PushError):
    """Raised when no webhook delivery with that id is in the state asked for."""

    def __init__(self, delivery_id: int, state: str) -> None:
        super().__init__(f"no {state} webhook delivery {delivery_id}")
        self.delivery_id = delivery_id


class PushConfigError(PushError):
    """Raised at start when the notice templates or the push settings cannot be used."""


__all__ = [
    "DeliveryNotFound",
    "InvalidPhone",
    "InvalidSectors",
    "NoticeNotFound",
    "PushConfigError",
    "PushError",
    "SubscriptionNotFound",
    "WebhookUrlNotAllowed",
]
