"""The reference bench/api.py measures Hippo's API against: an empty Starlette app with
one route answering a small JSON, served by uvicorn with the settings `hippo api` uses."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def empty(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/", empty)])
