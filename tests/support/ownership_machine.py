"""The cleanup's promise as a stateful property (hypothesis rule-based state machine).

Run as a script in its own process (the SDK reads its environment once per
process): ``python tests/support/ownership_machine.py [--examples N] [--steps N]``.
It starts a stand-in W&B, then hypothesis drives random sequences of:

* a teammate's resources appearing (versions of a collection, a run), made
  outside any recording;
* recording sessions (``use_cassette(record_mode="all")``) in which the REAL
  SDK creates runs, logs versions to new or to the teammate's collections,
  lists a collection (its answers name the teammate's versions), deletes one
  of the teammate's versions on purpose, keeps some of what it made, has an
  answer lost on the way, or is interrupted by an exception;
* and changes of the teammate's resources (issue 18): an alias moved to the
  test's own version (``aliases.append`` + ``save()``) or between the
  teammate's versions, an alias removed or added, a version's metadata or
  description edited, a run's config changed through the public API or by
  resuming the run;

and checks after each session that everything that existed before and that
the test did not delete itself still exists, everything the session created
and did not keep is gone, and everything it kept is there; and that **every
resource that existed before is as it was, or the session's audit fails**;
a session whose changes are all restorable ones must leave everything as it
was. Exit 0: the promise held; 1: hypothesis found (and printed) a sequence
that breaks it.

``WANDB_CASSETTES_BREAK_OWNERSHIP=1`` breaks ownership on purpose (the
ledger claims every version an answer names, as a name-based cleanup would),
``WANDB_CASSETTES_BREAK_RESTORE=1`` switches the restore off (the cleanup
sends no restore), to show that the machine catches either.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from wandb_cassettes_standin import StandinBackend

PROJECT = "machine"
_names = itertools.count()


@dataclass
class World:
    """What must exist on the stand-in, by artifact id and run name."""

    versions: set[str] = field(default_factory=set)  # ids that must exist
    gone: set[str] = field(default_factory=set)  # ids that must not
    runs: set[str] = field(default_factory=set)
    collections: set[str] = field(default_factory=set)


#: Changes of the teammate's resources that the cleanup restores (issue 18).
RESTORABLE_OPS = [
    "promote",  # the teammate's alias moved to the test's own version
    "move_alias",  # ... from one of the teammate's versions to another
    "remove_alias",
    "add_alias",
    "edit_metadata",
    "edit_description",
    "edit_run_config",  # a teammate's run, through the public API
]
OPS = st.lists(
    st.sampled_from(
        [
            "run",
            "new_version",
            "add_to_shared",
            "list_shared",
            "delete_shared",
            "resume_run",  # its history cannot be taken back: the audit must fail
            *RESTORABLE_OPS,
        ]
    ),
    min_size=1,
    max_size=3,
)


class Ownership(RuleBasedStateMachine):
    """Sessions against a stand-in that holds resources the sessions did not create."""

    standin: StandinBackend
    workdir: Path

    def __init__(self) -> None:
        super().__init__()
        self.world = World()
        self.shared: dict[str, list[str]] = {}  # a teammate's collection -> its live version ids
        # Each example gets a project of its own on the one stand-in: examples do not see
        # each other's resources.
        self.project = f"{PROJECT}-{next(_names)}"
        self.session = 0

    def live(self) -> dict[str, list[dict[str, object]]]:
        live = self.standin.live()
        return {k: [x for x in v if x.get("project") == self.project] for k, v in live.items()}

    # -- a teammate's resources ----------------------------------------------------------

    @rule(n=st.integers(min_value=1, max_value=2))
    def teammate_logs_versions(self, n: int) -> None:
        name = f"shared-{next(_names)}"
        contents = [f"{name}-{i}" for i in range(n)]
        aliases = {contents[0]: ["prod"], contents[-1]: ["staging"]} if n > 1 else {}
        ids = self.standin.seed_versions(self.project, name, contents, aliases=aliases)
        self.shared[name] = ids
        self.world.versions.update(ids)
        self.world.collections.add(name)

    @rule()
    def teammate_logs_a_run(self) -> None:
        name = f"teammate{next(_names)}"
        self.standin.seed_run(self.project, name, config='{"lr": {"value": 0.1}}')
        self.world.runs.add(name)

    # -- a recording session ------------------------------------------------------------

    @rule(
        ops=OPS,
        keep=st.booleans(),
        lost=st.sampled_from([None, "UpsertBucket", "CreateArtifact"]),
        interrupted=st.booleans(),
    )
    def recording_session(
        self, ops: list[str], keep: bool, lost: str | None, interrupted: bool
    ) -> None:
        self._session(ops, keep, lost, interrupted)

    @precondition(lambda self: bool(self.shared or self.world.runs))
    @rule(
        ops=st.lists(st.sampled_from([*RESTORABLE_OPS, "resume_run"]), min_size=1, max_size=3),
        interrupted=st.booleans(),
    )
    def session_changing_theirs(self, ops: list[str], interrupted: bool) -> None:
        """A session whose steps all change the teammate's resources (issue 18)."""
        self._session(ops, False, None, interrupted)

    def _session(self, ops: list[str], keep: bool, lost: str | None, interrupted: bool) -> None:
        import wandb

        from wandb_cassettes import use_cassette

        self.session += 1
        shared = sorted(self.shared)
        path = self.workdir / f"{self.project}-session-{self.session}.yaml"
        kept_name = f"kept{self.session}"
        keep_patterns = [f"*/{self.project}/{kept_name}*"] if keep else []
        if lost:
            self.standin.inject_fault(lost, after=True, truncate=True)
        deleted_here: set[str] = set()
        made_kept = False
        before = self.standin.details(self.project)
        lasting = False  # a change no API undoes was made: the audit must fail
        try:
            with use_cassette(path, record_mode="all", keep=keep_patterns):
                run = wandb.init(project=self.project)
                for i, op in enumerate(ops):
                    if op in RESTORABLE_OPS or op == "resume_run":
                        lasting |= self._change_theirs(run, op, i, shared)
                    elif op == "new_version" or (op != "run" and not shared):
                        name = kept_name if keep and not made_kept else f"mine{self.session}-{i}"
                        made_kept = made_kept or name == kept_name
                        self._log(run, name)
                    elif op == "add_to_shared":
                        self._log(run, shared[i % len(shared)])
                    elif op == "list_shared":
                        target = shared[i % len(shared)]
                        path_ = f"{run.entity}/{self.project}/{target}"
                        list(wandb.Api().artifacts("model", path_))
                    elif op == "delete_shared":
                        target = shared[i % len(shared)]
                        path_ = f"{run.entity}/{self.project}/{target}"
                        versions = list(wandb.Api().artifacts("model", path_))
                        theirs = [v for v in versions if v.id in self.shared[target]]
                        if theirs:
                            theirs[0].delete(delete_aliases=True)
                            deleted_here.add(str(theirs[0].id))  # a logged version has an id
                            lasting = True
                run.finish()
                if interrupted:
                    raise KeyboardInterrupt("the test was interrupted")
        except KeyboardInterrupt:
            pass
        finally:
            self.standin.clear_faults()
        for target, ids in self.shared.items():
            self.shared[target] = [i for i in ids if i not in deleted_here]
        self.world.versions -= deleted_here
        self.world.gone |= deleted_here
        self._check_session(kept_name if made_kept else None)
        self._check_theirs(before, path, lasting)

    @staticmethod
    def _log(run: object, name: str) -> Any:
        import wandb

        path = Path(tempfile.mkdtemp()) / "weights.txt"
        path.write_text(f"{name}-{next(_names)}")
        artifact = wandb.Artifact(name, type="model")
        artifact.add_file(str(path))
        return run.log_artifact(artifact).wait()  # type: ignore[attr-defined]

    def _change_theirs(self, run: object, op: str, i: int, shared: list[str]) -> bool:
        """Change something of the teammate's; True when it is a change no API undoes."""
        import wandb

        api = wandb.Api()
        entity = run.entity  # type: ignore[attr-defined]
        if op in ("edit_run_config", "resume_run"):
            runs = sorted(self.world.runs)
            if not runs:
                return False
            name = runs[i % len(runs)]
            if op == "resume_run":
                # Another process-wide run is open (the session's): resumed in a second one.
                resumed = wandb.init(
                    project=self.project, id=name, resume="allow", reinit="create_new"
                )
                resumed.config.update({"resumed_by": "a test"}, allow_val_change=True)
                resumed.log({"extra": i})
                resumed.finish()
                return True
            theirs = api.run(f"{entity}/{self.project}/{name}")
            theirs.config["lr"] = 0.5 + i
            theirs.update()
            return False
        if not shared:
            return False
        target = shared[i % len(shared)]
        ids = self.shared[target]
        if not ids:
            return False
        where = f"{entity}/{self.project}/{target}"
        index = _index(api, where, ids[-1])
        if index is None:
            return False  # deleted earlier in this session
        version = api.artifact(f"{where}:v{index}")
        if op == "promote":
            mine = self._log(run, target)
            mine.aliases.append("prod")
            mine.save()
        elif op in ("move_alias", "add_alias"):
            version.aliases.append("prod" if op == "move_alias" else f"rc{i}")
            version.save()
        elif op == "remove_alias":
            version.aliases = [a for a in version.aliases if a != "staging"]
            version.save()
        elif op == "edit_metadata":
            version.metadata = {**version.metadata, "touched": i}
            version.save()
        elif op == "edit_description":
            # W&B reads a null input as "leave it": one never set can only come back as "".
            never_set = version.description is None
            version.description = f"touched by a test ({i})"
            version.save()
            return never_set
        return False

    def _check_theirs(
        self, before: dict[str, dict[str, object]], path: Path, lasting: bool
    ) -> None:
        """Every resource of the teammate's that existed before is as it was, or the audit
        fails; a session that made no change an API cannot undo left everything as it was."""
        from wandb_cassettes.audit import audit_file

        after = self.standin.details(self.project)
        changed = [
            f"{kind} {name}: {value} -> {after[kind].get(name)}"
            for kind in ("artifacts", "runs")
            for name, value in before[kind].items()
            if name in after[kind] and _theirs(value) != _theirs(after[kind][name])
        ]
        failed = path.with_name(path.name + ".failed")
        cassette = path if path.exists() else failed
        audit = audit_file(cassette) if cassette.exists() else None
        verdict = audit.exit_code if audit is not None else None
        if changed and verdict != 1:
            raise AssertionError(f"changed what it did not create, audit {verdict}: {changed}")
        if changed and not lasting:
            raise AssertionError(f"foreign changes not restored: {changed}")
        if not changed and not lasting and audit is not None and verdict != 0:
            raise AssertionError(f"the audit fails a session that left all as it was: {audit}")

    def _check_session(self, kept: str | None) -> None:
        """What this session made is gone, unless kept (and then it is there)."""
        live = self.live()
        mine = [a for a in live["artifacts"] if a["id"] not in self.world.versions]
        leftover = [a for a in mine if kept is None or a["collection"] != kept]
        assert not leftover, f"the session left versions it made: {leftover}"
        if kept is not None:
            kept_versions = [a for a in mine if a["collection"] == kept]
            assert kept_versions, f"the session's kept collection {kept} is gone"
            self.world.versions.update(str(a["id"]) for a in kept_versions)
            self.world.collections.add(kept)
        runs = {r["name"] for r in live["runs"]}
        assert runs <= self.world.runs, f"the session left runs: {runs - self.world.runs}"

    # -- the promise --------------------------------------------------------------------------

    @invariant()
    def nothing_foreign_was_deleted(self) -> None:
        live = self.live()
        ids = {a["id"] for a in live["artifacts"]}
        missing = self.world.versions - ids
        assert not missing, f"versions the sessions did not create (or kept) are gone: {missing}"
        assert not (ids & self.world.gone), "a version deleted by a test came back"
        runs = {r["name"] for r in live["runs"]}
        assert self.world.runs <= runs, f"runs were deleted: {self.world.runs - runs}"
        collections = {c["name"] for c in live["collections"]}
        lost = self.world.collections - collections
        assert not lost, f"collections the sessions did not create are gone: {lost}"


