"""``/v1/subscriptions``: a client's webhooks for the dossier changes of its sectors.

``POST`` creates one for a URL of the client's allow-list (the clients file's ``webhook_urls``;
any other URL is 403 ``webhook_url_not_allowed``) and for sectors it sees (a ministry: its own,
all of them by default); ``GET`` lists the caller's; ``DELETE /{id}`` removes one;
``POST /{id}/pause`` and ``/resume`` stop and restart deliveries (changes are still queued while
paused); ``POST /{id}/replay`` sends again every delivery after a cursor (a delivery id).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from adapter_api.auth import require
from adapter_api.clients import ApiClient, Operation
from adapter_api.errors import Forbidden, InvalidInput, NotFoundError, ServiceUnavailable
from adapter_api.openapi import responses
from adapter_api.push_parts import Push
from adapter_api.routes.context import container_of, json_response
from push.errors import InvalidSectors, SubscriptionNotFound, WebhookUrlNotAllowed
from push.webhooks.subscriptions import Subscription
from store.push_writes import SubscriptionState

router = APIRouter(prefix="/v1/subscriptions", tags=["push"])

_write = require(Operation.SUBSCRIPTIONS_WRITE)

SubscriptionId = Annotated[str, Path(min_length=36, max_length=36, pattern=r"^[0-9a-f-]{36}$")]


class SubscriptionBody(BaseModel):
    """A new subscription: where to deliver, and which sectors (all the client's by default)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000)
    sectors: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        None, max_length=200
    )


class ReplayBody(BaseModel):
    """Send again every delivery whose id is greater than ``after``."""

    model_config = ConfigDict(extra="forbid")

    after: int = Field(ge=0)


class SubscriptionView(BaseModel):
    """A subscription as its owner sees it."""

    model_config = ConfigDict(frozen=True)

    id: str
    url: str
    sectors: list[str]
    state: str
    created_at: str


class SubscriptionList(BaseModel):
    """The caller's subscriptions."""

    items: list[SubscriptionView]


class ReplayResult(BaseModel):
    """How many deliveries were queued again."""

    subscription_id: str
    requeued: int


def _view(subscription: Subscription) -> SubscriptionView:
    return SubscriptionView(**subscription.as_dict())


def _push(request: Request) -> Push:
    push = container_of(request).push
    if push is None:
        raise ServiceUnavailable("push is not configured", code="push_unavailable")
    return push


async def _state(
    request: Request, client: ApiClient, subscription_id: str, state: SubscriptionState
) -> Subscription:
    try:
        return await _push(request).subscriptions.set_state(
            client.client_id, subscription_id, state
        )
    except SubscriptionNotFound as exc:
        raise NotFoundError("no such subscription", code="subscription_not_found") from exc


@router.post(
    "",
    operation_id="create_subscription",
    summary="Subscribe to the dossier changes of some sectors at an allowed URL",
    status_code=201,
    response_model=SubscriptionView,
    responses=responses(403, 422),
)
async def create_subscription(
    request: Request, body: SubscriptionBody, client: Annotated[ApiClient, Depends(_write)]
) -> Response:
    """201 with the subscription; 403 when the URL is not in the client's allow-list."""
    try:
        created = await _push(request).subscriptions.create(
            client.client_id,
            body.url,
            allowed_urls=client.webhook_urls,
            visible_sectors=client.sectors,
            sectors=body.sectors,
        )
    except WebhookUrlNotAllowed as exc:
        raise Forbidden(
            "the URL is not in this client's webhook allow-list", code="webhook_url_not_allowed"
        ) from exc
    except InvalidSectors as exc:
        raise InvalidInput(
            str(exc),
            code="sectors_not_allowed",
            errors=[{"field": "body.sectors", "message": "not sectors this client sees"}],
        ) from exc
    return json_response(_view(created), status=201)


@router.get(
    "",
    operation_id="list_subscriptions",
    summary="The caller's subscriptions",
    response_model=SubscriptionList,
)
async def list_subscriptions(
    request: Request, client: Annotated[ApiClient, Depends(_write)]
) -> Response:
    """Every subscription of the caller that is not deleted."""
    items = await _push(request).subscriptions.list(client.client_id)
    return json_response(SubscriptionList(items=[_view(s) for s in items]))


@router.delete(
    "/{subscription_id}",
    operation_id="delete_subscription",
    summary="Delete a subscription (nothing more is delivered for it)",
    status_code=204,
    responses=responses(404),
)
async def delete_subscription(
    request: Request,
    subscription_id: SubscriptionId,
    client: Annotated[ApiClient, Depends(_write)],
) -> Response:
    """204 once deleted."""
    await _state(request, client, subscription_id, SubscriptionState.DELETED)
    return Response(status_code=204)


@router.post(
    "/{subscription_id}/pause",
    operation_id="pause_subscription",
    summary="Pause deliveries (changes stay queued)",
    response_model=SubscriptionView,
    responses=responses(404),
)
async def pause_subscription(
    request: Request,
    subscription_id: SubscriptionId,
    client: Annotated[ApiClient, Depends(_write)],
) -> Response:
    """The paused subscription."""
    paused = await _state(request, client, subscription_id, SubscriptionState.PAUSED)
    return json_response(_view(paused))


@router.post(
    "/{subscription_id}/resume",
    operation_id="resume_subscription",
    summary="Resume deliveries",
    response_model=SubscriptionView,
    responses=responses(404),
)
async def resume_subscription(
    request: Request,
    subscription_id: SubscriptionId,
    client: Annotated[ApiClient, Depends(_write)],
) -> Response:
    """The active subscription."""
    resumed = await _state(request, client, subscription_id, SubscriptionState.ACTIVE)
    return json_response(_view(resumed))


@router.post(
    "/{subscription_id}/replay",
    operation_id="replay_subscription",
    summary="Send again every delivery after a cursor (a delivery id)",
    response_model=ReplayResult,
    responses=responses(404),
)
async def replay_subscription(
    request: Request,
    subscription_id: SubscriptionId,
    body: ReplayBody,
    client: Annotated[ApiClient, Depends(_write)],
) -> Response:
    """The deliveries after ``after`` are queued again, with their delivery ids."""
    push = _push(request)
    try:
        await push.subscriptions.get(client.client_id, subscription_id)
    except SubscriptionNotFound as exc:
        raise NotFoundError("no such subscription", code="subscription_not_found") from exc
    count = await push.webhooks.replay(subscription_id, body.after)
    return json_response(ReplayResult(subscription_id=subscription_id, requeued=count))


__all__ = ["router"]
