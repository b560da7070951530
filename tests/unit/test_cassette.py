import os

import pytest
import vcr

from wandb_cassettes import runtime as naming
from wandb_cassettes import store as cs
from wandb_cassettes.errors import CassetteError
from wandb_cassettes.store import Cassette, Digest, Interaction


def _sample() -> Cassette:
    return Cassette(
        [
            Interaction(
                "POST",
                "https://api.wandb.ai/graphql",
                {"Content-Type": ["application/json"]},
                '{"query": "query Viewer { viewer { id } }"}',
                200,
                "OK",
                {"Content-Type": ["application/json"]},
                '{"data": {"viewer": {"id": "x"}}}',
            ),
            Interaction(
                "PUT",
                "https://storage.example/bucket/file?X-Goog-Signature=REDACTED",
                request_body=Digest.of(b"\x00" * 1000),
                status=200,
                response_body="",
            ),
            Interaction(
                "GET", "https://storage.example/bucket/blob", response_body=b"\xff\x00\x01"
            ),
            Interaction(
                "GET", "https://storage.example/bucket/big", response_body=Digest.of(b"abc")
            ),
        ],
        metadata=cs.new_metadata("https://api.wandb.ai", seed="abc"),
    )


def test_round_trip(tmp_path):
    path = cs.save(_sample(), tmp_path / "a" / "t.yaml")
    loaded = cs.load(path)
    assert loaded.interactions == _sample().interactions
    assert loaded.metadata["seed"] == "abc"
    assert loaded.metadata["format"] == cs.FORMAT
    assert loaded.interactions[1].request_body == Digest.of(b"\x00" * 1000)


def test_vcrpy_loads_our_cassettes(tmp_path):
    path = cs.save(_sample(), tmp_path / "t.yaml")
    cassette = vcr.cassette.Cassette.load(path=str(path))
    assert len(cassette) == 4
    assert cassette.requests[0].uri == "https://api.wandb.ai/graphql"


def test_digest_keeps_cassette_small(tmp_path):
    big = Cassette(
        [Interaction("PUT", "https://s/x", request_body=Digest.of(os.urandom(10 << 20)))]
    )
    path = cs.save(big, tmp_path / "big.yaml")
    assert path.stat().st_size < 2000


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty file"),
        ("interactions: [\n  - {request: ", "invalid YAML"),
        ("- a\n- b\n", "not a cassette"),
        ("version: 2\ninteractions: []\n", "version 2"),
        ("version: 1\ninteractions: []\nmetadata: {format: other/9}\n", "unsupported format"),
        ("version: 1\ninteractions:\n- request: {method: GET}\n  response: {}\n", "interaction 0"),
    ],
)
def test_bad_cassettes_name_the_file(tmp_path, text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    before = path.read_bytes()
    with pytest.raises(CassetteError) as info:
        cs.load(path)
    assert str(path) in str(info.value)
    assert needle in str(info.value)
    assert path.read_bytes() == before


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\ninteractions:\n  - request: {method: GET\n  - x\n")
    with pytest.raises(CassetteError) as info:
        cs.load(path)
    assert info.value.line is not None and info.value.line >= 3


def test_missing_cassette(tmp_path):
    with pytest.raises(CassetteError, match="no such cassette"):
        cs.load(tmp_path / "nope.yaml")


def test_failed_recording_never_replaces_good(tmp_path):
    path = cs.save(_sample(), tmp_path / "t.yaml")
    good = path.read_bytes()
    kept = cs.save_failed(Cassette(), path)
    assert path.read_bytes() == good
    assert kept.name == "t.yaml.failed" and kept.exists()


def test_atomic_save_leaves_no_temp_files(tmp_path):
    cs.save(_sample(), tmp_path / "t.yaml")
    assert [p.name for p in tmp_path.iterdir()] == ["t.yaml"]


def test_safe_names_and_traversal(tmp_path):
    assert naming.safe_name("test_a") == "test_a"
    a, b = naming.safe_name("test_x[a/b]"), naming.safe_name("test_x[a:b]")
    assert "/" not in a and a != b
    p = naming.cassette_path(tmp_path, "tests/test_mod", "../../../etc/passwd")
    assert tmp_path.resolve() in p.parents
    assert (
        naming.cassette_path(tmp_path, "tests/test_mod", "x")
        == tmp_path.resolve() / "tests/test_mod/x.yaml"
    )


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_cassette_gets_the_mode_the_umask_gives_new_files(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        cs.save(Cassette(), tmp_path / "t.yaml")
        cs.save_failed(Cassette(), tmp_path / "u.yaml")
    finally:
        os.umask(old)
    assert (tmp_path / "t.yaml").stat().st_mode & 0o777 == mode
    assert (tmp_path / "u.yaml.failed").stat().st_mode & 0o777 == mode


@pytest.mark.parametrize("status", [0, 100, 101, 199, 600])
def test_an_answer_that_is_no_final_http_status_makes_the_cassette_unusable(tmp_path, status):
    # A 1xx served as a final answer leaves the client waiting for the rest (~38 s).
    ix = Interaction("POST", "https://api.wandb.ai/graphql", status=status, response_body="{}")
    path = cs.save(Cassette(interactions=[ix], metadata={}), tmp_path / "c.yaml")
    with pytest.raises(CassetteError, match=rf"c\.yaml:\d+: .*status {status} is no final"):
        cs.load(path)


@pytest.mark.parametrize(
    ("field", "first", "second"),
    [("status", "code: 200", "code: 500"), ("uri", "http://x.invalid/a", "http://x.invalid/b")],
)
def test_a_key_given_twice_makes_the_cassette_unusable(tmp_path, field, first, second):
    """PyYAML keeps the last silently; a reviewer reads the first."""
    ix = Interaction("POST", "http://x.invalid/a", status=200, response_body="{}")
    path = cs.save(Cassette(interactions=[ix], metadata={}), tmp_path / "c.yaml")
    text = path.read_text()
    if field == "status":
        text = text.replace("    status:\n", f"    status: {{{second}}}\n    status:\n", 1)
    else:
        text = text.replace(f"    uri: {first}", f"    uri: {first}\n    uri: {second}", 1)
    path.write_text(text)
    with pytest.raises(CassetteError, match=rf"c\.yaml:\d+: the key '{field}' is given twice"):
        cs.load(path)


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ("    method: POST", '    method: "PO ST\\r\\n"', "is no HTTP method"),
        ("    headers: {}\n    method", "    headers: {X-A: {b: c}}\n    method", "text values"),
        ("      message: OK", "      message: {a: b}", "'message' must be text"),
        ("    headers: {}\n    status", "    headers: {X-A: [[1]]}\n    status", "text values"),
    ],
)
def test_what_http_cannot_carry_makes_the_cassette_unusable(tmp_path, old, new, said):
    ix = Interaction("POST", "http://x.invalid/a", status=200, response_body="{}")
    path = cs.save(Cassette(interactions=[ix], metadata={}), tmp_path / "c.yaml")
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(CassetteError, match=said):
        cs.load(path)
