"""Operators for console tests: accounts made on the sandbox's store, and an HTTP user agent.

``ConsoleUser`` keeps the console's cookies itself (httpx's cookie jar would not send a
``Secure`` cookie over the tests' plain HTTP, and the console marks them Secure by default) and
reads the CSRF token from the last page, as a browser's form would carry it.
"""

from __future__ import annotations

import asyncio
import re
from http.cookies import SimpleCookie
from typing import Any

import httpx

from console.accounts import Accounts, password_hasher
from store.db import create_engine, create_sessionmaker

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def add_operator(database_url: str, name: str, role: str, password: str = PASSWORD) -> None:
    """Create an operator account in the store at ``database_url``."""

    async def add() -> None:
        engine = create_engine(database_url, pool_size=1)
        try:
            accounts = Accounts(
                create_sessionmaker(engine), hasher=password_hasher(memory_kib=1024, passes=1)
            )
            await accounts.add(name, role, password)
        finally:
            await engine.dispose()

    asyncio.run(add())


class ConsoleUser:
    """A person at the console, over HTTP: logs in, follows pages, posts forms with the token."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url + "/console", timeout=30)
        self.cookies: dict[str, str] = {}
        self.csrf: str | None = None

    def __enter__(self) -> ConsoleUser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def _absorb(self, response: httpx.Response) -> httpx.Response:
        for header in response.headers.get_list("set-cookie"):
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel.value == "" or morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        html = "html" in response.headers.get("content-type", "")
        found = _CSRF.search(response.text) if html else None
        if found:
            self.csrf = found.group(1)
        return response

    def cookie_header(self, cookies: dict[str, str] | None = None) -> dict[str, str]:
        """A ``Cookie`` header with ``cookies`` (the user's own by default)."""
        jar = self.cookies if cookies is None else cookies
        return {"cookie": "; ".join(f"{name}={value}" for name, value in jar.items())}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET a console page with the session's cookies."""
        return self._absorb(self.http.get(path, headers=self.cookie_header(), **kwargs))

    def post(
        self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True
    ) -> httpx.Response:
        """POST a form (with the page's CSRF token unless ``csrf`` is False)."""
        form = dict(data or {})
        if csrf and self.csrf is not None:
            form["csrf"] = self.csrf
        return self._absorb(self.http.post(path, data=form, headers=self.cookie_header()))

    def login(self, name: str, password: str = PASSWORD) -> httpx.Response:
        """Open the login page and log in."""
        self.get("/login")
        return self.post("/login", {"name": name, "password": password})
