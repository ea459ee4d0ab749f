"""The pack's one server route: the node search aliases for web/search_aliases.js (ComfyUI 0.3.64's
/object_info has no field for them)."""
from __future__ import annotations

ALIASES_ROUTE = "/toontalker/search_aliases"


def register_routes() -> None:
    """Add the route to ComfyUI's server (nothing without ComfyUI)."""
    try:
        from aiohttp import web
        from server import PromptServer  # type: ignore
    except ImportError:
        return
    server = getattr(PromptServer, "instance", None)
    if server is None:
        return
    from . import SEARCH_ALIASES

    @server.routes.get(ALIASES_ROUTE)
    async def search_aliases(request):
        return web.json_response(SEARCH_ALIASES)
