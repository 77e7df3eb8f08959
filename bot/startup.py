"""Why the plugin could not start, in one line that names the setting and says what to do.

``slack-chatops serve`` prints the line and exits with status 2 instead of a traceback: a port in use, a data
directory it cannot write, a store that does not answer or that a newer release wrote, a malformed setting. Secrets
(``SecretStr`` settings such as ``BOT_STORE_URL``, which may hold a password) are never quoted.
"""

from __future__ import annotations

import errno
import socket
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from bot.core.text import echo
from bot.settings import SECRET_CHECKS, Settings, unknown_variables

EXIT_STATUS = 2  # a start refused for its configuration (as argparse exits for a bad command line)
# Errors of a file operation that mean the directory cannot be used, when the error names no file (writing the lock).
DATA_DIR_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR})


class ListenError(OSError):
    """A server could not listen on its address; ``setting`` names the port's variable."""

    def __init__(self, setting: str, host_setting: str, address: str, cause: BaseException) -> None:
        super().__init__(getattr(cause, "errno", None), f"cannot listen on {address}")
        self.setting = setting
        self.host_setting = host_setting
        self.address = address
        self.cause = cause


def one_line(text: str) -> str:
    return " ".join(text.split())


def _default(name: str) -> str:
    return describe_default(Settings.model_fields[name].default)


def describe_default(value: object) -> str:
    """A setting's default as ``serve --help`` and the errors show it."""
    if value is None:
        return "unset"
    if isinstance(value, Path):
        return str(value) if value.is_absolute() else f"./{value}"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value) or "unset"
    return str(value)


def is_secret(name: str) -> bool:
    annotation = Settings.model_fields[name].annotation
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())


def explain_invalid_settings(exc: ValidationError) -> str:
    """``invalid settings: BOT_X='value' is not valid (why): what it must be; unset for the default …``."""
    by_alias = {field.alias: name for name, field in Settings.model_fields.items()}
    parts: list[str] = []
    for error in exc.errors():
        alias = str(error["loc"][0]) if error["loc"] else "?"
        name = by_alias.get(alias)
        value: Any = error.get("input")
        shown = "" if name is None or is_secret(name) or not isinstance(value, str) else f"={echo(value)!r}"
        reason = str(error["msg"])
        if name is None:
            parts.append(f"{alias}{shown} is not valid ({reason})")
            continue
        description = Settings.model_fields[name].description or ""
        parts.append(f"{alias}{shown} is not valid ({reason}): {description}; unset it for {_default(name)}")
    return one_line("invalid settings: " + "; ".join(parts))


def explain_slack_secrets(settings: Settings) -> str | None:
    """The line refusing Slack secrets that cannot be what Slack issues (``SLACK_APP_TOKEN`` not an app-level token,
    ``SLACK_SIGNING_SECRET`` not 32 hex digits), in ``explain_invalid_settings``' form; None when they are fine.

    Checked as ``serve`` starts rather than by the settings model, so that ``doctor`` still reads such settings and
    lists what is wrong with them among its other checks, and ``outbox``/``audit`` still run. Never quotes them."""
    parts: list[str] = []
    for name, check in SECRET_CHECKS.items():
        try:
            check(getattr(settings, name))
        except ValueError as exc:
            field = Settings.model_fields[name]
            parts.append(f"{field.alias} is not valid ({exc}): {field.description}; unset it for {_default(name)}")
    return one_line("invalid settings: " + "; ".join(parts)) if parts else None


def explain_two_way(settings: Settings) -> str | None:
    """The line refusing two-way actions set up by half: an endpoint without any App key, or keys without the
    endpoint to use them with; None when both or neither are set. Never quotes a key."""
    endpoint = settings.cloudforet_endpoint
    keys = settings.cloudforet_app_key is not None or settings.cloudforet_app_keys is not None
    if endpoint and not keys:
        why = (
            "BOT_CLOUDFORET_ENDPOINT is set but no App key is: set BOT_CLOUDFORET_APP_KEY (or BOT_CLOUDFORET_APP_KEYS)"
        )
    elif keys and not endpoint:
        why = (
            "an App key is set but BOT_CLOUDFORET_ENDPOINT is not: set it to grpc://host:port of the service that "
            "owns alerts"
        )
    else:
        return None
    return one_line(f"invalid settings: {why}, or unset both for no two-way actions")


def unknown_variable_warnings(environ: Mapping[str, str]) -> list[str]:
    """One line for each ``BOT_…`` variable no setting reads, naming the setting it most likely meant.

    A warning, not a refusal: a variable may share the prefix by chance (Kubernetes makes ``<SERVICE>_…`` variables
    for every Service in the namespace and Docker for linked containers, and a deployment's own tooling may use
    ``BOT_…`` names), and refusing to start over a name the plugin does not even read would turn a typo's silent
    default into an outage. The value is never shown: it may be a secret meant for the setting the name misspells.
    """
    lines = []
    for unknown in unknown_variables(environ):
        hint = f"did you mean {unknown.meant}?" if unknown.meant else "`slack-chatops serve --help` lists the settings"
        lines.append(f"{unknown.name} is not a setting this plugin reads, and is ignored: {hint}")
    return lines


# Listen addresses that a client on the same host reaches at 127.0.0.1.
_ANY_OR_LOOPBACK = frozenset({"", "[::]", "::", "0.0.0.0", "127.0.0.1", "localhost", "[::1]", "::1"})
DEFAULT_SEND_PORT = 50051  # `slack-chatops send`'s endpoint when BOT_GRPC_PORT is unset where it runs


