"""The write-ahead journal: what a dead session's file says, and how it fails."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from wandb_cassettes import cleanup as journal
from wandb_cassettes.errors import JournalError
from wandb_cassettes.ownership import Owned

UP = "https://api.example.invalid"


def owned(kind: str, local: str, **extra: object) -> Owned:
    name = f"team/proj/{local}" + (":v0" if kind == "artifact" else "")
    return Owned(kind, "team", "proj", local, name, unconfirmed=True, **extra)  # type: ignore[arg-type]


def test_keep_patterns_are_written_first_and_keep_what_a_crash_left(tmp_path: Path):
    """keep= is known when the recording starts: a session killed mid-test still keeps."""
    j = journal.Journal(tmp_path, UP)
    j.keep_patterns(["*/proj/golden*"], "t::kept")
    j.intend([owned("run", "r1")], "t::kept")
    j.intend([owned("artifact", "golden-ckpt", client_id="c1")], "t::kept")
    j.intend([owned("collection", "golden-ckpt")], "t::kept")
    j.intend([owned("artifact", "scratch", client_id="c2")], "t::other")
    # (no close: the session died)
    read = journal.read(j.path)
    assert sorted(left.name for left in read.kept) == [
        "team/proj/golden-ckpt",
        "team/proj/golden-ckpt:v0",
    ]
    assert sorted(left.name for left in read.leftovers) == [
        "team/proj/r1",
        "team/proj/scratch:v0",
    ]


def test_a_collection_holding_a_kept_version_is_kept():
    kept = journal.Leftover(owned("artifact", "model", client_id="c"), "t")
    collection = journal.Leftover(owned("collection", "model"), "t")
    other = journal.Leftover(owned("collection", "other"), "t")
    assert journal.kept_by(collection, [], [kept])
    assert not journal.kept_by(other, [], [kept])
    assert journal.kept_by(other, ["*/other"], [])


def test_keep_true_keeps_everything_its_test_made(tmp_path: Path):
    j = journal.Journal(tmp_path, UP)
    j.keep_patterns(["*"], "t::all")
    j.intend([owned("run", "r1")], "t::all")
    j.intend([owned("run", "r2")], "t::another")
    read = journal.read(j.path)
    assert [left.name for left in read.kept] == ["team/proj/r1"]
    assert [left.name for left in read.leftovers] == ["team/proj/r2"]


def test_a_journal_that_cannot_be_closed_says_so(tmp_path: Path):
    j = journal.Journal(tmp_path, UP)
    j.intend([owned("run", "r1")])

    class Full:
        def close(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    j._fh = Full()  # type: ignore[assignment]
    with pytest.raises(JournalError, match=r"could not be closed: No space left on device"):
        j.close()
    assert j.path.exists()  # it stays for the sweep


def test_a_file_where_the_journal_folder_should_be_is_named_as_such(tmp_path: Path):
    folder = tmp_path / "journal"
    folder.write_text("not a folder")
    with pytest.raises(JournalError) as caught:
        journal.Journal(folder, UP)
    assert f"{folder} is not a folder" in str(caught.value)
    assert "File exists" not in str(caught.value)


def test_what_puts_back_a_foreign_change_is_journalled_until_it_is_back(tmp_path: Path):
    """Issue 18: a session killed before its cleanup is put back by the next sweep."""
    from wandb_cassettes.ownership import Restore

    back = {"input": {"artifactID": "QXJ0aWZhY3Q6MQ==", "aliases": []}}
    prod = Restore("team/proj/shared:prod", "alias prod back", "addAliases", back)
    meta = Restore("team/proj/shared:v0", "fields back", "updateArtifact", {"input": {}})
    j = journal.Journal(tmp_path, UP)
    j.restores([prod], "t")
    j.restores([prod, meta], "t")  # written when the set changes, once per change
    assert [r.name for r in journal.read(j.path).restores] == [prod.name, meta.name]
    assert journal.read(j.path).pending == 2 and journal.read(j.path).restores[0] == prod
    j.restores([meta], "t")  # prod is back as it was
    assert [r.name for r in journal.read(j.path).restores] == [meta.name]
    j.close()
    assert j.path.exists()  # still to put back: kept for the next sweep
    lines = j.path.read_text().splitlines()
    assert sum('"event": "restore"' in line for line in lines) == 2


def test_a_change_nothing_undoes_is_journalled_once_and_said_by_the_sweep(tmp_path: Path):
    """A killed session writes no cassette, so no audit says that it appended history to a
    teammate's run: its journal does, and the sweep says it (and then lets it go)."""
    from wandb_cassettes.ownership import ForeignChange

    def appended(at: tuple[tuple[int, str], ...]) -> ForeignChange:
        why = "W&B has no API to remove history rows"
        return ForeignChange(
            "team/proj/theirs", "run", "appended history to", at, "unrestored", why
        )

    j = journal.Journal(tmp_path, UP)
    j.lasting([appended(((3, "file_stream"),))], "t::resumes")
    j.lasting([appended(((3, "file_stream"), (9, "file_stream")))], "t::resumes")  # once
    (line,) = journal.read(j.path).lasting
    assert "appended history to run team/proj/theirs" in line and line.endswith("(test t::resumes)")
    # (no close: the session died)
    result = journal.sweep([journal.read(j.path)], upstreams=[UP])
    assert result.lasting == [line]
    assert not j.path.exists()  # said once: nothing to put back, nothing left to do


