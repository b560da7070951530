"""The credential catalogue behind the scrubber and the audit, and what we add on top.

The catalogue (kingfisher-secret-scanner) is a dependency: these tests check how our
engine feeds it (escapes undone, token ends made explicit, spans widened back to whole
escapes), the W&B key's encodings, the opt-in entropy check, ``--list-rules``, and
that a replay which needs no scrubbing never compiles the catalogue.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import string
from collections.abc import Callable

import pytest
from support import cassette_builders as b
from support import credentials
from support.scrub_samples import go_json

from wandb_cassettes.cli import main as cli
from wandb_cassettes.errors import ConfigurationError
from wandb_cassettes.redact import (
    API_KEY_PLACEHOLDER,
    CATALOGUE,
    KEY_PIECE_MIN,
    PACKAGE,
    REDACTED,
    RULES,
    Catalogue,
    Scrubber,
    SecretRule,
    entropy_rule,
    find_secrets,
    scrub_text,
)
from wandb_cassettes.replay import Matcher, MatchRules, target_of
from wandb_cassettes.runtime import CassetteOptions
from wandb_cassettes.store import Cassette, Digest, Interaction

FORMATS = credentials.formats()
KEY = "standin-" + hashlib.sha1(b"the key in use").hexdigest()


# -- the catalogue ------------------------------------------------------------------------


def test_the_catalogue_names_its_package_version_and_rules():
    rules = CATALOGUE.rules()
    ids = [r.id for r in rules]
    assert len(ids) >= 300 and len(set(ids)) == len(ids)
    assert "betterleaks.gcp-api-key" in ids and all(r.description for r in rules)
    assert CATALOGUE.source == f"{PACKAGE} {CATALOGUE.version}" and CATALOGUE.version[0].isdigit()


def test_spans_are_str_offsets_of_the_value_itself():
    token = FORMATS["github-pat"]
    text = "é ünïcödé " + json.dumps({"k": token}) + " ✓"
    [(rule, start, end)] = list(CATALOGUE.spans(text))
    assert rule == "betterleaks.github-pat" and text[start:end] == token
    # Inside base64, the whole encoded run (where the credential sits) is the span.
    blob = base64.b64encode(f"token: {token}\n".encode()).decode()
    [(_, start, end)] = list(CATALOGUE.spans(f'{{"b": "{blob}"}}'))
    assert (start, end) == (7, 7 + len(blob))
    assert list(CATALOGUE.spans("")) == []


def test_a_catalogue_that_cannot_load_is_a_clear_error_never_a_pass(monkeypatch):
    import sys

    from wandb_cassettes.errors import WandbCassettesError

    monkeypatch.setitem(sys.modules, "kingfisher_sdk", None)  # as if no wheel installed
    with pytest.raises(WandbCassettesError, match=f"cannot be loaded.*pip install {PACKAGE}"):
        Catalogue().spans("anything")


# -- one half of a pair ---------------------------------------------------------------------


def _aws_key_id(seed: int) -> str:
    """A made-up AWS access key id (AKIA + 16 of A-Z2-7), random so its entropy is real."""
    rng = random.Random(seed)
    return "AK" + "IA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))


def test_an_aws_access_key_id_alone_is_a_secret():
    # The catalogue reports it only beside a secret access key (depends_on_rule); alone
    # it still names the account, so it is found, and scrubbed where it sits.
    key_id = _aws_key_id(1)
    text = json.dumps({"config": {"v07": key_id}, "note": f"id={key_id};"})
    found = find_secrets(text)
    assert [f.rule for f in found] == ["betterleaks.aws-access-token.alone"] * 2
    scrubbed = scrub_text(text)
    assert key_id not in scrubbed and json.loads(scrubbed)["config"]["v07"] == REDACTED


def test_a_pair_is_reported_once_by_the_catalogues_own_rule():
    key_id = _aws_key_id(2)
    rng = random.Random(3)
    secret = "".join(rng.choice(string.ascii_letters + string.digits + "/+") for _ in range(40))
    text = f"aws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
    rules = [f.rule for f in find_secrets(text)]
    assert rules.count("betterleaks.aws-access-token") == 1
    assert not [r for r in rules if r.endswith(".alone")]


def test_a_low_entropy_lookalike_of_a_half_is_kept():
    # The half alone is held to the entropy floor of the rule's own filter.
    assert find_secrets(json.dumps({"v": "AK" + "IA" + "A" * 16})) == []


def test_every_rule_that_needs_a_partner_has_a_twin_that_does_not():
    """Derived from the catalogue, not listed: a paired rule it adds is covered too."""
    from kingfisher_sdk import Rules

    loaded = Rules(confidence="medium", cache=False)
    paired = {
        str(m["id"])
        for m in loaded.metadata()
        if m.get("visible", True)
        and any(
            d is not None and not d.get("optional")
            for d in loaded.detail(m["id"]).get("depends_on_rule") or ()
        )
    }
    ids = {r.id for r in CATALOGUE.rules()}
    assert len(paired) >= 10 and {f"{rule}.alone" for rule in paired} <= ids


def test_every_partner_rule_is_applied_alone_too():
    """A rule the catalogue keeps invisible (the other half of a pair: an Alibaba access key
    id) was listed by --list-rules and never applied; derived, not listed."""
    from kingfisher_sdk import Rules

    loaded = Rules(confidence="medium", cache=False)
    partners = {str(m["id"]) for m in loaded.metadata() if not m.get("visible", True)}
    ids = {r.id for r in CATALOGUE.rules()}
    assert len(partners) >= 10 and {f"{rule}.alone" for rule in partners} <= ids


@pytest.mark.parametrize(
    ("value", "secret"),
    [
        ("LT" + "AI5tQZd8AEJZK8cTk1y2Ab", True),
        ("ST" + "S.abcdef1234567890XYZ", True),
        ("pk-" + "lf-12345678-1234-1234-1234-123456789012", True),
        # A partner that names a place says where a credential works, not what it is.
        ("acme.jfrog.io", False),
        ("https://abcdefghijklmnop.supabase.co", False),
        ("acme.snowflakecomputing.com", False),
    ],
)
def test_a_partner_alone_is_a_secret_unless_it_names_a_place(value, secret):
    found = find_secrets(json.dumps({"v07": value}))
    assert bool(found) is secret, found
    assert all(f.rule.endswith(".alone") for f in found)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_scrubbed_json_stays_json_at_every_depth(name):
    """A span found in the decoded view is widened to whole escapes: REDACTED replaces
    ``\\\\n`` or ``\\u0026`` entirely, never half of one, so every level still parses."""
    value = FORMATS[name]
    text = go_json({"c": go_json({"c": go_json({"v": {"value": f"<{value}&>"}})})})
    out = scrub_text(text)
    assert value[10:30] not in out
    inner = json.loads(json.loads(json.loads(out)["c"])["c"])
    assert REDACTED in inner["v"]["value"]


def test_what_the_suite_keeps_is_no_credential():
    """Digests, ids, shas, UUIDs and the stand-in's storage URLs pass untouched (the
    suite's every recording is searched too: support.pytest_process.assert_no_secret_recorded)."""
    kept = [
        hashlib.sha1(b"commit").hexdigest(),
        hashlib.sha256(b"weights").hexdigest(),
        base64.b64encode(hashlib.sha256(b"weights").digest()).decode(),
        base64.b64encode(hashlib.md5(b"weights").digest()).decode(),
        b.artifact_id(123456),
        b.run_storage_id("team", "proj", "run00001"),
        "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b",
        b.signed_url("wandb_artifacts/1/data.txt").replace("REDACTED", "ab" * 32),
    ]
    for value in kept:
        text = json.dumps({"v": value, "u": f"https://x.example/{value}.bin?a=1"})
        assert [f.rule for f in find_secrets(text) if f.rule != "url-credential"] == [], value


