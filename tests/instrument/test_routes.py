"""RouteResolver against Starlette's own router: same route for the same request."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from exporter.instrument.routes import UNMATCHED, RouteResolver, route_path


def _says(template: str):
    """An endpoint that answers with its own full template: the oracle."""

    async def endpoint(*args, **kwargs) -> PlainTextResponse:
        return PlainTextResponse(template)

    return endpoint


def build() -> FastAPI:
    app = FastAPI()
    app.get("/items/{item_id}")(_says("/items/{item_id}"))
    # declared after the dynamic route: GET /items/new is /items/{item_id}
    app.post("/items/new")(_says("/items/new"))
    app.get("/files/{path:path}")(_says("/files/{path:path}"))
    app.get("/n/{num:int}")(_says("/n/{num:int}"))
    router = APIRouter(prefix="/flows")
    router.api_route("/{flow_id}/run", methods=["GET", "POST"])(_says("/flows/{flow_id}/run"))
    nested = APIRouter(prefix="/steps")
    nested.get("/{step}")(_says("/flows/{flow_id}/steps/{step}"))
    router.include_router(nested, prefix="/{flow_id}")
    app.include_router(router)
    sub = FastAPI()
    sub.get("/items/{item_id}")(_says("/v1/{tenant}/items/{item_id}"))
    app.mount("/v1/{tenant}", sub)

    async def user(request):
        return PlainTextResponse("/admin/users/{uid}")

    app.mount("/admin", Starlette(routes=[Route("/users/{uid}", user)]))
    # shadowed: Starlette sends every /admin/* path into the mount
    app.get("/admin/late")(_says("/admin/late"))

    async def opaque(scope, receive, send):
        await PlainTextResponse("/static/{path:path}")(scope, receive, send)

    app.mount("/static", opaque)
    return app


REQUESTS = [
    ("GET", "/items/7"),
    ("GET", "/items/new"),
    ("POST", "/items/new"),
    ("DELETE", "/items/7"),  # 405 from the GET route
    ("GET", "/files/a/b/c.txt"),
    ("GET", "/n/12"),
    ("GET", "/n/twelve"),
    ("POST", "/flows/abc/run"),
    ("PUT", "/flows/abc/run"),
    ("GET", "/flows/abc/steps/2"),
    ("GET", "/v1/acme/items/3"),
    ("GET", "/v1/acme/items/x"),  # int convertor: no match inside the mount
    ("GET", "/v1/acme/other"),
    ("GET", "/admin/users/9"),
    ("GET", "/admin/late"),
    ("GET", "/static/css/site.css"),
    ("GET", "/nowhere"),
    ("BREW", "/items/7"),
]
# 405s have no body to tell the route: what Starlette picks is the first path match.
METHOD_NOT_ALLOWED = {
    ("DELETE", "/items/7"): "/items/{item_id}",
    ("PUT", "/flows/abc/run"): "/flows/{flow_id}/run",
    ("BREW", "/items/7"): "/items/{item_id}",
}


@pytest.mark.parametrize(("method", "path"), REQUESTS)
async def test_same_route_as_the_app_itself(method: str, path: str) -> None:
    app = build()
    got = RouteResolver(lambda: app.routes).resolve(method, path)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        resp = await client.request(method, path)
    if resp.status_code == 200:
        assert got == resp.text
    elif resp.status_code == 405:
        assert got == METHOD_NOT_ALLOWED[(method, path)]
    else:
        assert resp.status_code in (404, 422)
        assert got == UNMATCHED if resp.status_code == 404 else got != UNMATCHED


def test_expected_templates() -> None:
    app = build()
    r = RouteResolver(lambda: app.routes)
    assert r.resolve("GET", "/v1/acme/items/3") == "/v1/{tenant}/items/{item_id}"
    assert r.resolve("POST", "/flows/abc/run") == "/flows/{flow_id}/run"
    assert r.resolve("GET", "/items/new") == "/items/{item_id}"
    assert r.resolve("POST", "/items/new") == "/items/new"
    assert r.resolve("GET", "/static/x") == "/static/{path:path}"
    assert r.resolve("GET", "/admin/late") == UNMATCHED


def test_routes_added_later_are_seen() -> None:
    app = FastAPI()
    r = RouteResolver(lambda: app.routes)
    assert r.resolve("GET", "/late/1") == UNMATCHED

    @app.get("/late/{n}")
    async def late(n: int): ...

    assert r.resolve("GET", "/late/1") == "/late/{n}"


def test_memo_is_bounded_under_a_scan() -> None:
    app = build()
    r = RouteResolver(lambda: app.routes)
    for _ in range(3 * RouteResolver.CACHE_SIZE):
        assert r.resolve("GET", f"/scan/{uuid.uuid4()}") == UNMATCHED
        r.resolve(f"M{uuid.uuid4().hex[:6]}", "/items/1")
    assert len(r._cache) <= RouteResolver.CACHE_SIZE
    assert len(r._tables) <= 2  # GET and POST: invented methods make no tables


def test_route_path_strips_root_path() -> None:
    assert route_path({"path": "/api/flows/1", "root_path": "/api"}) == "/flows/1"
    assert route_path({"path": "/flows/1", "root_path": "/api"}) == "/flows/1"
    assert route_path({"path": "/apix/1", "root_path": "/api"}) == "/apix/1"
    assert route_path({"path": "/api", "root_path": "/api"}) == ""