def next_step(grpc_host: str, grpc_port: int) -> str:
    """The line ``serve`` logs once it listens: how to see a first card (``slack-chatops send``), with the
    endpoint when ``send``'s default (127.0.0.1:50051) would not reach this plugin."""
    host = "127.0.0.1" if grpc_host in _ANY_OR_LOOPBACK else grpc_host
    endpoint = "" if (host, grpc_port) == ("127.0.0.1", DEFAULT_SEND_PORT) else f" --endpoint {host}:{grpc_port}"
    return (
        f"sent nothing yet? try: slack-chatops send --channel '#…'{endpoint} --resolve (with the bot token in "
        "SLACK_BOT_TOKEN)"
    )


def _within(path: Path, directory: Path) -> bool:
    path, directory = path.absolute(), directory.absolute()
    return path == directory or directory in path.parents or path in directory.parents


def _listen_problem(exc: ListenError) -> tuple[str, str]:
    """The setting to blame for a failed bind, and what went wrong and what to do about it."""
    cause, port, host = exc.cause, exc.setting, exc.host_setting
    if isinstance(cause, socket.gaierror):
        return host, "the host name does not resolve; set it to an address of this host (or unset it)"
    code = getattr(cause, "errno", None)
    if code == errno.EADDRNOTAVAIL:
        return host, "that address is not one of this host's; set it to one (or unset it)"
    if code == errno.EACCES:
        return port, "ports below 1024 need privileges this process does not have; set it to a port above 1023"
    if code == errno.EADDRINUSE:
        return port, "the port is in use by another process; stop that process or set it to a free port"
    # grpcio says only that it could not bind
    return port, (
        f"the port is in use by another process, or the address is not this host's; stop that process or set "
        f"{port} to a free port ({host} to an address of this host)"
    )


def _bind_address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[Any, ...]]:
    """Where a server on ``host`` (``[::]``, ``0.0.0.0``, a name) would bind: gRPC writes IPv6 in brackets."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    found = socket.getaddrinfo(bare or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = found[0]
    return family, address


def check_port(setting: str, host_setting: str, host: str, port: int) -> None:
    """Raise ``ListenError`` when ``host:port`` cannot be listened on now, the way the servers bind (address reuse
    on, so a port in TIME_WAIT passes and one another process listens on does not; port 0 checks the address). Done
    before starting, because grpcio's own failure also prints a line of its C core's log; the servers' binding still
    checks for real."""
    address = f"{host}:{port}"
    try:
        family, where = _bind_address(host, port)
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and where[0] == "::":
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # gRPC's [::] takes IPv4 too
            probe.bind(where)
    except OSError as exc:
        raise ListenError(setting, host_setting, address, exc) from exc


def check_ports(settings: Settings) -> None:
    check_port("BOT_GRPC_PORT", "BOT_GRPC_HOST", settings.grpc_host, settings.grpc_port)
    check_port("BOT_HTTP_PORT", "BOT_HTTP_HOST", settings.http_host, settings.http_port)


def explain(exc: BaseException, settings: Settings) -> str | None:
    """The line for a failure to start, or None when ``exc`` is not one the operator can fix by a setting."""
    from bot.ports.schema import NewerLayout
    from bot.store import CorruptStore, DataDirInUse, StoreError  # not at import: ``serve --help`` needs no Redis

    embedded = settings.store_url is None or not settings.store_url.get_secret_value().strip()
    data_dir = settings.data_dir
    if isinstance(exc, NewerLayout):  # a rollback onto data a newer release wrote
        return one_line(f"{'BOT_DATA_DIR' if embedded else 'BOT_STORE_URL'}: {exc.details}")
    if isinstance(exc, CorruptStore):  # not the directory's permissions: the file itself
        return one_line(f"BOT_DATA_DIR: {exc}")
    if isinstance(exc, ListenError):
        setting, problem = _listen_problem(exc)
        return one_line(f"{setting}: cannot listen on {exc.address}: {problem}")
    if isinstance(exc, DataDirInUse):
        return one_line(str(exc))
    if isinstance(exc, StoreError) and not embedded:
        return one_line(
            f"BOT_STORE_URL: {exc}; check that this Redis runs and is reachable from here and that BOT_STORE_URL names "
            "it (host, port, password, database), or unset BOT_STORE_URL for the embedded store in BOT_DATA_DIR "
            "(one replica)"
        )
    if isinstance(exc, OSError):
        if exc.filename is not None and not _within(Path(exc.filename), data_dir):
            return one_line(f"cannot use {exc.filename}: {exc.strerror or exc}")
        if exc.filename is None and exc.errno not in DATA_DIR_ERRNOS:
            return None  # not the data directory's: a bug, with its traceback
    if isinstance(exc, StoreError | sqlite3.Error | OSError):
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return one_line(
            f"BOT_DATA_DIR={data_dir} cannot be used ({why}); set BOT_DATA_DIR to a directory this user "
            "(uid and gid of the process) may write: in a container with a read-only root file system, mount a "
            "volume or an emptyDir there"
        )
    aliases = {str(field.alias) for field in Settings.model_fields.values()}
    if isinstance(exc, ValueError) and any(alias in str(exc) for alias in aliases):
        return one_line(str(exc))  # open_store's: BOT_STORE_URL is not a Redis URL
    return None