# -- the key in use -------------------------------------------------------------------------


def _encoded_in_longer(
    key: str, shift: int, encode: Callable[[bytes], bytes] = base64.b64encode
) -> str:
    """``key`` inside a longer text, base64-encoded: its characters depend on where it sits."""
    return encode(b"x" * shift + key.encode() + b"!tail").decode()


@pytest.mark.parametrize(
    "form",
    [
        *credentials.key_encodings(KEY).values(),
        *(_encoded_in_longer(KEY, s) for s in (0, 1, 2)),
        *(_encoded_in_longer(KEY, s, base64.urlsafe_b64encode) for s in (0, 1, 2)),
        base64.b64encode(f"api:{KEY}".encode()).decode(),
        *credentials.key_halves(KEY),
        # a piece is counted in the key's characters less its separators ("standin-")
        *credentials.key_halves(KEY, len(KEY) - KEY_PIECE_MIN),
        *credentials.key_pieces(KEY, 3),
        *credentials.key_pieces(KEY, 2, reverse=True),
        KEY[-3 - KEY_PIECE_MIN : -3],
        KEY[-3 - KEY_PIECE_MIN : -3][::-1],
        # written as a list of its characters or bytes, or its hex with separators
        json.dumps(list(KEY)),
        json.dumps(list(KEY.encode())),
        KEY.encode().hex(":"),
        "-".join(KEY[i : i + 2] for i in range(len(KEY) - 3 - KEY_PIECE_MIN, len(KEY) - 3, 2)),
        base64.b32encode(b"xyz" + KEY.encode() + b"tail").decode(),
    ],
)
def test_the_key_in_use_is_found_in_simple_encodings_and_pieces(form):
    scrubber = Scrubber(secrets=(KEY,))
    for text in (f"x {form} y", json.dumps({"v": json.dumps({"w": form})})):
        assert "wandb-api-key" in [f.rule for f in scrubber.find(text)], form
        out = scrubber.scrub_text(text)
        assert API_KEY_PLACEHOLDER in out and form[2:-2] not in out
        assert scrubber.find(out) == [] and scrubber.scrub_text(out) == out
    assert find_secrets(f"x {form} y") == [] or form.startswith(("standin-", "STANDIN"))