def test_the_sweep_undoes_the_latest_change_first_across_journals(tmp_path, monkeypatch):
    """Two killed sessions (xdist workers) changed one teammate's version in turn: the later
    one's state before is the earlier one's change. Undone latest first, whatever the
    order of the journal files, each restore ends where the one before it starts."""
    from wandb_cassettes.cleanup import _sweep
    from wandb_cassettes.ownership import Restore

    def restore(value: str) -> Restore:
        inp = {"artifactID": "QXJ0aWZhY3Q6MQ==", "metadata": value}
        return Restore("team/proj/shared:v0", "fields back", "updateArtifact", {"input": inp})

    now = [100.0]
    monkeypatch.setattr("wandb_cassettes.cleanup._journal.time.time", lambda: now[0])
    first = journal.Journal(tmp_path / "b", UP)  # changed first (its file sorts last)
    first.restores([restore("original")], "t::a")
    now[0] = 200.0
    later = journal.Journal(tmp_path / "a", UP)
    later.restores([restore("first session's")], "t::b")
    sent: list[str] = []

    def delete_owned(resources, *, api, restores=None, not_before=None):
        sent.extend(r.variables["input"]["metadata"] for r in (restores() if restores else []))
        return journal.CleanupReport()

    monkeypatch.setattr(_sweep, "delete_owned", delete_owned)
    monkeypatch.setattr(_sweep, "api_for", lambda upstream, key: object())
    files = [journal.read(later.path), journal.read(first.path)][::-1]
    result = journal.sweep(files, upstreams=[UP])
    assert sent == ["first session's", "original"], sent
    assert result.failed == [] and not first.path.exists() and not later.path.exists()


def test_aliases_given_after_a_version_was_made_are_journalled_again(tmp_path: Path):
    """``art.aliases.append("candidate"); art.save()`` after ``log_artifact``: the sweep
    reads the version's last line, which names every alias the recording gave it (its
    delete takes only those along)."""
    from support import cassette_builders as b

    from wandb_cassettes.ownership import Ledger

    ledger, j = Ledger(), journal.Journal(tmp_path, UP)
    flow = [
        *b.log_artifact_flow("team", "proj", "run1", "model", id=b.artifact_id(1), version=0),
        b.add_aliases(b.artifact_id(1), "model", "candidate", "team", "proj"),
        b.add_aliases(b.artifact_id(1), "model", "gone", "team", "proj"),
        b.delete_aliases(b.artifact_id(1), "model", "gone", "team", "proj"),
    ]
    lines = []
    for ix in flow:
        seen = len(ledger.events)
        ledger.observe(ix)
        j.record(ledger.events[seen:], ledger, "t::logs")
        lines.append(len(j.path.read_text().splitlines()))
    (version,) = [
        left.owned for left in journal.read(j.path).leftovers if left.owned.kind == "artifact"
    ]
    assert version.aliases == ("candidate", "latest"), version
    assert lines[-1] > lines[-2] > lines[-3] > lines[3], lines  # each change written once
    j.record([], ledger, "t::logs")
    assert len(j.path.read_text().splitlines()) == lines[-1]  # nothing new: nothing written


@pytest.mark.parametrize("aliases", [["a", 1], "a", {"a": 1}, None])
def test_a_journal_line_with_aliases_of_another_shape_is_refused(aliases):
    line = owned("artifact", "model", client_id="c").to_json() | {"aliases": aliases}
    assert Owned.from_json(line) is None
    assert Owned.from_json(line | {"aliases": ["a"]}) is not None


def test_a_version_delete_takes_along_only_the_aliases_the_recording_gave_it():
    version = owned("artifact", "model", client_id="c", aliases=("candidate",))
    assert version.not_given(["latest", "v3", "candidate"]) == []
    assert version.not_given(["prod", "candidate", "staging"]) == ["prod", "staging"]
    assert owned("artifact", "m", client_id="c").not_given(["candidate"]) == ["candidate"]
    with pytest.raises(TypeError, match="read as NoneType"):
        version.not_given(None)


def test_restores_a_sweep_settled_are_never_read_again_even_after_a_torn_line(tmp_path: Path):
    """A journal that stays after a sweep (a delete held back) says which restores are
    settled; its writer's torn last line is cut first, so the file stays readable."""
    from wandb_cassettes.ownership import Restore

    j = journal.Journal(tmp_path, UP)
    j.intend([owned("run", "r1")])
    restores = [Restore(f"team/proj/m:{a}", "back", "addAliases", {"input": {}}) for a in "ab"]
    j.restores(restores, "t")
    with j.path.open("a") as fh:
        fh.write('{"event": "created", "own')  # killed mid-line
    before = journal.read(j.path)
    assert [r.name for r in before.restores] == ["team/proj/m:a", "team/proj/m:b"]
    journal.settle(before, ["team/proj/m:a"])
    after = journal.read(j.path)
    assert [r.name for r in after.restores] == ["team/proj/m:b"]
    assert [left.name for left in after.leftovers] == ["team/proj/r1"]
    assert (after.pid, after.upstream) == (before.pid, before.upstream)
    journal.settle(after, [])  # nothing settled: nothing written
    assert journal.read(j.path).restores == after.restores
