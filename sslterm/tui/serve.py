"""The app in a browser: a textual-serve server that starts one app process per visitor (no torch, no UI here)."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import shlex
import socket
from pathlib import Path
from typing import Any

from aiohttp import web
from textual_serve.server import Server

from sslterm.subproc import child_env, python_module

WILDCARDS = ("0.0.0.0", "::", "")  # listen on every address


def app_command(root: Path, run_id: str | None) -> str:
    """The command each visitor's app runs: the runs list, or ``run_id``'s dashboard.

    textual-serve hands it to a shell, so every word is quoted; ``env`` gives the app the environment of
    every process sslterm starts (:func:`~sslterm.subproc.child_env`: this copy of sslterm, whatever folder
    the server was started from).
    """
    env = child_env()
    words = ["env", f"PYTHONSAFEPATH={env['PYTHONSAFEPATH']}", f"PYTHONPATH={env['PYTHONPATH']}",
             *python_module("sslterm", "--runs-dir", str(root.resolve()))]
    if run_id is not None:
        words += ["watch", run_id]
    return shlex.join(words)


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach ``host`` (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def public_url(host: str, port: int) -> str:
    """The address a browser opens (and the page's websocket connects back to).

    A wildcard host is not an address a browser can reach, so the machine's name stands in for it.
    """
    name = socket.getfqdn() if host in WILDCARDS else host
    if ":" in name:  # an IPv6 address
        name = f"[{name}]"
    return f"http://{name}:{port}"


COOKIE = "sslterm_token"


class TokenServer(Server):
    """A textual-serve server that answers only visitors who bring its token (textual-serve has no authentication).

    The page must be opened as ``/?token=TOKEN``; it then sets a same-site, HTTP-only cookie that its
    websocket and downloads carry. The static files (textual-serve's own scripts and fonts) are public.
    """

    def __init__(self, command: str, *, token: str, **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self.token = token

    def allowed(self, request: web.Request) -> bool:
        """Whether ``request`` carries the token, in its query or its cookie (compared in constant time)."""
        given = request.query.get("token") or request.cookies.get(COOKIE) or ""
        return hmac.compare_digest(given.encode(), self.token.encode())

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()

        @web.middleware
        async def check_token(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.path.startswith("/static/"):
                return await handler(request)
            if not self.allowed(request):
                raise web.HTTPForbidden(text="sslterm serve: open the address with the token that "
                                        "`sslterm serve` printed\n")
            response: web.StreamResponse = await handler(request)
            if request.path == "/" and not response.prepared:
                response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict")
            return response

        app.middlewares.append(check_token)
        return app


def make_server(root: Path, run_id: str | None, host: str, port: int, token: str | None = None) -> Server:
    """A server on ``host:port`` that gives each visitor the app on the runs under ``root``.

    With ``token``, only visitors who open ``/?token=TOKEN`` get it (required off the loopback).
    """
    kwargs: dict[str, Any] = {"host": host, "port": port, "title": "sslterm", "public_url": public_url(host, port)}
    if token is not None:
        return TokenServer(app_command(root, run_id), token=token, **kwargs)
    return Server(app_command(root, run_id), **kwargs)


def new_token() -> str:
    """A fresh random token for a server reachable from the network."""
    return secrets.token_urlsafe(18)
