"""The app in a browser: a textual-serve server that starts one app process per visitor (no torch, no UI here)."""

from __future__ import annotations

import ipaddress
import shlex
import socket
import sys
from pathlib import Path

from textual_serve.server import Server

WILDCARDS = ("0.0.0.0", "::", "")  # listen on every address


def app_command(root: Path, run_id: str | None) -> str:
    """The command each visitor's app runs: the runs list, or ``run_id``'s dashboard.

    textual-serve hands it to a shell, so every word is quoted.
    """
    words = [sys.executable, "-m", "sslterm", "--runs-dir", str(root.resolve())]
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


def make_server(root: Path, run_id: str | None, host: str, port: int) -> Server:
    """A server on ``host:port`` that gives each visitor the app on the runs under ``root``."""
    return Server(app_command(root, run_id), host=host, port=port, title="sslterm",
                  public_url=public_url(host, port))
