"""Notices to citizens: phones, consent, templates, quiet hours, ZNS and SMS, the notifier."""

from __future__ import annotations
