"""Signed webhooks: subscriptions, their durable outbox, the sender and the worker."""

from __future__ import annotations