def _recoverable(text: str, key: str) -> list[str]:
    """The pieces of ``key`` (``KEY_PIECE_MIN`` characters) that decoding what base64 is left
    in ``text`` gives back, its line breaks taken out, each run at each alignment."""
    decoded = b""
    for run in re.findall(r"[A-Za-z0-9+/]{4,}", text.replace("\\n", "").replace("\n", "")):
        for start in range(4):
            part = run[start:]
            decoded += base64.b64decode(part[: len(part) - len(part) % 4]) + b"|"
    pieces = (key[i : i + KEY_PIECE_MIN] for i in range(len(key) - KEY_PIECE_MIN + 1))
    return [piece for piece in pieces if piece.encode() in decoded]


@pytest.mark.parametrize("offset", range(0, 76, 5))
def test_the_key_in_mime_base64_is_found_across_its_line_breaks(offset):
    """A credentials file through ``base64.encodebytes`` (a line every 76 characters, as
    MIME writes it): a line break may cut the key's characters anywhere, in the text and
    as JSON escapes it (``\\n``)."""
    scrubber = Scrubber(secrets=(KEY,))
    creds = json.dumps({"user": "u" * offset, "api_key": KEY, "host": "https://api.wandb.ai"})
    mime = base64.encodebytes(creds.encode()).decode()
    assert _recoverable(mime, KEY)  # the test's own check sees the key before
    for text in (mime, json.dumps({"config": json.dumps({"creds": mime})})):
        out = scrubber.scrub_text(text)
        left = json.loads(json.loads(out)["config"])["creds"] if text != mime else out
        assert _recoverable(left, KEY) == [], offset
        assert "wandb-api-key" in [f.rule for f in scrubber.find(text)]


def test_shorter_pieces_and_lookalikes_of_the_key_are_kept():
    scrubber = Scrubber(secrets=(KEY,))
    for text in (
        KEY[3 : 3 + KEY_PIECE_MIN - 1],  # a piece too short to tell
        "standin-user standin-org-entity",  # the key's prefix alone
        hashlib.sha1(b"another").hexdigest(),
        KEY[:10] + "zz" + KEY[12:22],  # two short pieces, not one long one
        " ".join(KEY[-KEY_PIECE_MIN + 1 :]),  # a short piece, spaced out
    ):
        assert scrubber.find(text) == [], text
        assert scrubber.scrub_text(text) == text


def test_the_key_is_found_in_binary_bodies_in_its_encodings():
    scrubber = Scrubber(secrets=(KEY,))
    body = b"\xff\x00" + KEY.upper().encode() + b"\xfe" + KEY.encode().hex().encode()
    out = scrubber.scrub_interaction(Interaction("PUT", "https://s/x", request_body=body))
    assert out.request_body == b"\xff\x00" + (API_KEY_PLACEHOLDER.encode() + b"\xfe") + (
        API_KEY_PLACEHOLDER.encode()
    )
    assert [f.rule for f in scrubber.find_in_interaction(Interaction("PUT", "u", {}, body))] == [
        "wandb-api-key",
        "wandb-api-key",
    ]


# -- high entropy: off by default ---------------------------------------------------------------


def test_high_entropy_strings_are_flagged_only_on_request():
    random_token = base64.b64encode(hashlib.sha512(b"a token").digest()).decode()[:40]
    sha = hashlib.sha256(b"x").hexdigest()
    text = json.dumps({"note": random_token, "digest": sha})
    assert find_secrets(text) == []  # off by default
    scrubber = Scrubber.build(entropy=4.5)
    assert [f.rule for f in scrubber.find(text)] == ["high-entropy-string"]
    out = scrubber.scrub_text(text)
    assert random_token not in out and sha in out  # hex stays under 4 bits per character
    assert scrubber.find(out) == []
    assert "high-entropy-string" in [r.name for r in scrubber.rules_in_force()]
    for bad in (0, -1, 9):
        with pytest.raises(ValueError):
            entropy_rule(bad)
    for bad_text in ("x", "0", "12"):
        with pytest.raises(ConfigurationError, match="entropy"):
            CassetteOptions.from_mapping({"entropy": bad_text}, source="ini")
    assert CassetteOptions.from_mapping({"entropy": "4.5"}, source="ini").entropy == 4.5
    assert CassetteOptions.from_mapping({"entropy": ""}, source="ini").entropy is None


