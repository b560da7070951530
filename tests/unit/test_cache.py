import os

import pytest

from wandb_cassettes import store as cache
from wandb_cassettes import store as cs
from wandb_cassettes.errors import CassetteError
from wandb_cassettes.store import Cassette, Digest, Interaction


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_ENV, str(folder))
    return folder


def _big(n: int = 200) -> Cassette:
    return Cassette(
        [
            Interaction(
                "POST",
                "https://api.wandb.ai/graphql",
                {"Content-Type": ["application/json"]},
                f'{{"query": "query Q{i} {{ x }}"}}',
                200,
                "OK",
                {},
                f'{{"data": {{"x": {i}}}}}',
            )
            for i in range(n)
        ]
        + [
            Interaction("PUT", "https://s/x", request_body=Digest.of(b"a")),
            Interaction("GET", "https://s/y", response_body=b"\xff\x00"),
        ],
        metadata={"seed": "s", "format": cs.FORMAT},
    )


def test_second_load_comes_from_the_cache_and_equals_the_parse(tmp_path, cache_dir):
    path = cs.save(_big(), tmp_path / "c.yaml")
    first = cache.load_cached(path)
    assert len(list(cache_dir.glob("*.json"))) == 1
    second = cache.load_cached(path)
    assert second.interactions == first.interactions == cs.load(path).interactions
    assert second.metadata == first.metadata
    assert second.path == path


def test_a_changed_cassette_is_parsed_again(tmp_path, cache_dir):
    path = cs.save(_big(), tmp_path / "c.yaml")
    cache.load_cached(path)
    changed = _big()
    changed.interactions[0].response_body = '{"data": {"x": "changed"}}'
    cs.save(changed, path)
    assert cache.load_cached(path).interactions[0].response_body == '{"data": {"x": "changed"}}'


def test_a_damaged_entry_is_ignored(tmp_path, cache_dir):
    path = cs.save(_big(), tmp_path / "c.yaml")
    cache.load_cached(path)
    for entry in cache_dir.glob("*.json"):
        entry.write_text("{not json")
    assert cache.load_cached(path).interactions == cs.load(path).interactions


def test_off_and_unwritable_cache_still_load(tmp_path, monkeypatch):
    path = cs.save(_big(), tmp_path / "c.yaml")
    monkeypatch.setenv(cache.CACHE_ENV, "off")
    assert len(cache.load_cached(path)) == 202
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(cache.CACHE_ENV, str(blocker / "sub"))  # cannot be a folder
    assert len(cache.load_cached(path)) == 202


def test_errors_name_the_file_as_without_cache(tmp_path, cache_dir):
    with pytest.raises(CassetteError, match="no such cassette"):
        cache.load_cached(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("x" * (cache.CACHE_MIN_BYTES + 1) + ": [")
    with pytest.raises(CassetteError, match=str(bad)):
        cache.load_cached(bad)
    assert not os.path.exists(cache_dir) or not list(cache_dir.glob("*.json"))
