"""Sweeps: ``wandb.sweep`` (``UpsertSweep``), ``wandb.agent`` (``CreateAgent``, ``Heartbeat``).

The SDK's documents are hand-written in ``wandb/apis/public/sweeps.py``
(``_upsert_sweep``, ``_sweep_with_runs``, ``_register_agent``,
``_agent_heartbeat``, ``_set_sweep_state``); the agent's loop is
``wandb/agents/pyagent.py`` (with ``function=``) or ``wandb/wandb_agent.py``.
On W&B the controller runs server-side: each heartbeat answers a JSON list of
commands, ``{"type": "run", "run_id", "args": {param: {"value": v}}}`` (read
by ``pyagent.Job`` and ``wandb_agent.Agent._command_run``) or
``{"type": "exit"}``. The run the agent then starts carries the sweep's name
in ``upsertBucket(input: {sweep})``, which attaches it to the sweep.

This controller is minimal: ``grid`` (every combination once, then exit) and
``random`` (``values`` picked at random, ``min``/``max`` uniform), no early
stopping. (choice) Bayesian sweeps are served as random.
"""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import yaml

from .state import GraphQLError, State, Sweep, new_run_name

__all__ = ["next_commands", "parameter_space"]

Json = dict[str, Any]


def parameter_space(config: Json) -> dict[str, list[Any] | tuple[float, float]]:
    """Each parameter's ``values`` (a ``value`` is one value), or ``(min, max)``."""
    space: dict[str, list[Any] | tuple[float, float]] = {}
    for name, spec in (config.get("parameters") or {}).items():
        if not isinstance(spec, dict):
            continue
        if "values" in spec:
            space[name] = list(spec["values"])
        elif "value" in spec:
            space[name] = [spec["value"]]
        elif "min" in spec and "max" in spec:
            space[name] = (spec["min"], spec["max"])
    return space


def _grid(config: Json) -> list[Json]:
    space = parameter_space(config)
    if any(isinstance(v, tuple) for v in space.values()):
        raise GraphQLError("grid search needs values for every parameter")
    names = sorted(space)
    lists = [space[n] for n in names]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*lists)]


def _random(config: Json, rng: random.Random) -> Json:
    params: Json = {}
    for name, choices in parameter_space(config).items():
        if isinstance(choices, tuple):
            lo, hi = choices
            if isinstance(lo, int) and isinstance(hi, int):
                params[name] = rng.randint(lo, hi)
            else:
                params[name] = rng.uniform(lo, hi)
        else:
            params[name] = rng.choice(choices)
    return params


def next_commands(state: State, sweep: Sweep, run_state: Json, rng: random.Random) -> list[Json]:
    """The commands one heartbeat answers: a new trial if the agent runs none, else nothing."""
    if sweep.state in ("PAUSED",) or any(run_state.values()):
        return []
    if sweep.state in ("CANCELED", "FINISHED"):
        return [{"type": "exit"}]
    config = yaml.safe_load(sweep.config) or {}
    if config.get("method") == "grid":
        pending = [p for p in _grid(config) if p not in sweep.issued]
        if not pending:
            sweep.state = "FINISHED"
            return [{"type": "exit"}]
        params = pending[0]
    else:
        params = _random(config, rng)
    sweep.issued.append(params)
    sweep.state = "RUNNING"
    run_id = new_run_name()
    command: Json = {
        "type": "run",
        "run_id": run_id,
        "args": {k: {"value": v} for k, v in params.items()},
        "program": config.get("program"),
    }
    return [command]


def dumps(commands: list[Json]) -> str:
    """``agentHeartbeat.commands`` is a JSONString (``json.loads`` in ``_agent_heartbeat``)."""
    return json.dumps(commands)
