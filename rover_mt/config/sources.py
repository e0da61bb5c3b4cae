"""Merging the four sources of settings: default < app < environment < flags.

Every value is checked where it enters, so an error names the source it came
from (``ROVER_MT_PORT``, ``flag --port``, ``rover.server{} in app.lua``).
"""

import difflib
from typing import Any, Iterable, Mapping

from .checks import combination_problems
from .setting import ENV_PREFIX, ConfigError, Setting
from .values import coerce

DEFAULT_SOURCE = "default"
ARGUMENT_SOURCE = "Python argument"


def app_label(app_source: str | None) -> str:
    """How errors name a value from ``rover.server{...}``."""
    return f"rover.server{{}} in {app_source}" if app_source else "rover.server{}"


def check_app_options(settings: Iterable[Setting], options: Mapping[Any, Any], *, source: str) -> None:
    """Raise :class:`ConfigError` if ``options`` has a name that is not a setting.

    The message lists every unknown name, suggests the closest known one, and
    lists all known names, so a typo is fixed without opening the docs.
    """
    known = sorted(s.name for s in settings)
    unknown = [key for key in options if key not in known]
    if not unknown:
        return
    shown = ", ".join(repr(key) for key in unknown)
    hint = ""
    if isinstance(unknown[0], str):
        close = difflib.get_close_matches(unknown[0], known, n=1)
        if close:
            hint = f" (did you mean '{close[0]}'?)"
    plural = "s" if len(unknown) > 1 else ""
    raise ConfigError(
        f"{source}: unknown option{plural} {shown} in rover.server{{}}{hint}; known options: {', '.join(known)}",
        setting=str(unknown[0]),
        source=source,
    )


def unknown_env_vars(settings: Iterable[Setting], env: Mapping[str, str]) -> list[str]:
    """``ROVER_MT_*`` variables in ``env`` that match no setting (likely typos)."""
    known = {s.env for s in settings}
    return sorted(key for key in env if key.startswith(ENV_PREFIX) and key not in known)


def resolve_values(
    settings: tuple[Setting, ...],
    *,
    app: Mapping[str, Any] | None,
    env: Mapping[str, str] | None,
    flags: Mapping[str, Any] | None,
    app_source: str | None,
) -> dict[str, Any]:
    """The final value of every setting, by name, checked one by one and together."""
    by_name = {s.name: s for s in settings}
    values = {s.name: s.default for s in settings}
    origins = {s.name: DEFAULT_SOURCE for s in settings}

    if app:
        label = app_label(app_source)
        check_app_options(settings, app, source=app_source or "the app")
        for name, raw in app.items():
            values[name] = coerce(by_name[name], raw, label)
            origins[name] = label
    if env:
        for s in settings:
            if s.env in env:
                values[s.name] = coerce(s, env[s.env], s.env)
                origins[s.name] = s.env
    if flags:
        for name, raw in flags.items():
            if name not in by_name:
                raise ConfigError(f"unknown setting {name!r} given as a flag", setting=name, source="flags")
            if raw is None:  # argparse's "not given"
                continue
            label = "flag " + by_name[name].flag
            values[name] = coerce(by_name[name], raw, label)
            origins[name] = label

    check_combinations(values, origins)
    return values


def check_combinations(values: Mapping[str, Any], origins: Mapping[str, str]) -> None:
    """Raise :class:`ConfigError` for the first rule broken across settings."""
    for names, problem in combination_problems(values):
        which = " and ".join(f"'{name}' (from {origins[name]})" for name in names)
        raise ConfigError(f"settings {which}: {problem}", setting=names[0], source=origins[names[0]])
