"""The configuration file: ``dsr.toml`` (or ``[tool.dsr]`` in ``pyproject.toml``).

Found with ``--config FILE`` (env ``DSR_CONFIG``), else ``./dsr.toml``, else ``[tool.dsr]`` of
``./pyproject.toml``. Every setting has the same precedence: command-line option, then
environment variable, then the file, then the default. Relative paths in the file (the catalog,
the key file, the export directory, a SQLite database) are relative to the file's folder, so a
directory with its ``dsr.toml`` works from anywhere.

Secrets are never in the file: a database password is written as a reference to an environment
variable (``postgresql://dsr:${DSR_DB_PASSWORD}@db/crm``), the SMTP password as the name of
one (``[mail] password_env``); a literal password is refused with the file and line.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsr import log
from dsr.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_ENV = "DSR_CONFIG"
FILE_NAME = "dsr.toml"

_TOP = {
    "database_url": str,
    "catalog": str,
    "key_file": str,
    "export_dir": str,
    "log_level": str,
    "log_format": str,
}
_MAIL = {
    "host": str,
    "port": int,
    "starttls": bool,
    "ssl": bool,
    "username": str,
    "password_env": str,
    "sender": str,
    "outbox": str,
    "timeout": int,
}
_TYPE_WORDS = {str: "a string", int: "a whole number", bool: "true or false"}
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class MailSettings:
    """SMTP settings of the portal's mail (or a development outbox folder)."""

    host: str | None = None
    port: int = 587
    starttls: bool = True
    ssl: bool = False
    username: str | None = None
    password_env: str | None = None
    sender: str | None = None
    outbox: Path | None = None
    timeout: int = 10

    @property
    def configured(self) -> bool:
        return self.host is not None or self.outbox is not None

    def password(self, env: Mapping[str, str] | None = None) -> str | None:
        """The SMTP password, read from the environment variable the file names."""
        if self.password_env is None:
            return None
        env = os.environ if env is None else env
        value = env.get(self.password_env)
        if value is None:
            raise ConfigError(
                f"the SMTP password variable {self.password_env} is not set",
                where="[mail] password_env",
            )
        return value

    def to_json(self, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        env = os.environ if env is None else env
        return {
            "host": self.host,
            "port": self.port,
            "starttls": self.starttls,
            "ssl": self.ssl,
            "username": self.username,
            "password": None
            if self.password_env is None
            else f"${{{self.password_env}}} ({'set' if env.get(self.password_env) else 'not set'})",
            "sender": self.sender,
            "outbox": str(self.outbox) if self.outbox else None,
            "timeout": self.timeout,
        }


@dataclass(frozen=True)
class FileSettings:
    """What a configuration file says; ``path`` is None when there is none."""

    path: Path | None = None
    database_url: str | None = None
    catalog: str | None = None
    key_file: str | None = None
    export_dir: str | None = None
    log_level: str | None = None
    log_format: str | None = None
    mail: MailSettings = field(default_factory=MailSettings)


def find_config(option: str | None, env: Mapping[str, str] | None = None) -> Path | None:
    """The configuration file to read: the option, ``DSR_CONFIG``, ./dsr.toml, ./pyproject.toml.

    A file named by option or environment must exist; ``pyproject.toml`` counts only when it
    has a ``[tool.dsr]`` table.
    """
    env = os.environ if env is None else env
    named = option or env.get(CONFIG_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"configuration file {path} does not exist", where="--config")
        return path
    if Path(FILE_NAME).is_file():
        return Path(FILE_NAME)
    pyproject = Path("pyproject.toml")
    if pyproject.is_file() and re.search(r"(?m)^\[tool\.dsr(\.|\])", _read(pyproject)):
        return pyproject
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {type(exc).__name__}", where="--config") from exc


def load_config(path: Path | None) -> FileSettings:
    """Read and check a configuration file (see the module docs); None reads nothing."""
    if path is None:
        return FileSettings()
    text = _read(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=str(path)) from exc
    prefix = ""
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("dsr", {})
        prefix = "tool.dsr."
    base = path.resolve().parent
    mail = data.pop("mail", {})
    checker = _Checker(path, text, prefix)
    top = checker.table(data, _TOP, section="")
    if not isinstance(mail, dict):
        raise checker.error("mail", "must be a table ([mail])")
    mail_values = checker.table(mail, _MAIL, section="mail")
    if "database_url" in top:
        checker.no_literal_password(top["database_url"])
    for key, allowed in (("log_level", tuple(log.LEVELS)), ("log_format", log.FORMATS)):
        if key in top and top[key].lower() not in allowed:
            raise checker.error(key, f"must be one of {', '.join(allowed)}")
    if "database_url" in top:
        top["database_url"] = _anchor_sqlite(top["database_url"], base)
    for key in ("catalog", "key_file", "export_dir"):
        if key in top:
            top[key] = str(base / Path(top[key]).expanduser())
    if "outbox" in mail_values:
        mail_values["outbox"] = base / Path(mail_values["outbox"]).expanduser()
    return FileSettings(path=path, mail=MailSettings(**mail_values), **top)


class _Checker:
    """Type and key checks with the file and line of the offending key."""

    def __init__(self, path: Path, text: str, prefix: str) -> None:
        self.path, self.lines, self.prefix = path, text.splitlines(), prefix

    def line_of(self, key: str, section: str = "") -> int | None:
        wanted = ".".join(part for part in (self.prefix.rstrip("."), section) if part)
        pattern = re.compile(rf'^\s*"?{re.escape(key)}"?\s*=')
        current = ""
        for number, line in enumerate(self.lines, start=1):
            stripped = line.strip()
            if stripped.startswith("["):
                current = stripped.strip("[] ")
            elif current == wanted and pattern.match(line):
                return number
        return None

    def error(self, key: str, message: str, section: str = "") -> ConfigError:
        line = self.line_of(key, section)
        name = f"[{section}] {key}" if section else key
        where = f"{self.path}:{line}" if line else str(self.path)
        return ConfigError(f"{name}: {message}", where=where)

    def table(
        self, data: dict[str, Any], schema: Mapping[str, type], section: str
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key == "password" or key == "secret":
                raise self.error(
                    key,
                    "secrets are not kept in the configuration file; name an environment "
                    "variable instead (password_env; DSR_SECRET or key_file for the key)",
                    section,
                )
            if key not in schema:
                known = ", ".join(sorted(schema))
                raise self.error(key, f"unknown setting; known: {known}", section)
            wanted = schema[key]
            if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
                raise self.error(key, f"must be {_TYPE_WORDS[wanted]}", section)
            out[key] = value
        return out

    def no_literal_password(self, url: str) -> None:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            password = make_url(url).password
        except ArgumentError:
            raise self.error("database_url", "not a database URL") from None
        if password is not None and not _REFERENCE.fullmatch(str(password)):
            raise self.error(
                "database_url",
                "holds a password; write it as a reference to an environment variable, "
                "e.g. postgresql://dsr:${DSR_DB_PASSWORD}@db.internal/crm",
            )


def _anchor_sqlite(url: str, base: Path) -> str:
    """A relative SQLite path in the file is relative to the file's folder."""
    match = re.match(r"^(sqlite(?:\+\w+)?:///)(?!/)(.+)$", url)
    if not match or match.group(2).startswith(":memory:"):
        return url
    return f"{match.group(1)}{base / match.group(2)}"


def expand_references(url: str, env: Mapping[str, str] | None = None) -> str:
    """Replace ``${VAR}`` in a URL by the variable's value (percent-encoded for a URL)."""
    from urllib.parse import quote

    env = os.environ if env is None else env

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(
                f"the database URL refers to the environment variable {name}, which is not set",
                where="database_url",
            )
        return quote(env[name], safe="")

    return _REFERENCE.sub(value, url)
