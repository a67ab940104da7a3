"""Where each setting comes from: a TOML config file, then the environment, then flags.

:func:`load_settings` builds the one :class:`~lienthong.settings.Settings` of a command in that
order of precedence and remembers the source of every field, which ``lienthong config show``
prints. The config file is named by ``--config`` or ``LIENTHONG_CONFIG``; it holds the fields by
their names (``database_url = "postgresql://…"``, ``keys_dir = "keys"``), optionally under a
``[lienthong]`` table. Relative paths in the file are taken from the file's own folder, so a
command run from any folder finds what the file names. An unknown name, a value of the wrong
type or a file that cannot be read is a :class:`ConfigError` of one line that names the setting
and its source, never the value (it may be a secret).
"""

from __future__ import annotations

import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError

from lienthong.settings import Settings

#: the environment variable naming the config file (``--config`` wins over it)
CONFIG_VARIABLE = "LIENTHONG_CONFIG"
ENV_PREFIX = "LIENTHONG_"
MASK = "***"

DEFAULT = "default"
ENVIRONMENT = "env"
FILE = "file"
FLAG = "flag"


class ConfigError(Exception):
    """The settings cannot be read: a bad config file, or a bad value from any source."""


@dataclass(frozen=True, slots=True)
class LoadedSettings:
    """The effective settings, the config file they were read from, each field's source."""

    settings: Settings
    config_file: Path | None
    #: field name -> ``default``, ``file``, ``env`` or ``flag``
    sources: Mapping[str, str]
    #: field name -> the flag that set it, when its name is not ``--<field>``
    flag_names: Mapping[str, str] = field(default_factory=dict)

    def source_of(self, name: str) -> str:
        """Where ``name`` came from, spelled for people (``env LIENTHONG_PORT``, ``file …``)."""
        kind = self.sources.get(name, DEFAULT)
        if kind == ENVIRONMENT:
            return f"env {ENV_PREFIX}{name.upper()}"
        if kind == FILE:
            return f"file {self.config_file}"
        if kind == FLAG:
            return f"flag {self.flag_names.get(name) or '--' + name.replace('_', '-')}"
        return DEFAULT


def config_path(explicit: Path | str | None) -> Path | None:
    """The config file named by ``--config``, else by ``LIENTHONG_CONFIG``, else none."""
    if explicit:
        return Path(explicit)
    named = os.environ.get(CONFIG_VARIABLE)
    return Path(named) if named else None


def load_settings(
    config: Path | str | None = None,
    flags: Mapping[str, object] | None = None,
    *,
    flag_names: Mapping[str, str] | None = None,
) -> LoadedSettings:
    """The settings from the config file, then ``LIENTHONG_*``, then ``flags`` (None: not given)."""
    path = config_path(config)
    if path is not None:
        path = path.absolute()
    from_file = read_config_file(path) if path is not None else {}
    from_env = {name for name in Settings.model_fields if _env_name(name) in _environment()}
    given = {name: value for name, value in (flags or {}).items() if value is not None}
    unknown = sorted(set(given) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r}")
    values = {name: value for name, value in from_file.items() if name not in from_env}
    values.update(given)
    sources = {name: FILE for name in values}
    sources.update({name: ENVIRONMENT for name in from_env if name not in given})
    sources.update({name: FLAG for name in given})
    try:
        settings = Settings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_first_problem(exc, sources, path)) from None
    return LoadedSettings(settings, path, sources, dict(flag_names or {}))


def read_config_file(path: Path) -> dict[str, object]:
    """The settings a TOML file sets, relative paths made absolute from the file's folder."""
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    table = document.get("lienthong", document)
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: [lienthong] must be a table")
    values: dict[str, object] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in Settings.model_fields:
            raise ConfigError(f"config file {path}: unknown setting {key!r}")
        if isinstance(value, str) and _is_path_field(name) and value:
            value = str((path.parent / Path(value).expanduser()).resolve())
        values[name] = value
    return values


def mask(name: str, value: object) -> str:
    """``value`` as ``config show`` prints it: secrets as ``***``, URLs without their password."""
    if value is None:
        return "-"
    lowered = name.lower()
    if any(word in lowered for word in ("secret", "password", "token")):
        return MASK if value else ""
    text = str(value)
    if "://" in text:
        return mask_url(text)
    return text


def mask_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


def _environment() -> set[str]:
    return {name.upper() for name in os.environ if name.upper().startswith(ENV_PREFIX)}


def _env_name(name: str) -> str:
    return f"{ENV_PREFIX}{name.upper()}"


def _is_path_field(name: str) -> bool:
    annotation = Settings.model_fields[name].annotation
    if annotation is Path:
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return Path in typing.get_args(annotation)
    return False


def _first_problem(exc: ValidationError, sources: Mapping[str, str], path: Path | None) -> str:
    error = exc.errors(include_input=False)[0]
    name = str(error["loc"][0]) if error["loc"] else "?"
    kind = sources.get(name, ENVIRONMENT)
    where = {
        FILE: f"config file {path}",
        FLAG: f"flag --{name.replace('_', '-')}",
        ENVIRONMENT: _env_name(name),
    }.get(kind, kind)
    more = len(exc.errors()) - 1
    tail = f" (and {more} more)" if more else ""
    return f"setting {name!r} from {where}: {error['msg']}{tail}"


__all__ = [
    "CONFIG_VARIABLE",
    "ConfigError",
    "LoadedSettings",
    "config_path",
    "load_settings",
    "mask",
    "mask_url",
    "read_config_file",
]
