"""Who may reach the chat: loopback by default; authentication before binding anywhere else."""

from __future__ import annotations

import ipaddress
import os

from .errors import InvalidArgumentError

AUTH_ENV = "ASSISTANT_AUTH"


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """'user:password' (from --auth or $ASSISTANT_AUTH) to a pair; None when not given."""
    if value is None or value == "":
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise InvalidArgumentError(
            "Authentication must be given as USER:PASSWORD (with --auth or $ASSISTANT_AUTH), "
            "both parts non-empty."
        )
    return user, password


def auth_from(cli_value: str | None) -> tuple[str, str] | None:
    return parse_auth(cli_value if cli_value is not None else os.environ.get(AUTH_ENV))


def is_loopback(host: str) -> bool:
    if host.strip().lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost: it may resolve to anything


def check_exposure(host: str, auth: tuple[str, str] | None, allow_public: bool) -> None:
    """Refuses to serve beyond this machine without authentication, unless told explicitly."""
    if is_loopback(host) or auth is not None or allow_public:
        return
    raise InvalidArgumentError(
        f"Refusing to serve on {host} without authentication: anyone who can reach this "
        "machine could read and change the indexed documents. Add --auth USER:PASSWORD (or set "
        f"${AUTH_ENV}=USER:PASSWORD), bind to 127.0.0.1, or pass --allow-public-without-auth "
        "if the network is trusted."
    )
