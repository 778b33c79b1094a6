"""`sslterm serve` off the loopback answers only visitors with its token; on the loopback it needs none."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from textual_serve.server import Server
from typer.testing import CliRunner

from sslterm.cli import app
from sslterm.tui.serve import COOKIE, TokenServer, make_server


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Server]:
    """The servers `sslterm serve` built, recorded instead of served."""
    monkeypatch.setattr(os, "environ", dict(os.environ))
    servers: list[Server] = []
    monkeypatch.setattr(Server, "serve", lambda self, debug=False: servers.append(self))
    return servers


def test_a_network_host_gets_a_token_and_prints_it(tmp_path: Path, served: list[Server]) -> None:
    result = CliRunner().invoke(app, ["serve", "--runs-dir", str(tmp_path), "--host", "0.0.0.0", "--port", "9001"])
    assert result.exit_code == 0, result.output
    (server,) = served
    assert isinstance(server, TokenServer) and len(server.token) >= 20
    assert re.search(rf"open http://\S+:9001/\?token={re.escape(server.token)} in a browser", result.output)


def test_loopback_needs_no_token(tmp_path: Path, served: list[Server]) -> None:
    result = CliRunner().invoke(app, ["serve", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0 and "token" not in result.output
    assert not isinstance(served[0], TokenServer)


def test_the_token_server_refuses_visitors_without_the_token(tmp_path: Path) -> None:
    server = make_server(tmp_path, None, "0.0.0.0", 9001, token="s3cret-token")

    async def visit() -> list[tuple[str, int, bool]]:
        async with TestClient(TestServer(await server._make_app())) as client:
            seen = []
            for path, cookies in (("/", {}), ("/?token=wrong", {}), ("/ws", {}), ("/?token=s3cret-token", {}),
                                  ("/ws", {COOKIE: "wrong"}), ("/download/x", {})):
                client.session.cookie_jar.clear()
                client.session.cookie_jar.update_cookies(cookies)
                resp = await client.get(path)
                seen.append((path, resp.status, COOKIE in resp.cookies))
            return seen

    seen = asyncio.run(visit())
    assert [(p, s) for p, s, _ in seen if s == 403] == [("/", 403), ("/?token=wrong", 403), ("/ws", 403),
                                                        ("/ws", 403), ("/download/x", 403)]
    assert ("/?token=s3cret-token", 200, True) in seen, seen
    assert isinstance(server, TokenServer)
    ws = make_mocked_request("GET", "/ws?width=80&height=24", headers={"Cookie": f"{COOKIE}=s3cret-token"})
    assert server.allowed(ws), "the page's websocket carries the cookie"
