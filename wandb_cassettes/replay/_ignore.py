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
Lightning's ``WandbLogger``). A preset applies to a cassette only when a run
of its recording carries the integration's signature (run config keys and
metrics it declares, :meth:`Preset.applies`), so it never hides a user's own
field of the same name in a test that does not use the integration.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError

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


def parse_ignore(paths: Iterable[str], *, source: str = "ignore") -> tuple[IgnorePath, ...]:
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
    """Volatile fields an integration adds, and how to tell that it wrote a run.

    A preset applies to a cassette when one run config of its recording carries
    the whole signature (:meth:`applies`): every key of ``config_keys`` at the
    config's first level, and every metric of ``metrics`` declared with
    ``run.define_metric``. The recording lists the presets that apply in its
    metadata (``presets``); replay ignores their ``paths`` in every request of
    that cassette, and in no other cassette.
    """

    name: str
    paths: tuple[IgnorePath, ...]
    #: First-level run config keys that the integration writes.
    config_keys: tuple[str, ...] = ()
    #: Metric names that the integration declares with ``run.define_metric``.
    metrics: tuple[str, ...] = ()

    @property
    def signature(self) -> tuple[str, ...]:
        """The signature, readable: ``("output_dir", "metric:train/global_step")``."""
        return (*self.config_keys, *(f"metric:{m}" for m in self.metrics))

    def applies(self, config: Any) -> bool:
        """Whether the run ``config`` (the parsed ``upsertBucket`` config) carries the signature."""
        if not self.signature or not isinstance(config, dict):
            return False
        return all(k in config for k in self.config_keys) and set(self.metrics) <= (
            defined_metrics(config)
        )


def defined_metrics(config: Any) -> set[str]:
    """The metric names a run declared with ``run.define_metric``, from its run config.

    wandb-core sends the declarations in the config's ``_wandb`` entry as a list
    ``m`` of protobuf ``MetricRecord`` messages in JSON keyed by field number:
    ``{"1": "train/global_step", "6": [3]}`` declares ``train/global_step``
    (field 1, ``name``); a glob declaration (``define_metric("*", ...)``) has
    field 2 instead and names nothing here. Measured with wandb 0.31, which
    every cassette of this library is recorded with.
    """
    if not isinstance(config, dict):
        return set()
    wandb_entry = config.get("_wandb")
    if isinstance(wandb_entry, dict) and isinstance(wandb_entry.get("value"), dict):
        wandb_entry = wandb_entry["value"]
    records = wandb_entry.get("m") if isinstance(wandb_entry, dict) else None
    if not isinstance(records, list):
        return set()
    return {r["1"] for r in records if isinstance(r, dict) and isinstance(r.get("1"), str)}


