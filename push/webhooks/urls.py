"""The webhook allow-list: a URL is called only when it is exactly one its client was given.

No normalisation is applied (no case folding, no default port, no trailing slash): a URL that is
not character for character in the client's list is refused, and so is any list entry that is not
a plain ``http``/``https`` URL without user info or fragment. The sender follows no redirect.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

from push.errors import PushConfigError, WebhookUrlNotAllowed


def check_allow_list_entry(url: str) -> str:
    """``url`` when it can be an allow-list entry; ``PushConfigError`` otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PushConfigError("a webhook URL must be an absolute http(s) URL")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise PushConfigError("a webhook URL must carry no user info and no fragment")
    return url


def allowed(url: str, allow_list: Collection[str]) -> bool:
    """Whether ``url`` is, character for character, one of ``allow_list``."""
    return isinstance(url, str) and url in allow_list


def require_allowed(url: str, allow_list: Collection[str], client_id: str) -> str:
    """``url`` when allowed for ``client_id``; ``WebhookUrlNotAllowed`` otherwise."""
    if not allowed(url, allow_list):
        raise WebhookUrlNotAllowed(client_id)
    return url


__all__ = ["allowed", "check_allow_list_entry", "require_allowed"]
