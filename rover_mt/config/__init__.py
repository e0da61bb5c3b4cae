"""Server settings, defined once and read from defaults, the app, env vars and flags.

The fields of :class:`Config` are the single definition of every setting (type,
default, range, help). :data:`SETTINGS` is derived from them, and so are the
``ROVER_MT_*`` environment variables, the ``--flags``, the validation and the
generated ``docs/configuration.md``::

    parser = argparse.ArgumentParser(); add_arguments(parser)
    ns = parser.parse_args()
    config = Config.resolve(app=app_options, env=os.environ, flags=flags_from_namespace(ns),
                            app_source="app.lua")
"""

from typing import Any, Mapping

from .checks import parse_ip_list
from .docs import configuration_page, settings_markdown
from .flags import add_arguments, flags_from_namespace
from .model import SETTINGS, Config
from .setting import ConfigError, Setting
from .sources import check_app_options as _check_app_options
from .sources import unknown_env_vars as _unknown_env_vars

#: Option names accepted in ``rover.server { ... }``: every setting's name.
APP_OPTION_NAMES: frozenset[str] = frozenset(s.name for s in SETTINGS)


def check_app_options(options: Mapping[Any, Any], *, source: str) -> None:
    """Raise :class:`ConfigError` naming ``source`` if ``options`` has an unknown name.

    The message suggests the closest known name and lists all of them.
    """
    _check_app_options(SETTINGS, options, source=source)


def unknown_env_vars(env: Mapping[str, str]) -> list[str]:
    """``ROVER_MT_*`` names in ``env`` that match no setting, to warn about typos."""
    return _unknown_env_vars(SETTINGS, env)


__all__ = [
    "APP_OPTION_NAMES",
    "SETTINGS",
    "Config",
    "ConfigError",
    "Setting",
    "add_arguments",
    "check_app_options",
    "configuration_page",
    "flags_from_namespace",
    "parse_ip_list",
    "settings_markdown",
    "unknown_env_vars",
]
