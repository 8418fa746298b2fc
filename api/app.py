"""The Starlette application: routes, errors as JSON, auth, and the Redis connection."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pydantic_core
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from hippo.api import deadletters, logs, queues, status, tasks
from hippo.api import operations as doc
from hippo.api.auth import TokenAuth
from hippo.api.metrics import RequestMetrics, metrics
from hippo.api.openapi import ApiRoute, Operation, openapi_document
from hippo.api.responses import JSONBytes, error_response, json_response
from hippo.api.routing import IndexedRouter, slash_optional
from hippo.api.sandbox import SandboxReader, mesos_auth, mesos_http
from hippo.shared.errors import HippoError, NotFound
from hippo.shared.secrets import SecretBox
from hippo.shared.settings import Settings
from hippo.shared.sources import load_sources
from hippo.shared.store import PipelinedConnection, Store, connect
from hippo.shared.store.keys import Keys

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]


def _slashed(path: str, endpoint: Endpoint, methods: list[str], operation: Operation) -> Route:
    """The route, answering with and without its trailing slash: old clients use both,
    and a redirect would turn their POSTs into GETs (api/routing.py)."""
    return slash_optional(ApiRoute(path, endpoint, methods=methods, operation=operation))


def _route(path: str, endpoint: Endpoint, methods: list[str], operation: Operation) -> Route:
    return ApiRoute(path, endpoint, methods=methods, operation=operation)


_HEALTHY = pydantic_core.to_json({"status": "ok"})


async def healthz(request: Request) -> Response:
    return JSONBytes(_HEALTHY)


async def readyz(request: Request) -> Response:
    await request.app.state.store.ping()
    return json_response({"status": "ready"})


_UI_FOLDER = Path(__file__).parent / "ui"
# The UI's files, found once: a request can only name one of these, never a path.
_UI_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
_UI_FILES = {path.name: path for path in sorted(_UI_FOLDER.iterdir()) if path.suffix in _UI_TYPES}


async def ui(request: Request) -> Response:
    """The web UI: static files (api/ui/) that use the REST API from the browser. No
    build step: the browser loads the ES modules as written."""
    name = request.path_params.get("asset", "index.html")
    path = _UI_FILES.get(name)
    if path is None:
        raise NotFound(f"no UI file {name}")
    # no-cache: the browser asks again (a 304 when unchanged), so an upgrade shows at once.
    return FileResponse(
        path, media_type=_UI_TYPES[path.suffix], headers={"Cache-Control": "no-cache"}
    )


async def root(request: Request) -> Response:
    return RedirectResponse("/ui/")


async def openapi(request: Request) -> Response:
    return json_response(openapi_document(request.app.routes, request.app.state.sources))


# The one list of paths and methods: the router's, and /openapi.json's (api/openapi.py).
ROUTES = [
    _slashed("/queues/", queues.list_queues, ["GET"], doc.LIST_QUEUES),
    _slashed("/queues/", queues.create_queue, ["POST", "PUT"], doc.CREATE_QUEUE),
    _slashed("/queues/{queue_id}/", queues.get_queue, ["GET"], doc.GET_QUEUE),
    _slashed("/queues/{queue_id}/", queues.replace_queue, ["POST", "PUT"], doc.REPLACE_QUEUE),
    _slashed("/queues/{queue_id}/", queues.delete_queue, ["DELETE"], doc.DELETE_QUEUE),
    _slashed("/queues/{queue_id}/toggle/", queues.toggle_queue, ["GET", "POST"], doc.TOGGLE_QUEUE),
    _slashed("/queues/{queue_id}/enable/", queues.enable_queue, ["GET", "POST"], doc.ENABLE_QUEUE),
    _slashed(
        "/queues/{queue_id}/disable/", queues.disable_queue, ["GET", "POST"], doc.DISABLE_QUEUE
    ),
    _slashed(
        "/queues/{queue_id}/deadletters/",
        deadletters.list_dead_letters,
        ["GET"],
        doc.LIST_DEAD_LETTERS,
    ),
    _slashed(
        "/queues/{queue_id}/deadletters/",
        deadletters.discard_dead_letters,
        ["DELETE"],
        doc.DISCARD_DEAD_LETTERS,
    ),
    _slashed(
        "/queues/{queue_id}/deadletters/rerun/",
        deadletters.rerun_dead_letters,
        ["POST"],
        doc.RERUN_DEAD_LETTERS,
    ),
    _slashed(
        "/queues/{queue_id}/deadletters/{deadletter_id}/",
        deadletters.get_dead_letter,
        ["GET"],
        doc.GET_DEAD_LETTER,
    ),
    _slashed(
        "/queues/{queue_id}/deadletters/{deadletter_id}/",
        deadletters.discard_dead_letter,
        ["DELETE"],
        doc.DISCARD_DEAD_LETTER,
    ),
    _slashed(
        "/queues/{queue_id}/deadletters/{deadletter_id}/rerun/",
        deadletters.rerun_dead_letter,
        ["POST"],
        doc.RERUN_DEAD_LETTER,
    ),
    _slashed("/queuetypes/", queues.list_queue_types, ["GET"], doc.LIST_QUEUE_TYPES),
    _slashed("/tasks/", tasks.list_tasks, ["GET"], doc.LIST_TASKS),
    _slashed("/tasks/", tasks.create_task, ["POST"], doc.CREATE_TASK),
    _slashed("/tasks/{mesos_id}/", tasks.get_task, ["GET"], doc.GET_TASK),
    _slashed("/tasks/{mesos_id}/", tasks.delete_task, ["DELETE"], doc.DELETE_TASK),
    _slashed("/tasks/{mesos_id}/kill/", tasks.kill_task, ["GET", "POST"], doc.KILL_TASK),
    _slashed("/tasks/{mesos_id}/history/", tasks.task_history, ["GET"], doc.TASK_HISTORY),
    _slashed("/tasks/{mesos_id}/logs/{name}/", logs.read_log, ["GET"], doc.READ_LOG),
    _slashed("/status/", status.get_status, ["GET"], doc.GET_STATUS),
    _route("/healthz", healthz, ["GET"], doc.HEALTHZ),
    _route("/readyz", readyz, ["GET"], doc.READYZ),
    _route("/openapi.json", openapi, ["GET"], doc.OPENAPI),
    _route("/metrics", metrics, ["GET"], doc.METRICS),
    _slashed("/ui/", ui, ["GET"], doc.UI),
    _route("/ui/{asset}", ui, ["GET"], doc.UI_ASSET),
    _route("/", root, ["GET"], doc.ROOT),
]


async def _http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404:
        return error_response(404, f"no route {request.url.path}")
    if exc.status_code == 405:
        return error_response(
            405, f"method {request.method} is not allowed here", headers=dict(exc.headers or {})
        )
    return error_response(exc.status_code, str(exc.detail))


async def _hippo_error(request: Request, exc: HippoError) -> Response:
    """Every HippoError: Starlette finds this handler along the exception's MRO, and the
    class says the status, so a new error class needs no change here."""
    status = exc.http_status
    if status >= 500:
        # A 503 (Redis away) is expected to pass by itself; a 500 is a bug or a bad key.
        level = logging.ERROR if status == 500 else logging.WARNING
        log.log(level, "%s %s: %s", request.method, request.url.path, exc)
    return error_response(status, exc.public_message or str(exc), exc.field_errors)


def create_app(settings: Settings | None = None) -> Starlette:
    """The API application; settings from the environment unless given (tests)."""
    settings = settings or Settings.from_env()
    sources = load_sources(settings.queue_types)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client = connect(settings.redis_url)
        pipelined = PipelinedConnection.for_client(client)
        app.state.store = Store(
            client,
            Keys(settings.redis_prefix),
            keep_per_id=settings.task_retention_per_id,
            keep_per_queue=settings.task_retention_per_queue,
            idempotency_ttl_s=settings.idempotency_ttl_s,
            pipelined=pipelined,
        )
        app.state.sources = sources
        app.state.box = SecretBox(settings.cipher_keys)
        app.state.settings = settings
        app.state.report_cache = status.ReportCache()
        async with mesos_http(settings) as http:
            app.state.sandbox = SandboxReader(settings.mesos_master, http, mesos_auth(settings))
            try:
                yield
            finally:
                if pipelined is not None:
                    await pipelined.aclose()
                await client.aclose()

    middleware = [Middleware(RequestMetrics)]
    if settings.api_tokens:
        middleware.append(Middleware(TokenAuth, tokens=settings.api_tokens))
    handlers: dict[Any, Any] = {HTTPException: _http_error, HippoError: _hippo_error}
    app = Starlette(middleware=middleware, exception_handlers=handlers)
    app.router = IndexedRouter(ROUTES, lifespan=lifespan)
    return app


def serve_app() -> Starlette:
    """The factory `hippo api` hands uvicorn: each worker process sets up its logging
    and, once the app is built, its garbage collector (shared/gc_tuning.py)."""
    from hippo.shared.gc_tuning import tune_for_service
    from hippo.shared.logs import setup_logging

    settings = Settings.from_env()
    setup_logging(settings.log_level, settings.log_format, settings.api_access_log)
    app = create_app(settings)
    tune_for_service()
    return app


def startup_warnings(settings: Settings) -> list[str]:
    """What an operator must hear about at start: settings unsafe in production."""
    warnings = []
    if not settings.api_tokens:
        warnings.append("HIPPO_API_TOKENS is not set: the API is open to anyone who reaches it")
    if settings.dev_secret_key_warning:
        warnings.append(settings.dev_secret_key_warning)
    return warnings
