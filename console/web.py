"""The console's pages: a Starlette app the adapter mounts at ``/console``.

Server-rendered HTML (Jinja2, autoescaped), one small script file and one style sheet; no inline
script or style, so the content security policy can forbid them. Every page needs a session
(``console.sessions``) and a role that allows it (``console.roles``); every POST must carry the
session's CSRF token (the login form carries a token of its own, bound to a cookie). Personal data
never travels in a URL: the access log is searched with a POSTed form. What an operator does, and
every look at the access log, is written to the audit trail.
"""

from __future__ import annotations

import datetime as dt
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from console.accounts import Accounts
from console.audit import AuditTrail
from console.backend import ConsoleBackend
from console.errors import CsrfRefused, Forbidden, LockedOut, LoginRefused
from console.headers import SecurityHeaders
from console.i18n import DEFAULT_LANGUAGE, LANGUAGES, other_language, translator
from console.roles import Permission, allows
from console.sessions import COOKIE_NAME, ConsoleSession, SessionManager
from schemas.citizen_id import validate_citizen_id
from schemas.dossier_code import validate_dossier_code
from schemas.errors import SchemaError
from schemas.status import DossierStatus
from schemas.times import to_vn_time, utc_now
from store.errors import DossierNotFound, OutboxItemNotFound
from store.message_log import MessageLogError
from timeliness.errors import InvalidReportQuery, TimelinessError
from timeliness.report import GroupBy, ReportQuery, report_csv

HERE = Path(__file__).resolve().parent
LANGUAGE_COOKIE = "lienthong_lang"
LOGIN_COOKIE = "lienthong_console_login"

