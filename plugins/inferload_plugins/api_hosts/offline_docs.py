"""``/docs`` and ``/redoc`` that work with no internet access.

FastAPI's default pages load Swagger UI and ReDoc from a CDN, which fails on an offline benchmark host (the
reference implementation's did). When the ``fastapi-offline`` package is installed, its bundled Swagger UI
and ReDoc assets are served from this server. Without it, both pages are a plain HTML reference rendered
here from the OpenAPI document — no scripts, nothing fetched from elsewhere — and say how to get the
interactive viewers.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI


def bundled_assets_dir() -> Path | None:
    """The directory holding swagger-ui-bundle.js, swagger-ui.css and redoc.standalone.js, if installed."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    static = Path(fastapi_offline.__file__).parent / "static"
    needed = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")
    return static if all((static / name).is_file() for name in needed) else None


def add_docs_routes(app: FastAPI, *, docs_url: str, redoc_url: str, assets_url: str) -> None:
    """Serve ``docs_url`` (Swagger UI) and ``redoc_url`` (ReDoc) without any external host."""
    from fastapi.responses import HTMLResponse

    assets = bundled_assets_dir()
    openapi_url = app.openapi_url or "/openapi.json"
    if assets is None:

        async def offline_reference() -> HTMLResponse:
            return HTMLResponse(render_reference(app.openapi()))

        app.add_api_route(docs_url, offline_reference, include_in_schema=False, response_class=HTMLResponse,
                      response_model=None)
        app.add_api_route(redoc_url, offline_reference, include_in_schema=False, response_class=HTMLResponse,
                      response_model=None)
        return

    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount(assets_url, StaticFiles(directory=str(assets)), name="docs-assets")
    favicon = f"{assets_url}/favicon.png"

    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{assets_url}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets_url}/swagger-ui.css",
            swagger_favicon_url=favicon,
        )

    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{assets_url}/redoc.standalone.js",
            redoc_favicon_url=favicon,
            with_google_fonts=False,
        )

    app.add_api_route(docs_url, swagger, include_in_schema=False, response_class=HTMLResponse,
                      response_model=None)
    app.add_api_route(redoc_url, redoc, include_in_schema=False, response_class=HTMLResponse,
                      response_model=None)


def render_reference(openapi: dict[str, Any]) -> str:
    """A static HTML page listing every operation and schema of an OpenAPI document."""
    esc = html.escape
    info = openapi.get("info", {})
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(info.get('title', 'API'))}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "code,pre{background:#f4f4f4}pre{padding:.5em;overflow:auto}</style></head><body>",
        f"<h1>{esc(info.get('title', 'API'))} {esc(str(info.get('version', '')))}</h1>",
        f"<p>{esc(info.get('description', ''))}</p>",
        "<p>The interactive viewers are not installed (<code>pip install fastapi-offline</code> adds them); "
        "this page is the same reference, rendered from <a href='/openapi.json'>/openapi.json</a>.</p>",
        "<h2>Routes</h2>",
    ]
    for path, operations in sorted(openapi.get("paths", {}).items()):
        for method, operation in operations.items():
            parts.append(f"<h3><code>{esc(method.upper())} {esc(path)}</code></h3>")
            if operation.get("summary"):
                parts.append(f"<p><b>{esc(operation['summary'])}</b></p>")
            if operation.get("description"):
                parts.append(f"<p>{esc(operation['description'])}</p>")
            for status, response in operation.get("responses", {}).items():
                kinds = ", ".join(
                    f"{media}" + (f" ({_schema_name(spec.get('schema', {}))})" if spec.get("schema") else "")
                    for media, spec in response.get("content", {}).items()
                )
                parts.append(f"<p>{esc(status)}: {esc(response.get('description', ''))} {esc(kinds)}</p>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in sorted(openapi.get("components", {}).get("schemas", {}).items()):
        parts.append(f"<h3 id='{esc(name)}'>{esc(name)}</h3><pre>{esc(json.dumps(schema, indent=2))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _schema_name(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref else str(schema.get("type", "object"))