def _index(api: Any, where: str, artifact_id: str) -> int | None:
    """The version index of one of the teammate's versions (by id), as the SDK lists them."""
    versions = {v.id: v.version for v in api.artifacts("model", where)}
    return int(versions[artifact_id][1:]) if artifact_id in versions else None


def _theirs(value: object) -> object:
    """What must be as it was: all but ``latest`` (W&B's own) and a run's summary bookkeeping."""
    if not isinstance(value, dict):
        return value
    out = dict(value)
    if "aliases" in out:
        out["aliases"] = [a for a in out["aliases"] if a != "latest"]  # type: ignore[union-attr]
    if "summary" in out:
        out["summary"] = {
            k: v
            for k, v in out["summary"].items()  # type: ignore[union-attr]
            if not k.startswith("_")
        }
    return out


def _break_restore() -> None:
    """The restore switched off: the cleanup deletes what the test made, restores nothing."""
    from wandb_cassettes.ownership import _ledger as ledger

    ledger.Ledger.restores = lambda self: []  # type: ignore[method-assign]


def _break_ownership() -> None:
    """A name-based cleanup: every version an answer names is claimed as created here."""
    from wandb_cassettes.ownership import Ledger
    from wandb_cassettes.ownership import _rules as ledger

    learn = ledger._learn_artifact

    def claim(
        ledger_: Ledger, node: dict[str, Any], server_id: str, sequence: dict[str, Any]
    ) -> None:
        learn(ledger_, node, server_id, sequence)
        found = ledger_.by_id(server_id)
        if found is not None:
            ledger_.mark_created(found, 0)

    ledger._learn_artifact = claim  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=4)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--no-shrink", action="store_true", help="report the first failure as is")
    args = parser.parse_args(argv)
    if os.environ.get("WANDB_CASSETTES_BREAK_OWNERSHIP"):
        _break_ownership()
    if os.environ.get("WANDB_CASSETTES_BREAK_RESTORE"):
        _break_restore()
    workdir = Path(tempfile.mkdtemp(prefix="ownership-machine-"))
    os.chdir(workdir)
    with StandinBackend() as standin:
        os.environ["WANDB_API_KEY"] = standin.api_key
        os.environ["WANDB_CASSETTES_UPSTREAM"] = standin.base_url
        Ownership.standin = standin
        Ownership.workdir = workdir
        try:
            run_state_machine_as_test(
                Ownership,
                settings=settings(
                    max_examples=args.examples,
                    stateful_step_count=args.steps,
                    deadline=None,
                    derandomize=True,  # a fixed budget of fixed examples: the same in every CI run
                    database=None,
                    suppress_health_check=list(HealthCheck),
                    print_blob=False,
                    phases=[p for p in Phase if not (args.no_shrink and p is Phase.shrink)],
                ),
            )
        except (AssertionError, ExceptionGroup) as exc:
            print(f"ownership broken: {exc!r}", file=sys.stderr)
            return 1
        finally:
            from wandb_cassettes.runtime import shared_process

            shared_process(None, workdir).stop()
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
