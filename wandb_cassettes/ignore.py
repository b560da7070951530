"""What a replay does not compare, in W&B's terms: ``config.output_dir``, ``name``, ``metadata.*``.

Users declare values that change from run to run (a timestamped run name, a
uuid group, a wall-clock value in artifact metadata) as *ignore paths*::

    @pytest.mark.wandb_cassette(ignore=["name", "group", "config.run_date"])

A path is one of the forms in :data:`FORMS`; ``*`` matches any one segment
(``config.*``, ``metadata.train_*``). A path maps onto the GraphQL variables
the SDK sends (``name`` is ``upsertBucket``'s ``displayName``, a config key
sits under ``config`` as ``{"key": {"value": ...}}``, an artifact's metadata
is ``createArtifact``'s ``metadata``), and back again, so that a mismatch can
be reported as ``config.lr: recorded 0.1, sent 0.2``.

:data:`PRESETS` hold the known volatile fields that popular integrations add
by themselves (Hugging Face ``transformers``' ``WandbCallback``, PyTorch
Lightning's ``WandbLogger``); a preset applies to a request only when its
signature keys are in it, so it never hides a user's own field of that name.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ConfigurationError

__all__ = [
    "FORMS",
    "PRESETS",
    "IgnorePath",
    "Preset",
    "apply",
    "parse",
    "preset",
    "presets_in",
    "wandb_term",
]

#: W&B term → (variable holding it, whether it takes a sub-path).
_HEADS: dict[str, tuple[str, bool]] = {
    "name": ("displayName", False),
    "group": ("groupName", False),
    "job_type": ("jobType", False),
    "tags": ("tags", False),
    "notes": ("notes", False),
    "config": ("config", True),
    "summary": ("summaryMetrics", True),
    "metadata": ("metadata", True),
    "description": ("description", False),
    "aliases": ("aliases", False),
}
_VARIABLES = {variable: head for head, (variable, _) in _HEADS.items()}

FORMS = (
    "name",
    "group",
    "job_type",
    "tags",
    "notes",
    "config.<key>[.<key>...]",
    "summary.<key>[.<key>...]",
    "metadata.<key>[.<key>...]  (artifacts)",
    "description  (artifacts)",
    "aliases  (artifacts)",
)
"""The valid ignore forms, as error messages list them (``*`` matches one segment)."""


@dataclass(frozen=True)
class IgnorePath:
    """One parsed ignore path: ``config.train_*`` is ``("config", ("train_*",))``."""

    text: str
    head: str
    rest: tuple[str, ...] = ()

    @property
    def variable(self) -> str:
        return _HEADS[self.head][0]


def parse(paths: Iterable[str], *, source: str = "ignore") -> tuple[IgnorePath, ...]:
    """Validate and parse ignore paths.

    Raises:
        ConfigurationError: A path is not one of :data:`FORMS`; the message names
            it, where it came from (``source``), and lists the valid forms.
    """
    if isinstance(paths, str):
        paths = [paths]
    parsed = []
    for text in paths:
        if not isinstance(text, str):
            raise _invalid(repr(text), source)
        head, *rest = text.split(".")
        known = _HEADS.get(head)
        if known is None or (rest and not known[1]) or (known[1] and not rest) or "" in rest:
            raise _invalid(repr(text), source)
        parsed.append(IgnorePath(text, head, tuple(rest)))
    return tuple(parsed)


def _invalid(what: str, source: str) -> ConfigurationError:
    forms = "\n  ".join(FORMS)
    return ConfigurationError(
        f"{source}: {what} is not an ignore path; use one of (`*` matches one segment):\n  {forms}"
    )


@dataclass(frozen=True)
class Preset:
    """Volatile fields an integration adds; applied when ``signature`` keys are in the config."""

    name: str
    paths: tuple[IgnorePath, ...]
    #: Config keys (first level) that tell the integration wrote this request.
    signature: tuple[str, ...]

    def applies(self, config: Any) -> bool:
        return (
            bool(self.signature)
            and isinstance(config, dict)
            and all(k in config for k in self.signature)
        )


PRESETS: tuple[Preset, ...] = (
    # transformers.integrations.WandbCallback.setup() logs TrainingArguments.to_dict() as
    # the run config (output_dir, logging_dir with a timestamp, ...), and on_train_end with
    # WANDB_LOG_MODEL logs the model with the numeric summary as metadata, runtime and
    # throughput included (transformers/integrations/integration_utils.py).
    Preset(
        "transformers",
        parse(
            [
                "config.logging_dir",
                "config.output_dir",
                "config.run_name",
                "metadata.train_runtime",
                "metadata.*_per_second",
                "metadata.total_flos",
            ],
            source="preset transformers",
        ),
        signature=("transformers_version", "output_dir"),
    ),
    # lightning.pytorch.loggers.WandbLogger: checkpoints logged with log_model carry
    # their ModelCheckpoint's state and file name; the score is a float of the run
    # (lightning/pytorch/loggers/wandb.py, _scan_and_log_checkpoints).
    Preset(
        "lightning",
        parse(["metadata.original_filename"], source="preset lightning"),
        signature=(),
    ),
)


def apply(variables: Any, paths: Sequence[IgnorePath]) -> None:
    """Remove what ``paths`` name from canonical GraphQL ``variables`` (in place).

    ``variables`` is already canonical (JSON strings parsed); the paths apply
    at the top level and inside ``input``, where wandb-core and the public API
    put them.
    """
    if not paths or not isinstance(variables, dict):
        return
    for holder in (variables, variables.get("input")):
        if not isinstance(holder, dict):
            continue
        for path in paths:
            variable = path.variable
            if variable not in holder:
                continue
            if not path.rest:
                del holder[variable]
            elif path.head == "config":
                _drop_config(holder[variable], path.rest)
            else:
                _drop(holder[variable], path.rest)


def _drop(node: Any, rest: tuple[str, ...]) -> None:
    if not isinstance(node, dict) or not rest:
        return
    segment, tail = rest[0], rest[1:]
    for key in [k for k in node if fnmatch.fnmatchcase(str(k), segment)]:
        if tail:
            _drop(node[key], tail)
        else:
            del node[key]


def _drop_config(config: Any, rest: tuple[str, ...]) -> None:
    """A run config is ``{"key": {"value": v, "desc": ...}}``: below the key, the value."""
    if not isinstance(config, dict):
        return
    segment, tail = rest[0], rest[1:]
    for key in [k for k in config if fnmatch.fnmatchcase(str(k), segment)]:
        if not tail:
            del config[key]
        elif isinstance(config[key], dict) and "value" in config[key]:
            _drop(config[key]["value"], tail)


def preset(name: str) -> Preset:
    """The preset called ``name``; :class:`ConfigurationError` listing them otherwise."""
    for p in PRESETS:
        if p.name == name:
            return p
    known = ", ".join(p.name for p in PRESETS)
    raise ConfigurationError(f"unknown ignore preset {name!r}; known presets: {known}")


def presets_in(configs: Iterable[Any]) -> list[str]:
    """The presets whose signature one of the run ``configs`` (parsed) carries."""
    return [p.name for p in PRESETS if any(p.applies(c) for c in configs)]


def wandb_term(path: Sequence[str | int]) -> tuple[str, bool]:
    """A variables path in W&B's terms, and whether an ignore path can name it.

    ``("config", "lr", "value")`` is ``("config.lr", True)``;
    ``("input", "metadata", "epoch")`` is ``("metadata.epoch", True)``;
    ``("input", "artifactCollectionName")`` is
    ``("variables.input.artifactCollectionName", False)``.
    """
    parts = [str(p) for p in path]
    inner = parts[1:] if parts and parts[0] == "input" else parts
    if inner and inner[0] in _VARIABLES:
        head = _VARIABLES[inner[0]]
        rest = inner[1:]
        if head == "config" and len(rest) >= 2 and rest[1] == "value":
            rest = [rest[0], *rest[2:]]
        elif head == "config" and len(rest) >= 2 and rest[1] == "desc":
            rest = rest[:1]
        if _HEADS[head][1]:
            return (".".join([head, *rest]) if rest else head), bool(rest)
        return head, True
    return "variables." + ".".join(parts), False