# -- the audit's command ---------------------------------------------------------------------


def test_list_rules_prints_each_rule_with_its_source_and_version(capsys, monkeypatch, tmp_path):
    from wandb_cassettes import __version__

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_API_KEY", KEY)
    assert cli(["audit", "--list-rules"]) == 0
    out = capsys.readouterr().out
    assert f"{PACKAGE} {CATALOGUE.version}" in out and f"wandb-cassettes {__version__}" in out
    rows = {line.split()[0]: line for line in out.splitlines()[5:] if line.strip()}
    assert len(rows) >= len(CATALOGUE.rules()) + 8
    assert f"{PACKAGE} {CATALOGUE.version}" in rows["betterleaks.gcp-api-key"]
    assert f"wandb-cassettes {__version__}" in rows["wandb-api-key"]
    assert "entropy check: off" in out and KEY not in out and KEY[8:20] not in out
    assert cli(["audit", "--list-rules", "--entropy", "4.5", "--secret-pattern", "corp-\\d+"]) == 0
    out = capsys.readouterr().out
    assert "entropy check: at 4.5 bits" in out and "high-entropy-string" in out
    assert "your pattern" in out and "corp-\\d+" in out
    assert cli(["audit", "--entropy", "lots"]) == 2
    assert "entropy" in capsys.readouterr().err


def test_the_audit_flags_the_key_in_use_in_its_encodings(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = {f"v{i}": v for i, v in enumerate(credentials.key_encodings(KEY).values())}
    # A query carries them: a mutation here would be a finding of its own (a change to a run
    # the cassette does not show it created).
    ix = b.gql_exchange("Run", b.RUN_GQL, {"config": go_json(config)}, {})
    from wandb_cassettes.store import save

    path = save(Cassette([ix], {"upstream": b.BASE}), tmp_path / "c.yaml")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    assert cli(["audit", str(path)]) == 0  # unknown key: base64 of it is no secret by shape
    capsys.readouterr()
    monkeypatch.setenv("WANDB_API_KEY", KEY)
    assert cli(["audit", "--format", "json", str(path)]) == 1
    found = json.loads(capsys.readouterr().out)["cassettes"][0]["secrets"]
    assert len(found) == len(config) and {s["rule"] for s in found} == {"wandb-api-key"}


# -- replay without the catalogue -------------------------------------------------------------


def _fresh_scrubber() -> tuple[Scrubber, Catalogue]:
    catalogue = Catalogue()
    rules = tuple(
        SecretRule("catalogue", catalogue=catalogue) if r.catalogue is not None else r
        for r in RULES
    )
    return Scrubber(rules), catalogue


def test_matching_a_cassette_with_no_replacement_never_loads_the_catalogue():
    flow = b.clean_flow()
    scrubber, catalogue = _fresh_scrubber()
    matcher = Matcher(flow, b.BASE, MatchRules(scrubber=scrubber))
    for ix in flow.interactions:
        # The relay reads no storage body before matching: a digest stands for none.
        body = None if isinstance(ix.request_body, Digest) else ix.request_body
        key = matcher.key(ix.method, target_of(ix.uri, b.BASE), body)
        matcher.match(key)
    assert not catalogue.loaded
    # One redaction in a request: live requests are scrubbed, so the catalogue is needed.
    first = flow.interactions[0]
    redacted = Interaction(first.method, first.uri, first.request_headers,
                           str(first.request_body).replace("}", ', "t": "REDACTED"}', 1),
                           response_body=first.response_body)  # fmt: skip
    Matcher(Cassette([redacted]), b.BASE, MatchRules(scrubber=scrubber))
    assert catalogue.loaded


def test_the_key_replay_hands_the_sdk_has_no_piece_in_innocent_data():
    """Replay's matching scrubs the key in use (the placeholder) out of each request, read
    across separators: a list of zeros or a run of one digit must stay as it is."""
    from wandb_cassettes.runtime import REPLAY_API_KEY

    scrubber = Scrubber(secrets=(REPLAY_API_KEY,))
    for text in (
        json.dumps({"row": [0] * 40, "zeros": "0" * 40, "ones": [1.0] * 30}),
        json.dumps({"eye": [[1 if i == j else 0 for j in range(16)] for i in range(16)]}),
    ):
        assert scrubber.find(text) == [] and scrubber.scrub_text(text) == text