Handler = Callable[[Request, ConsoleSession, Mapping[str, str]], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """How the console serves: cookie flags and the largest form it reads."""

    secure_cookies: bool = True
    max_form_bytes: int = 16 * 1024


def _vn_time(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return to_vn_time(value).strftime("%d/%m/%Y %H:%M:%S")


def _status_label(value: int, language: str) -> str:
    status = DossierStatus(value)
    return f"{int(status)} · {status.vietnamese if language == 'vi' else status.label}"


def _age(delta: dt.timedelta | None) -> str:
    if delta is None:
        return "—"
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class Console:
    """The console's pages over a backend, accounts, sessions and the audit trail."""

    def __init__(
        self,
        backend: ConsoleBackend,
        accounts: Accounts,
        sessions: SessionManager,
        audit: AuditTrail,
        settings: ConsoleSettings | None = None,
    ) -> None:
        self.backend = backend
        self.accounts = accounts
        self.sessions = sessions
        self.audit = audit
        self.settings = settings or ConsoleSettings()
        self._templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            auto_reload=False,
        )
        self._templates.filters["vn"] = _vn_time
        self._templates.filters["age"] = _age

    # --- the app ------------------------------------------------------------------------------

    def asgi(self) -> SecurityHeaders:
        """The ASGI app to mount (its paths are relative to the mount point)."""
        guard = self._guard
        routes = [
            Route("/", guard(self.overview, Permission.VIEW)),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", guard(self.logout, None, changes=True), methods=["POST"]),
            Route("/lang/{language}", self.switch_language),
            Route("/dossiers", guard(self.find_dossier, Permission.VIEW)),
            Route("/dossiers/{code}", guard(self.dossier, Permission.VIEW)),
            Route(
                "/dossiers/{code}/resend",
                guard(self.resend, Permission.ACT, changes=True),
                methods=["POST"],
            ),
            Route(
                "/dossiers/{code}/reconcile",
                guard(self.reconcile, Permission.ACT, changes=True),
                methods=["POST"],
            ),
            Route("/dead-letters", guard(self.dead_letters, Permission.VIEW)),
            Route(
                "/dead-letters/retry-all",
                guard(self.confirm_retry_all, Permission.ACT),
                methods=["GET"],
            ),
            Route(
                "/dead-letters/retry-all",
                guard(self.retry_all, Permission.ACT, changes=True),
                methods=["POST"],
            ),
            Route(
                "/dead-letters/{item_id:int}/retry",
                guard(self.retry, Permission.ACT, changes=True),
                methods=["POST"],
            ),
            Route("/access-log", guard(self.access_log_form, Permission.ACCESS_LOG)),
            Route(
                "/access-log",
                guard(self.access_log, Permission.ACCESS_LOG, changes=True),
                methods=["POST"],
            ),
            Route("/message-log", guard(self.message_log, Permission.VIEW)),
            Route(
                "/message-log/verify",
                guard(self.verify_log, Permission.EVIDENCE, changes=True),
                methods=["POST"],
            ),
            Route(
                "/message-log/bundle/{message_id}",
                guard(self.bundle, Permission.EVIDENCE),
            ),
            Route("/timeliness", guard(self.timeliness, Permission.VIEW)),
            Route("/timeliness.csv", guard(self.timeliness_csv, Permission.VIEW)),
            Route(
                "/timeliness/apologies/{code}/{apology_id:int}/confirm",
                guard(self.confirm_apology, Permission.ACT, changes=True),
                methods=["POST"],
            ),
            Route("/clients", guard(self.clients, Permission.VIEW)),
            Route("/audit", guard(self.audit_trail, Permission.VIEW)),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        return SecurityHeaders(Starlette(routes=routes))

    def _guard(
        self, handler: Handler, permission: Permission | None, *, changes: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            cookie = request.cookies.get(COOKIE_NAME)
            live = await self.sessions.resolve(cookie)
            if live is None:
                return self._redirect(request, "/login?expired=1" if cookie else "/login")
            try:
                if permission is not None and not allows(live.role, permission):
                    raise Forbidden(permission.value)
                form = await self._form(request) if request.method == "POST" else {}
                if changes and not live.csrf_matches(form.get("csrf")):
                    raise CsrfRefused("missing or wrong token")
            except Forbidden as exc:
                await self.audit.record(
                    live.operator,
                    f"refused.{exc.permission}",
                    target=request.url.path,
                    outcome="forbidden",
                )
                return self._page(request, live, "message.html", status=403, message="forbidden")
            except CsrfRefused:
                await self.audit.record(
                    live.operator, "refused.csrf", target=request.url.path, outcome="csrf"
                )
                return self._page(request, live, "message.html", status=403, message="csrf")
            return await handler(request, live, form)

        return endpoint

    # --- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _base(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    def _url(self, request: Request, path: str) -> str:
        return self._base(request) + path

    @staticmethod
    def _language(request: Request) -> str:
        language = request.cookies.get(LANGUAGE_COOKIE, DEFAULT_LANGUAGE)
        return language if language in LANGUAGES else DEFAULT_LANGUAGE

    async def _form(self, request: Request) -> dict[str, str]:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.settings.max_form_bytes:
                return {}
        try:
            pairs = urllib.parse.parse_qsl(body.decode("utf-8"), max_num_fields=32)
        except (UnicodeDecodeError, ValueError):
            return {}
        return dict(pairs)

    def _render(self, request: Request, template: str, status: int, **context: Any) -> Response:
        language = self._language(request)
        html = self._templates.get_template(template).render(
            t=translator(language),
            lang=language,
            other_lang=other_language(language),
            base=self._base(request),
            status_label=lambda value: _status_label(value, language),
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def _page(
        self,
        request: Request,
        live: ConsoleSession,
        template: str,
        *,
        status: int = 200,
        **context: Any,
    ) -> Response:
        return self._render(
            request,
            template,
            status,
            live=live,
            csrf=live.csrf_token,
            can=lambda name: allows(live.role, Permission(name)),
            **context,
        )

    def _redirect(self, request: Request, path: str) -> Response:
        return RedirectResponse(self._url(request, path), status_code=303)

    # --- login --------------------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        """The login page, with a login CSRF token bound to a short-lived cookie."""
        token = secrets.token_urlsafe(32)
        notice = "login.expired" if request.query_params.get("expired") else None
        response = self._render(request, "login.html", 200, login_csrf=token, notice=notice)
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            max_age=900,
            path=self._base(request) or "/",
            secure=self.settings.secure_cookies,
            httponly=True,
            samesite="strict",
        )
        return response

    async def login(self, request: Request) -> Response:
        """Check the name and password; open a session, or show why not."""
        form = await self._form(request)
        cookie = request.cookies.get(LOGIN_COOKIE)
        token = form.get("csrf")
        if not cookie or not token or not secrets.compare_digest(cookie, token):
            return self._render(request, "login.html", 403, login_csrf=cookie or "", notice="csrf")
        name = form.get("name", "")
        try:
            identity = await self.accounts.authenticate(name, form.get("password", ""))
        except LockedOut as exc:
            return self._render(
                request,
                "login.html",
                429,
                login_csrf=cookie,
                notice="login.locked",
                until=_vn_time(exc.until),
            )
        except LoginRefused:
            return self._render(
                request, "login.html", 401, login_csrf=cookie, notice="login.refused"
            )
        session_id, live = await self.sessions.open(identity)
        await self.audit.record(live.operator, "login", target=identity.method)
        response = self._redirect(request, "/")
        response.set_cookie(
            COOKIE_NAME,
            session_id,
            path=self._base(request) or "/",
            secure=self.settings.secure_cookies,
            httponly=True,
            samesite="strict",
        )
        response.delete_cookie(LOGIN_COOKIE, path=self._base(request) or "/")
        return response

    async def logout(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str]
    ) -> Response:
        """End the session."""
        await self.sessions.close(live)
        await self.audit.record(live.operator, "logout")
        response = self._redirect(request, "/login")
        response.delete_cookie(COOKIE_NAME, path=self._base(request) or "/")
        return response

    async def switch_language(self, request: Request) -> Response:
        """Remember the language chosen and go back to the overview."""
        language = request.path_params["language"]
        response = self._redirect(request, "/")
        if language in LANGUAGES:
            response.set_cookie(
                LANGUAGE_COOKIE,
                language,
                max_age=365 * 86400,
                path=self._base(request) or "/",
                secure=self.settings.secure_cookies,
                samesite="strict",
            )
        return response

    # --- pages --------------------------------------------------------------------------------

    async def overview(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str]
    ) -> Response:
        """Health and readiness, each national system, the queue."""
        return self._page(request, live, "overview.html", view=await self.backend.overview())

    async def find_dossier(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str]
    ) -> Response:
        """The search form; a valid code goes straight to the dossier."""
        code = request.query_params.get("code", "").strip()
        if code:
            try:
                validate_dossier_code(code)
            except SchemaError:
                return self._page(
                    request, live, "dossiers.html", status=404, code=code, missing=True
                )
            return self._redirect(request, f"/dossiers/{urllib.parse.quote(code)}")
        return self._page(request, live, "dossiers.html", code="", missing=False)

    async def dossier(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str], **notice: Any
    ) -> Response:
        """A dossier's timeline: events, deliveries, what the portal holds."""
        code = request.path_params["code"]
        view = None
        try:
            validate_dossier_code(code)
            view = await self.backend.dossier(code)
        except SchemaError:
            view = None
        if view is None:
            return self._page(request, live, "dossiers.html", status=404, code=code, missing=True)
        return self._page(request, live, "dossier.html", view=view, **notice)

    async def resend(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str]
    ) -> Response:
        """Queue the dossier's story again."""
        code = request.path_params["code"]
        try:
            count = await self.backend.resend(code)
        except DossierNotFound:
            return self._page(request, live, "dossiers.html", status=404, code=code, missing=True)
        await self.audit.record(live.operator, "dossier.resend", target=code, outcome=str(count))
        return await self.dossier(request, live, form, requeued=count)

    async def reconcile(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str]
    ) -> Response:
        """Compare the dossier with the portal and mend what differs."""
        code = request.path_params["code"]
        try:
            outcome = await self.backend.reconcile_one(code)
        except DossierNotFound:
            return self._page(request, live, "dossiers.html", status=404, code=code, missing=True)
        await self.audit.record(live.operator, "dossier.reconcile", target=code, outcome=outcome)
        return await self.dossier(request, live, form, reconciled=outcome)

    async def dead_letters(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str], **notice: Any
    ) -> Response:
        """The dead letters with their reasons."""
        letters = await self.backend.dead_letters()
        return self._page(request, live, "dead_letters.html", letters=letters, **notice)

    async def retry(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str]
    ) -> Response:
        """Retry one dead letter."""
        item_id = int(request.path_params["item_id"])
        try:
            await self.backend.retry(item_id)
            outcome = "ok"
        except OutboxItemNotFound:
            outcome = "not_dead"
        await self.audit.record(
            live.operator, "dead_letter.retry", target=str(item_id), outcome=outcome
        )
        return await self.dead_letters(request, live, form, retried=1 if outcome == "ok" else 0)

    async def confirm_retry_all(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str]
    ) -> Response:
        """Ask before retrying every dead letter."""
        count = len(await self.backend.dead_letters())
        return self._page(request, live, "confirm_retry_all.html", count=count)

    async def retry_all(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str]
    ) -> Response:
        """Retry every dead letter (only with the confirmation field)."""
        if form.get("confirm") != "yes":
            return self._redirect(request, "/dead-letters/retry-all")
        count = await self.backend.retry_all()
        await self.audit.record(live.operator, "dead_letter.retry_all", outcome=str(count))
        return await self.dead_letters(request, live, form, retried=count)

    async def access_log_form(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str]
    ) -> Response:
        """The access-log search form (auditors only)."""
        return self._page(request, live, "access_log.html", result=None, invalid=False)

    async def access_log(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str]
    ) -> Response:
        """Who looked the citizen up; the look itself is recorded in the audit trail."""
        try:
            citizen_id = validate_citizen_id(form.get("citizen_id", "").strip())
        except SchemaError:
            return self._page(
                request, live, "access_log.html", status=422, result=None, invalid=True
            )
        result = await self.backend.access_log(citizen_id)
        await self.audit.record(
            live.operator,
            "access_log.view",
            target=f"citizen:{result.citizen_key[:16]}",
            outcome=str(len(result.items)),
        )
        return self._page(request, live, "access_log.html", result=result, invalid=False)

    async def message_log(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str], **notice: Any
    ) -> Response:
        """The last check of the chain, a check now, and finding an exchange."""
        dossier = request.query_params.get("dossier", "").strip() or None
        message_id = request.query_params.get("message_id", "").strip() or None
        found = None
        if dossier or message_id:
            found = await self.backend.exchanges(dossier_code=dossier, message_id=message_id)
        last = await self.audit.latest("message_log.verify")
        return self._page(
            request,
            live,
            "message_log.html",
            last=last,
            found=found,
            dossier=dossier or "",
            message_id=message_id or "",
            **notice,
        )

    async def verify_log(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str]
    ) -> Response:
        """Check the whole chain now and record the verdict."""
        report = await self.backend.verify_log()
        await self.audit.record(
            live.operator,
            "message_log.verify",
            target=report.line()[:255],
            outcome="intact" if report.intact else "broken",
        )
        return self._redirect(request, "/message-log")

    async def bundle(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str]
    ) -> Response:
        """The evidence bundle of one exchange, as a download."""
        message_id = request.path_params["message_id"]
        try:
            data = await self.backend.bundle(message_id)
        except MessageLogError:
            await self.audit.record(
                live.operator, "message_log.bundle", target=message_id, outcome="not_found"
            )
            return self._page(request, live, "message.html", status=404, message="log.empty")
        await self.audit.record(live.operator, "message_log.bundle", target=message_id)
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in message_id)[:80]
        return Response(
            data,
            media_type="application/zip",
            headers={"content-disposition": f'attachment; filename="evidence-{safe}.zip"'},
        )

    def _report_query(self, request: Request) -> ReportQuery:
        """The report asked for: ``from``/``to``/``group_by``, by default this year by agency."""
        today = to_vn_time(utc_now()).date()
        params = request.query_params
        return ReportQuery.parse(
            params.get("from") or today.replace(month=1, day=1).isoformat(),
            params.get("to") or today.isoformat(),
            params.get("group_by") or GroupBy.AGENCY.value,
            None,
        )

    async def timeliness(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str], **notice: Any
    ) -> Response:
        """The on-time report with a chart, the overdue and at-risk dossiers, the drafts."""
        try:
            query = self._report_query(request)
        except InvalidReportQuery:
            return self._page(
                request, live, "message.html", status=400, message="timeliness.bad_query"
            )
        report = await self.backend.timeliness_report(query)
        return self._page(
            request,
            live,
            "timeliness.html",
            report=report,
            query=query,
            group_bys=[g.value for g in GroupBy],
            late=await self.backend.late_dossiers(),
            apologies=await self.backend.draft_apologies(),
            **notice,
        )

    async def timeliness_csv(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str]
    ) -> Response:
        """The report as a CSV download."""
        try:
            query = self._report_query(request)
        except InvalidReportQuery:
            return self._page(
                request, live, "message.html", status=400, message="timeliness.bad_query"
            )
        report = await self.backend.timeliness_report(query)
        name = f"timeliness-{query.group_by.value}-{query.start}-{query.end}.csv"
        return Response(
            report_csv(report).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )

    async def confirm_apology(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str]
    ) -> Response:
        """Confirm a drafted apology (the due date moves and goes to the portal)."""
        code = request.path_params["code"]
        apology_id = int(request.path_params["apology_id"])
        try:
            await self.backend.confirm_apology(code, apology_id, live.operator)
            outcome = "ok"
        except TimelinessError as exc:
            outcome = type(exc).__name__
        await self.audit.record(
            live.operator, "apology.confirm", target=f"{code}#{apology_id}", outcome=outcome
        )
        return await self.timeliness(request, live, form, confirmed=outcome)

    async def clients(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str]
    ) -> Response:
        """The registered API clients (read-only)."""
        return self._page(request, live, "clients.html", clients=self.backend.clients())

    async def audit_trail(
        self, request: Request, live: ConsoleSession, form: Mapping[str, str]
    ) -> Response:
        """The newest operator actions."""
        return self._page(request, live, "audit.html", entries=await self.audit.recent(200))


__all__ = ["Console", "ConsoleSettings"]
