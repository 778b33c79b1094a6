"""`sslterm serve`: the server it builds (localhost unless told otherwise), and one real server in a browser's place."""

from __future__ import annotations

import asyncio
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from textual_serve.server import Server
from typer.testing import CliRunner

from sslterm.cli import app
from sslterm.store import Status, create_run, write_status
from sslterm.tui.serve import is_loopback, public_url
from tests.conftest import wait_for


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Server]:
    """The servers `sslterm serve` built, recorded instead of served."""
    monkeypatch.setattr(os, "environ", dict(os.environ))  # the command line sets the theme and colours there
    servers: list[Server] = []
    monkeypatch.setattr(Server, "serve", lambda self, debug=False: servers.append(self))
    return servers


def test_serve_binds_to_localhost_by_default(tmp_path: Path, served: list[Server]) -> None:
    result = CliRunner().invoke(app, ["serve", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (server,) = served
    assert (server.host, server.port) == ("127.0.0.1", 8000)
    assert "open http://127.0.0.1:8000 in a browser" in result.output and "warning" not in result.output
    words = shlex.split(server.command)
    assert words[0] == "env" and words[1] == "PYTHONSAFEPATH=1" and words[2].startswith("PYTHONPATH=")
    assert words[3:6] == [sys.executable, "-m", "sslterm"] and words[6:] == ["--runs-dir", str(tmp_path.resolve())]


def test_serve_passes_a_network_host_through_with_a_warning(tmp_path: Path, served: list[Server]) -> None:
    run = create_run(tmp_path, "it's mine")  # a quote in the path: the command goes through a shell
    write_status(run.path, Status(id=run.id, state="finished"))
    result = CliRunner().invoke(app, ["serve", "--runs-dir", str(tmp_path), "--host", "0.0.0.0", "--port", "9001",
                                      run.id[:12]])
    assert result.exit_code == 0, result.output
    (server,) = served
    assert (server.host, server.port) == ("0.0.0.0", 9001)
    assert "warning: listening on 0.0.0.0" in result.output
    assert server.public_url == f"http://{socket.getfqdn()}:9001"  # a wildcard is no address to browse to
    assert shlex.split(server.command)[-2:] == ["watch", run.id]


def test_serve_refuses_an_unknown_run(tmp_path: Path, served: list[Server]) -> None:
    result = CliRunner().invoke(app, ["serve", "--runs-dir", str(tmp_path), "nosuchrun"])
    assert result.exit_code == 2 and "nosuchrun" in result.output and not served


def test_loopback_hosts_and_urls() -> None:
    assert all(map(is_loopback, ("localhost", "127.0.0.1", "127.1.2.3", "::1")))
    assert not any(map(is_loopback, ("0.0.0.0", "::", "192.168.1.5", "example.org")))
    assert public_url("::1", 8000) == "http://[::1]:8000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def first_frame(port: int, words: bytes, timeout: float) -> bytes:
    """What the app sends a browser's websocket until ``words`` appear in it."""
    received = b""
    async with aiohttp.ClientSession() as session, session.ws_connect(
        f"http://127.0.0.1:{port}/ws?width=80&height=24"
    ) as ws:
        end = time.monotonic() + timeout
        while words not in received and time.monotonic() < end:
            try:
                msg = await ws.receive(timeout=1.0)
            except asyncio.TimeoutError:
                continue
            if msg.type != aiohttp.WSMsgType.BINARY:
                break
            received += msg.data
    return received


def test_a_browser_gets_the_app_from_a_real_server(tmp_path: Path) -> None:
    port = free_port()
    sslterm = Path(sys.executable).with_name("sslterm")
    server = subprocess.Popen([str(sslterm), "serve", "--runs-dir", str(tmp_path), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def page() -> str:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                    return response.read().decode()
            except OSError:
                return ""

        assert f'data-session-websocket-url="ws://127.0.0.1:{port}/ws"' in wait_for(page, timeout=60, what="the server")
        assert b"runs in" in asyncio.run(first_frame(port, b"runs in", timeout=20.0))  # the runs list's title
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_footer_shows_its_keys_while_the_page_is_not_focused(tmp_path: Path) -> None:
    """The browser's page says the app is blurred until it is clicked: screens opened meanwhile had no footer."""
    from textual import events
    from textual.widgets._footer import FooterKey

    from sslterm.store import Run
    from sslterm.tui.app import make_app
    from sslterm.tui.messages import OpenRun
    from sslterm.tui.screens.dashboard import DashboardScreen

    run = create_run(tmp_path, "simclr")
    write_status(run.path, Status(id=run.id, state="finished", total_steps=10, step=10))

    async def body() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            app.post_message(events.AppBlur())
            await pilot.pause()
            assert not app.app_focus
            app.post_message(OpenRun(Run(run.path)))
            for _ in range(50):
                if isinstance(app.screen, DashboardScreen) and app.screen.query(FooterKey):
                    break
                await pilot.pause(0.1)
            assert isinstance(app.screen, DashboardScreen) and not app.app_focus
            assert {key.key for key in app.screen.query(FooterKey)} >= {"q", "question_mark", "m"}

    asyncio.run(body())
