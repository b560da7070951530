"""Values the wandb SDK derives from the machine or the invocation, the same in replay.

``wandb.init()`` without a project takes one from the name of the git folder and the
folder of the program that runs (``wandb.util.auto_project_name``, called by
``wandb/sdk/wandb_init.py`` when ``settings.project`` is None; the program is
``__main__.__file__``, or ``-m <module>``: ``wandb/sdk/wandb_settings.py``
``_get_program``): in a clone named ``noproj``, ``.venv/bin/pytest`` gives
``noproj-.venv_bin``, ``python -m pytest`` ``noproj``, CI's checkout folder another. That
project is in the run's path, in every request about the run. The SDK's other values of
that kind are fixed for the session (``WANDB_HOST``, :mod:`._env`) or not compared by
replay (``program``, ``host``, ``commit``, ``repo``, ``_wandb``: the matcher's volatile
keys).

So a recording stores what the SDK derived in the cassette's metadata
(:data:`DERIVED_KEY`, as :data:`._env.RECORDED_SETTINGS` are stored) and replay hands
the SDK the stored value, whatever the machine or the command. A cassette recorded
before this existed holds none: the SDK derives the value as it always did. Child
processes of a test (a script it runs) derive their own (their program is another):
theirs go through the same wrapper (:mod:`._children`), stored by program.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

from .. import compat

#: Metadata: what the SDK derived while recording (``{"project": "noproj-.venv_bin"}``).
DERIVED_KEY = "sdk_derived"

_MARK = "_wandb_cassettes_derived"


class _Current:
    """The cassette in use: the values it holds, whether it replays them, and who is told
    of a value derived while recording (a child process writes it for its parent)."""

    values: dict[str, str] | None = None
    replay: bool = False
    on_derive: Callable[[dict[str, str]], None] | None = None


_current = _Current()


def install() -> None:
    """Wrap ``wandb.util.auto_project_name`` (once per process; wandb imported first).

    The SDK looks it up on the module at each ``wandb.init`` (``wandb.util.
    auto_project_name(settings.program)``), so the wrapper is what it calls. Outside a
    cassette, the SDK's own function answers.
    """
    util = importlib.import_module(compat.UTIL_MODULE)
    original = getattr(util, "auto_project_name", None)
    if original is None or getattr(original, _MARK, False):
        return
    setattr(util, "auto_project_name", _wrap(original))  # noqa: B010


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def auto_project_name(program: str | None) -> str:
        values = _current.values
        if values is None:
            return str(original(program))
        if _current.replay and values.get("project"):
            return values["project"]
        derived = str(original(program))
        values["project"] = derived
        if _current.on_derive is not None:
            _current.on_derive(values)
        return derived

    setattr(auto_project_name, _MARK, True)
    return auto_project_name


def begin(
    values: dict[str, str],
    *,
    replay: bool,
    on_derive: Callable[[dict[str, str]], None] | None = None,
) -> None:
    """From now on the SDK derives into ``values`` (recording) or from them (replay);
    ``on_derive`` is told of each value derived while recording."""
    _current.values = values
    _current.replay = replay
    _current.on_derive = on_derive


def end(values: dict[str, str]) -> None:
    """The cassette whose ``values`` they are is done (another may have begun since)."""
    if _current.values is values:
        _current.values = None
        _current.replay = False
        _current.on_derive = None
