"""The plugin's pieces in this process: the re-record command, the lazily imported public names."""

from __future__ import annotations


def test_the_re_record_command_names_the_file_from_where_pytest_ran(tmp_path):
    from types import SimpleNamespace

    from wandb_cassettes.plugin import _record_command_for

    def config(cwd):
        return SimpleNamespace(rootpath=tmp_path, invocation_params=SimpleNamespace(dir=cwd))

    nodeid = "tests/unit/test_x.py::test_y[a b]"
    assert _record_command_for(config(tmp_path), nodeid, mode="rewrite") == (
        "pytest 'tests/unit/test_x.py::test_y[a b]' --record-mode=rewrite"
    )
    assert _record_command_for(config(tmp_path / "tests"), nodeid, mode="once") == (
        "pytest 'unit/test_x.py::test_y[a b]' --record-mode=once"
    )


def test_the_public_names_import_lazily_and_are_listed():
    import wandb_cassettes

    for name in wandb_cassettes.__all__:
        assert getattr(wandb_cassettes, name) is not None, name
    assert set(wandb_cassettes.__all__) <= set(dir(wandb_cassettes))
    assert issubclass(wandb_cassettes.CleanupError, wandb_cassettes.WandbCassettesError)