PRESETS: tuple[Preset, ...] = (
    # Hugging Face transformers, Trainer(report_to="wandb"): WandbCallback in
    # transformers/integrations/integration_utils.py. Measured with transformers 5.24 and
    # 4.53 (record twice and diff; record, then replay later).
    Preset(
        "transformers",
        parse_ignore(
            [
                # WandbCallback.setup() logs TrainingArguments.to_dict() as the run config.
                # transformers 4.x: TrainingArguments.__post_init__ sets logging_dir to
                # output_dir/default_logdir(), i.e. runs/<Mon DD_HH-MM-SS>_<hostname>
                # (training_args.default_logdir; gone in 5.x). output_dir, and run_name
                # (4.x: output_dir by default, and then the run's name too) are the
                # caller's folder: pytest's tmp_path and tempfile folders are normalised by
                # matching (tmp_paths), any other folder is stable or the test's own doing.
                "config.logging_dir",
                # WandbCallback.on_train_end() (WANDB_LOG_MODEL=end) and on_save()
                # (=checkpoint) put the run summary's numbers into the model artifact's
                # metadata; on_log() wrote Trainer's speed_metrics() there
                # (trainer_utils.speed_metrics: wall-clock runtime, samples/steps/tokens
                # per second; as train_runtime, train_samples_per_second, ... or, after
                # rewrite_logs(), eval/runtime, eval/samples_per_second, ...) and
                # Trainer.evaluate()'s eval_model_preparation_time (wall clock too).
                "metadata.*runtime",
                "metadata.*_per_second",
                "metadata.*model_preparation_time",
            ],
            source="preset transformers",
        ),
        # WandbCallback.setup(): args.to_dict() into the config (TrainingArguments fields
        # in every 4.x and 5.x) and define_metric("train/global_step"). Trainers built on
        # Trainer (TRL's) use the same callback. The model's config keys
        # (transformers_version) are missing when the model is a plain torch module.
        config_keys=("output_dir", "per_device_train_batch_size"),
        metrics=("train/global_step",),
    ),
    # PyTorch Lightning, WandbLogger(log_model=True | "all"): lightning/pytorch/loggers/wandb.py.
    # Measured with lightning 2.6.6 and 2.4.0.
    Preset(
        "lightning",
        parse_ignore(
            [
                # WandbLogger._scan_and_log_checkpoints() puts the checkpoint's file name in
                # the artifact's metadata. ModelCheckpoint names a checkpoint
                # "<name>-v1.ckpt", "-v2", ... when the file is already there
                # (ModelCheckpoint._get_metric_interpolated_filepath_name(),
                # _save_last_checkpoint(): the version counter), and its folder is, by
                # default, <save_dir>/<project>/<run id>/checkpoints with save_dir "."
                # (ModelCheckpoint.__resolve_ckpt_dir()). A cassette replays the recorded
                # run id, so a replay finds the files of the recording (or of the previous
                # replay) there and sends "epoch=0-step=2-v1.ckpt" for "epoch=0-step=2.ckpt".
                "metadata.original_filename",
            ],
            source="preset lightning",
        ),
        # WandbLogger.experiment: define_metric("trainer/global_step") right after
        # wandb.init (not with sync_tensorboard=True, nor when it reuses a run that was
        # already there: then the preset is not detected; declare the ignore by hand).
        # Lightning writes nothing of its own into the run config.
        metrics=("trainer/global_step",),
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
    """The presets whose signature one of the run ``configs`` (parsed) carries, in order."""
    return [p.name for p in PRESETS if any(p.applies(c) for c in configs)]


#: Variables that say where a request goes, in W&B's terms (the SDK's GraphQL documents:
#: ``UpsertBucket``'s ``entity``/``project``/``name``, the artifact queries'
#: ``entityName``/``projectName``/``artifactTypeName``/``artifactCollectionName``...).
#: Never ignorable: another entity, project or run is another request.
_WHERE: dict[str, str] = {
    "entity": "entity",
    "entityName": "entity",
    "project": "project",
    "projectName": "project",
    "modelName": "project",
    "run": "run",
    "runName": "run",
    "artifactTypeName": "artifact type",
    "artifactCollectionName": "collection",
    "artifactCollectionNames": "collection",
    "artifactName": "artifact",
    "aliases": "aliases",
}
#: Operations whose ``name`` variable is the run's id (``UpsertBucket``: wandb-core's
#: gql_gen.go ``UpsertBucket(..., name: $name, ...)``).
_RUN_NAMED = frozenset({"UpsertBucket"})


def _name_term(operation: str) -> str | None:
    """What a ``name`` variable names, by its operation: the run (``UpsertBucket``), a file
    of an artifact (``CreateArtifactFiles``...), an artifact (``ArtifactType``,
    ``ArtifactMembershipByName``...: ``name`` is ``collection:alias``)."""
    if operation in _RUN_NAMED:
        return "run"
    if "Artifact" in operation:
        return "file" if "File" in operation else "artifact"
    return None


def wandb_term(path: Sequence[str | int], operation: str = "") -> tuple[str, bool]:
    """A variables path in W&B's terms, and whether an ignore path can name it.

    ``("config", "lr", "value")`` is ``("config.lr", True)``;
    ``("input", "metadata", "epoch")`` is ``("metadata.epoch", True)``;
    ``("entity",)`` is ``("entity", False)``; ``("name",)`` of ``UpsertBucket``
    (``operation``) is ``("run", False)``, of ``ArtifactType`` ``("artifact", False)``.
    A variable W&B has no term for is named as the SDK sends it, with its operation:
    ``("UpsertBucket variable sweep", False)``.
    """
    parts = [str(p) for p in path]
    inner = parts[1:] if parts and parts[0] == "input" else parts
    if len(inner) == 1 and inner[0] == "name" and _name_term(operation):
        return str(_name_term(operation)), False
    if len(inner) == 1 and inner[0] in _WHERE and inner[0] not in _VARIABLES:
        return _WHERE[inner[0]], False
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
    return f"{operation or 'GraphQL'} variable {'.'.join(parts)}", False
