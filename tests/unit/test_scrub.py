"""Scrubbing secrets out of interactions, and finding the ones left."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from urllib.parse import quote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from support import cassette_builders as b
from support.scrub_samples import (
    AKID,
    ASEC,
    DB_PASSWORD,
    FORMATS,
    GHP,
    HF,
    KEPT,
    PEM,
    PEM_BODY,
    SECRETS,
    SHA1,
    SHA256_B64,
    UUID,
    WKEY,
    all_text,
    config_exchange,
    go_json,
    recognisable,
    unescaped,
)

from wandb_cassettes.redact import (
    API_KEY_PLACEHOLDER,
    REDACTED,
    RULES,
    CassetteScrubber,
    Scrubber,
    SecretFinding,
    SecretRule,
    find_secrets,
    find_secrets_in_interaction,
    is_sensitive_header,
    scrub_interaction,
    scrub_text,
)
from wandb_cassettes.runtime import safe_name
from wandb_cassettes.store import Cassette, Digest, Interaction

KEY = b.API_KEY
NEW_KEY = "wandb_v1_" + "Ab3_" * 19 + "x"  # 86 characters, like keys issued since 2025


def rules_found(text: str) -> list[str]:
    return [f.rule for f in find_secrets(text)]


# -- headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["Authorization", "authorization", "Cookie", "Set-Cookie", "Proxy-Authorization",
     "X-Api-Key", "X-Wandb-Api-Key", "X-Auth-Token"],
)  # fmt: skip
def test_credential_headers_are_dropped(name):
    ix = Interaction("GET", "https://api.wandb.ai/x", {name: ["v"], "Accept": ["*/*"]})
    ix.response_headers = {name: ["v"], "Content-Type": ["application/json"]}
    out = scrub_interaction(ix)
    assert name not in out.request_headers and name not in out.response_headers
    assert out.request_headers["Accept"] == ["*/*"]
    assert out.response_headers["Content-Type"] == ["application/json"]


@pytest.mark.parametrize("name", ["Content-Md5", "X-Goog-Hash", "User-Agent", "X-Wandb-Username"])
def test_ordinary_headers_are_not_sensitive(name):
    assert not is_sensitive_header(name)


def test_scrub_returns_a_copy_and_leaves_the_input_alone():
    ix = b.gql_exchange(
        "Viewer", "query Viewer { viewer { id } }", {}, {"viewer": {"id": "x"}},
        headers={"Authorization": [b.basic_auth()]},
    )  # fmt: skip
    before = dataclasses.replace(ix, request_headers=dict(ix.request_headers))
    out = scrub_interaction(ix, [KEY])
    assert "Authorization" not in out.request_headers
    assert ix == before


# -- the known API key ------------------------------------------------------------------


def test_known_key_is_replaced_everywhere():
    basic = base64.b64encode(f"api:{KEY}".encode()).decode()
    ix = Interaction(
        "POST",
        f"https://api.wandb.ai/graphql?api_key={KEY}",
        {"X-Note": [f"key {KEY}"]},
        json.dumps({"query": "q", "variables": {"k": KEY, "auth": f"Basic {basic}"}}),
        response_headers={"X-Echo": [basic]},
        response_body=f'{{"echo": "{KEY}"}}',
    )
    out = scrub_interaction(ix, [KEY])
    text = all_text(out)
    assert KEY not in text and basic not in text
    assert out.request_headers["X-Note"] == [f"key {API_KEY_PLACEHOLDER}"]
    assert out.response_headers["X-Echo"] == [API_KEY_PLACEHOLDER]
    assert out.response_body == f'{{"echo": "{API_KEY_PLACEHOLDER}"}}'


def test_known_key_is_replaced_in_binary_bodies_too():
    body = b"\xff\x00" + KEY.encode() + b"\xfe"
    out = scrub_interaction(Interaction("PUT", "https://s/x", request_body=body), [KEY])
    assert out.request_body == b"\xff\x00" + API_KEY_PLACEHOLDER.encode() + b"\xfe"


def test_digest_bodies_are_kept_as_they_are():
    digest = Digest.of(b"data")
    ix = Interaction("PUT", "https://s/x", request_body=digest, response_body=digest)
    out = scrub_interaction(ix, [KEY])
    assert out.request_body is digest and out.response_body is digest


def test_short_known_secrets_are_ignored():
    # Replacing "abc" everywhere would corrupt bodies and protect nothing.
    assert scrub_text("abcdef", ["abc"]) == "abcdef"


# -- signed URLs ---------------------------------------------------------------------------


def test_signed_request_uri_keeps_everything_but_the_credentials():
    out = scrub_interaction(b.storage_put(b.signed_url("wandb_artifacts/1/data.txt")))
    assert out.uri == (
        f"{b.STORAGE}/wandb_artifacts/1/data.txt?X-Goog-Algorithm=GOOG4-RSA-SHA256"
        "&X-Goog-Credential=REDACTED&X-Goog-Date=20250101T000000Z&X-Goog-Expires=86400"
        "&X-Goog-SignedHeaders=host&X-Goog-Signature=REDACTED"
    )


def test_urls_in_response_bodies_are_redacted():
    multipart = {
        "uploadID": "u1",
        "uploadUrlParts": [
            {"partNumber": 1, "uploadUrl": b.signed_url("big", "aaaa1111")},
            {"partNumber": 2, "uploadUrl": b.signed_url("big", "bbbb2222")},
        ],
    }
    body = json.dumps(
        {
            "uploadUrl": b.signed_url("small", "cccc3333"),
            "directUrl": "https://bucket.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAEXAMPLE%2F20250101%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20250101T000000Z&X-Amz-Expires=3600&X-Amz-Security-Token=FwoGZX"
            "&X-Amz-SignedHeaders=host&X-Amz-Signature=dddd4444",
            "uploadMultipartUrls": multipart,
            "azure": "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&se=2025-01-01"
            "&sp=rw&sr=b&sig=eeee%2B5555%3D",
        }
    )
    out = scrub_text(body)
    for secret in ("aaaa1111", "bbbb2222", "cccc3333", "dddd4444", "AKIAEXAMPLE", "FwoGZX",
                   "eeee"):  # fmt: skip
        assert secret not in out
    for kept in ("X-Amz-Expires=3600", "se=2025-01-01", "sp=rw", "sv=2022-11-02",
                 "X-Goog-Expires=86400"):  # fmt: skip
        assert kept in out
    assert find_secrets(out) == []


def test_go_escaped_ampersands_still_separate_parameters():
    # wandb's Go server writes "&" in JSON strings as \u0026.
    body = json.dumps({"u": b.signed_url("k", "ffff6666")}).replace("&", "\\u0026")
    out = scrub_text(body)
    assert "ffff6666" not in out and "X-Goog-Expires=86400" in out


@pytest.mark.parametrize("param", ["api_key", "token", "access_token", "apikey"])
def test_token_query_parameters_are_redacted(param):
    assert scrub_text(f"https://x.io/p?a=1&{param}=s3cr3tvalue&b=2") == (
        f"https://x.io/p?a=1&{param}=REDACTED&b=2"
    )


# -- credential formats (support/scrub_samples.py) -------------------------------------------


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_a_run_config_with_every_credential_format_is_scrubbed_to_nothing_recognisable(depth):
    ix = config_exchange(depth)
    before = all_text(ix)
    for name, (secret, _) in SECRETS.items():
        assert secret in unescaped(before), name
    out = scrub_interaction(ix)
    text = all_text(out)
    for name, (_, random_part) in SECRETS.items():
        assert recognisable(random_part, text) == [], name
    assert find_secrets_in_interaction(out) == []
    assert scrub_interaction(out) == out
    # The readable parts stay: the user and host of the database URL, the PEM markers.
    plain = unescaped(text)
    assert "postgresql://trainer:REDACTED@db.internal.example.org:5432/runs" in plain
    assert "-----BEGIN PRIVATE KEY-----" in plain or '"private_key": "REDACTED"' in plain


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_what_a_cassette_must_keep_survives_byte_for_byte(depth):
    ix = config_exchange(depth)
    out = scrub_interaction(ix)
    plain_before, plain_after = unescaped(all_text(ix)), unescaped(all_text(out))
    for name, value in KEPT.items():
        assert plain_before.count(value) == plain_after.count(value) > 0, name


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_the_audit_names_each_credential_and_never_its_value(depth):
    found = find_secrets_in_interaction(config_exchange(depth))
    rules = {f.rule for f in found}
    assert {  # the catalogue's rules, by their ids
        "betterleaks.huggingface-access-token",
        "betterleaks.github-pat",
        "betterleaks.github-app-token",
        "betterleaks.github-fine-grained-pat",
        "betterleaks.openai-api-key",
        "betterleaks.private-key",
        "betterleaks.slack-bot-token",
        "betterleaks.jwt",
    } <= rules
    # ours: W&B keys, HTTP credentials, values under credential-like names
    assert {"url-password", "bearer-credential", "wandb-api-key", "named-secret"} <= rules
    assert {f.where for f in found} == {"request body", "response body"}
    report = "\n".join(str(f) for f in found) + json.dumps([f.__dict__ for f in found])
    for name, (_, random_part) in SECRETS.items():
        assert recognisable(random_part, report, width=6) == [], name
    # Not even a prefix: a finding is a rule, a place, an offset and a length.
    assert all(
        str(f) == f"{f.rule} in {f.where} at offset {f.offset} ({f.length} chars)" for f in found
    )


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_is_found_alone(name):
    """By its shape alone, wherever a cassette holds it: plain, JSON-escaped at any depth,
    in a URL (percent-encoded, before a query), as a file name with an extension."""
    value = FORMATS[name]
    texts = [f"x {value} y", json.dumps({"v": value}), f"\\n{value}\\n"]
    texts += [go_json({"c": go_json({"c": go_json({"v07": {"value": value}})})})]
    if "\n" not in value:
        texts += [f"https://storage.example/b/{quote(value, safe='')}?sig=REDACTED"]
        texts += [json.dumps({"path": f"{value}.txt"}), f"https://s.example/up/{value}.bin?x=1"]
    for text in texts:
        found = find_secrets(text)
        assert found, (name, text)
        assert all("wandb-api-key" in f.rule or "." in f.rule for f in found), found
        out = scrub_text(text)
        assert recognisable(value[8:], out, width=12) == [], (name, text)
        assert find_secrets(out) == [] and scrub_text(out) == out


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("postgresql://trainer:Sup3rSecret@db.example.org:5432/runs", "postgresql://trainer:"),
        ("mysql://root:p%40ss@10.0.0.5/db", "mysql://root:"),
        ("redis://:hunter22@cache.internal:6379/0", "redis://:"),
        ("https://oauth2:glpat-AbCd1234@gitlab.com/org/repo.git", "https://oauth2:"),
        ("amqp://guest:a@b@rabbit.local/", "amqp://guest:"),
    ],
)
def test_a_password_in_a_url_goes_and_user_and_host_stay(url, kept):
    host = url.rsplit("@", 1)[1]
    for text in (url, json.dumps({"u": url}), go_json({"u": go_json({"u": url})})):
        out = scrub_text(text)
        assert f"{kept}REDACTED@{host}" in unescaped(out), out
        assert find_secrets(out) == []
    assert "url-password" in rules_found(url)  # and often the catalogue's rule too


def test_a_url_password_with_go_escaped_characters():
    text = go_json({"db": "postgres://u:a&b<c>d@h.example.org/x"})
    assert "\\u0026" in text
    out = scrub_text(text)
    assert "a\\u0026b" not in out and "postgres://u:REDACTED@h.example.org/x" in out


def test_urls_without_a_password_are_left_alone():
    for text in (
        "https://api.wandb.ai/graphql",
        "http://127.0.0.1:8080/files/e/p/r/file_stream",
        "ssh://git@github.com/org/repo.git",
        "git@github.com:org/repo.git",
        "http://[::1]:8080/x",
        '"url": "http://host:8080", "email": "a@b.com"',
    ):
        assert find_secrets(text) == [], text
        assert scrub_text(text) == text


def test_aws_credentials_under_their_names():
    akid, asec = AKID, GHP[4:] + "/+" + GHP[4:6]  # a made-up secret: 40 base64 characters
    files = f"[default]\naws_access_key_id = {akid}\naws_secret_access_key = {asec}\n"
    boto = f"boto3.client('s3', aws_access_key_id='{akid}', aws_secret_access_key='{asec}')"
    for text in (files, boto):
        out = scrub_text(text)
        assert akid not in out and asec not in out, text
        assert {"betterleaks.aws-access-token", "named-secret"} <= set(rules_found(text))
    # A 40-character mixed string with nothing around it is not a secret by shape.
    alone = json.dumps({"s": ASEC})
    assert find_secrets(alone) == [] and scrub_text(alone) == alone


def test_a_signed_s3_url_keeps_its_path():
    url = (
        "https://bucket.s3.amazonaws.com/AbCdEfGh/IjKlMnOp/QrStUvWx/YzAbCd12/x.bin"
        f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={AKID}%2F20250101%2Fus-east-1"
        "%2Fs3%2Faws4_request&X-Amz-Signature=" + "ab" * 32
    )
    out = scrub_text(url)
    assert out.startswith("https://bucket.s3.amazonaws.com/AbCdEfGh/IjKlMnOp/QrStUvWx/YzAbCd12/")
    assert AKID not in out and "ab" * 32 not in out


def test_gcp_service_account_key_file():
    key_file = {
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": hashlib.sha1(b"kid").hexdigest(),
        "private_key": PEM,
        "client_id": "123456789012345678901",
    }
    for text in (json.dumps(key_file), json.dumps({"v": json.dumps(key_file)}), PEM):
        out = scrub_text(text)
        assert recognisable(PEM_BODY.strip(), out) == [], text
        assert "betterleaks.private-key" in rules_found(text)
        assert find_secrets(out) == []


@pytest.mark.parametrize(
    "text",
    [
        '{"password": "hunter2!"}',
        '{"db_password": "correct horse battery"}',
        "DB_PASSWORD=hunter2hunter2",
        '{"client_secret": "abcdefgh"}',
        "AWS_SECRET_ACCESS_KEY=" + ASEC,
        '{"secretAccessKey": "' + ASEC + '"}',
        '{"api_key": "not-a-known-format-123"}',
        '{"github_token": "abcdef0123456789abcdef"}',
        '{"cfg": "{\\"password\\": \\"hun\\\\\\"ter2\\"}"}',  # an escaped quote inside
        '{"hf_token": {"value": "my-own-token-1234567"}}',  # W&B's config shape
    ],
)
def test_values_under_credential_names_are_secrets(text):
    out = scrub_text(text)
    assert "named-secret" in rules_found(text) or "aws-secret-access-key" in rules_found(text)
    assert find_secrets(out) == []
    for word in ("hunter", "horse", "abcdefgh", "known-format", "abcdef0123", "own-token", "ter2"):
        assert word not in out, out


@pytest.mark.parametrize(
    "text",
    [
        '{"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "[UNK]"}',
        '{"max_new_tokens": "512", "tokenizer": "gpt2"}',
        '{"password_min_length": 8, "secret": null, "use_password": true}',
        '{"token": "$HF_TOKEN", "api_key": "${OPENAI_API_KEY}", "password": "REDACTED"}',
        "mutation M($apiKey: String!, $password: String) { x(input: {apiKey: $apiKey}) }",
        '{"key": "train/loss", "monkey": "business"}',
        '{"private_key_id": "' + SHA1 + '"}',
    ],
)
def test_ordinary_values_under_such_names_are_kept(text):
    assert find_secrets(text) == []
    assert scrub_text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        f'{{"api_key": "{WKEY}"}}',
        f'{{"apiKey": "{WKEY}"}}',
        f"WANDB_API_KEY={WKEY}",
        f"export WANDB_API_KEY={WKEY}",
        f'{{"token": "{WKEY}"}}',
        f'{{"secret": "{WKEY}"}}',
        f'{{"password": "{WKEY}"}}',
        f'{{"key": "{WKEY}"}}',
        f'{{"WANDB_API_KEY": {{"value": "{WKEY}"}}}}',
        f"WANDB_API_KEY=local-{WKEY}",
        f"machine api.wandb.ai login user password={WKEY}",
    ],
)
def test_a_40_hex_value_after_a_key_name_is_a_wandb_key(text):
    assert "wandb-api-key" in rules_found(text)
    assert WKEY not in scrub_text(text)


# -- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (f'{{"key": "{KEY}"}}', "wandb-api-key"),
        (f"WANDB_API_KEY=local-{KEY}", "wandb-api-key"),
        (f"key={NEW_KEY}", "wandb-api-key"),
        (b.basic_auth(), "basic-credential"),
        ("Authorization: Bearer abcdefghijklmnop.qrstu", "bearer-credential"),
        (b.signed_url("x"), "url-credential"),
        ("Cookie: session=abc123", "cookie"),
        ("tok eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlX18 end", "betterleaks.jwt"),
        ("https://hooks.slack.com/services/TUL44LDQBWZ/BB90XYA2CLM/" + GHP[4:28],
         "betterleaks.slack-webhook-url"),
    ],
)  # fmt: skip
def test_secrets_are_found(text, rule):
    assert rule in rules_found(text)
    assert rule not in rules_found(scrub_text(text))


@pytest.mark.parametrize(
    "text",
    [
        hashlib.sha256(b"x").hexdigest(),  # 64 hex
        hashlib.md5(b"x").hexdigest(),  # 32 hex
        KEY,  # 40 hex alone: a commit as often as a key
        KEY + "0",  # 41 hex
        f'"revision": "{KEY}"',
        f'"commit": "{hashlib.sha1(b"x").hexdigest()}"',  # a git commit, not a key
        f"git checkout {KEY}",
        '"digest": "XUFAKrxLKna5cZ2REBfFkg=="',  # md5 base64
        f'"digest": "{SHA256_B64}"',  # sha256 base64
        b.artifact_id(123456),
        b.run_storage_id("team", "proj", "run00001"),
        UUID,
        "Basic information about the run",
        "the Bearer of news",
        "X-Goog-Signature=REDACTED&sig=REDACTED",
        "Cookie: REDACTED",
        "hf_hub_cache and hf_transfer",
        "sk-learn-baseline-experiment-2024",
        "ghp_short",
        "AKIA is not a key id",
        "https://api.wandb.ai/files/team/proj/run00001/file_stream",
    ],
)
def test_lookalikes_are_not_secrets(text):
    assert find_secrets(text) == []
    assert scrub_text(text) == text


def test_the_known_key_is_found_in_any_form():
    scrubber = Scrubber(secrets=(KEY,))
    basic = base64.b64encode(f"api:{KEY}".encode()).decode()
    for text in (f"leaked {KEY} here", f"x-echo: {basic}", f"{basic.rstrip('=')}!"):
        assert [f.rule for f in scrubber.find(text)] == ["wandb-api-key"], text
        assert KEY not in scrubber.scrub_text(text) and basic not in scrubber.scrub_text(text)
    assert find_secrets(f"leaked {KEY} here", scrubber=scrubber) != []
    assert find_secrets(f"leaked {KEY} here") == []  # bare 40 hex, unknown key


def test_findings_name_the_place_and_never_quote_the_secret():
    ix = b.gql_exchange(
        "Viewer", "query Viewer { viewer { id } }", {"apiKey": KEY}, {"viewer": {"id": KEY}},
        headers={"Authorization": [b.basic_auth()], "X-Db-Password": ["hunter2hunter2"]},
    )  # fmt: skip
    ix.uri += f"?api_key={KEY}"
    found = find_secrets_in_interaction(ix, Scrubber(secrets=(KEY,)))
    assert {(f.rule, f.where) for f in found} == {
        ("url-credential", "uri"),
        ("wandb-api-key", "uri"),
        ("sensitive-header", "request header Authorization"),
        ("named-secret", "request header X-Db-Password"),
        ("wandb-api-key", "request body"),
        ("api-key-name", "request body"),  # an "apiKey" field holds a key, whatever its shape
        ("wandb-api-key", "response body"),
    }
    assert all(KEY[:6] not in str(f) and "hunter" not in str(f) for f in found)
    assert SecretFinding("jwt", "uri", 3, 40).preview == "40 chars"


def test_secret_headers_are_redacted_by_name():
    ix = Interaction("GET", "https://x.io/", {"X-Db-Password": ["hunter2hunter2"], "X-Pwd": [""]})
    out = scrub_interaction(ix)
    assert out.request_headers == {"X-Db-Password": [REDACTED], "X-Pwd": [""]}
    assert find_secrets_in_interaction(out) == []


def test_api_key_nodes_in_answers_are_secrets():
    legacy = "1f" * 20
    answer = {
        "viewer": {
            "apiKeys": {"edges": [{"node": {"id": "QXBpS2V5OjE=", "name": legacy}}]},
            "members": [{"apiKey": "cafe" * 10}],
        },
        "result": {"apiKey": {"id": "x", "name": "Key-Name-Abc", "description": "ci"}},
    }
    ix = b.gql_exchange("Viewer", "query Viewer { viewer { id } }", {}, answer)
    assert {f.rule for f in find_secrets_in_interaction(ix)} >= {"api-key-name"}
    out = scrub_interaction(ix)
    text = all_text(out)
    assert legacy not in text and "cafe" * 10 not in text and "Key-Name-Abc" not in text
    assert find_secrets_in_interaction(out) == []


def test_scrubbed_real_shaped_traffic_audits_clean_and_scrubbing_is_idempotent():
    flow = b.clean_flow().interactions
    flow[0].request_headers["Authorization"] = [b.basic_auth()]
    for ix in flow:
        once = scrub_interaction(ix, [KEY])
        assert find_secrets_in_interaction(once) == []
        assert scrub_interaction(once, [KEY]) == once


def test_every_rule_leaves_its_own_replacement_alone_and_cites_its_source():
    for rule in RULES:
        assert list(rule.spans(rule.replacement)) == [], rule.name
        assert rule.source, rule.name


# -- user rules and hooks ----------------------------------------------------------------------


def test_user_patterns_extend_the_defaults():
    corp = "corp-" + "0a1b2c3d" * 4
    scrubber = Scrubber.build(patterns=[r"corp-[0-9a-f]{32}", r"pin=(?P<secret>\d{6})\b"])
    text = f"token {corp} and pin=123456 and {HF}"
    assert [f.rule for f in scrubber.find(text)] == [
        "user-pattern",
        "user-pattern",
        "betterleaks.huggingface-access-token",
    ]
    out = scrubber.scrub_text(text)
    assert out == "token REDACTED and pin=REDACTED and REDACTED"
    assert scrubber.find(out) == [] and scrubber.scrub_text(out) == out
    # module-level functions take the scrubber too; the defaults do not know the pattern
    assert scrub_text(text, scrubber=scrubber) == out
    assert find_secrets(f"token {corp}") == []
    assert find_secrets(f"token {corp}", scrubber=scrubber) != []


def test_user_rules_alone_and_ready_made_rules():
    rule = SecretRule("ticket", re.compile(r"TICKET-(?P<secret>\d+)"), replacement="<TICKET>")
    scrubber = Scrubber.build([rule], defaults=False)
    assert scrubber.scrub_text(f"TICKET-42 {HF}") == f"TICKET-<TICKET> {HF}"


def test_hooks_run_in_order_before_scrubbing_and_may_drop_an_exchange():
    seen: list[str] = []

    def tag(ix: Interaction) -> Interaction:
        seen.append("tag")
        return dataclasses.replace(ix, request_headers={**ix.request_headers, "X-Leak": [HF]})

    def drop_health(ix: Interaction) -> Interaction | None:
        seen.append("drop")
        return None if ix.uri.endswith("/healthz") else ix

    scrubber = Scrubber.build(before_record=[tag, drop_health], secrets=[KEY])
    kept = scrubber.record(Interaction("GET", "https://api.wandb.ai/graphql"))
    assert kept is not None and kept.request_headers["X-Leak"] == [REDACTED]  # scrubbed after
    assert scrubber.record(Interaction("GET", "https://api.wandb.ai/healthz")) is None
    assert seen == ["tag", "drop", "tag", "drop"]
    session = CassetteScrubber(scrubber)
    assert session.record(Interaction("GET", "https://api.wandb.ai/healthz")) is None


def test_a_cassette_session_scrubs_secrets_personal_data_and_metadata():
    session = CassetteScrubber(Scrubber(secrets=(KEY,)))
    viewer = b.gql_exchange(
        "Viewer", "query Viewer { viewer { id } }", {},
        {"viewer": {"username": "jdoe", "email": "jane.doe@acme-research.io", "name": "Jane Doe"}},
        headers={"X-Wandb-User-Email": ["jane.doe@acme-research.io"]},
    )  # fmt: skip
    first = Interaction("POST", "https://api.wandb.ai/graphql", request_body='{"note": "Jane Doe"}')
    recorded = [session.record(first), session.record(viewer)]
    cassette = Cassette([ix for ix in recorded if ix is not None], {"note": f"key {KEY}"})
    done = session.finish(cassette)
    text = json.dumps([all_text(ix) for ix in done.interactions]) + json.dumps(done.metadata)
    assert "Jane" not in text and "jane.doe" not in text and KEY not in text
    assert '"note": "Recording User"' in str(done.interactions[0].request_body)
    assert done.metadata == {"note": f"key {API_KEY_PLACEHOLDER}"}


# -- names ------------------------------------------------------------------------------------


def test_cassette_names_lose_their_secrets_and_stay_distinct():
    a, c = safe_name(f"test_x[{HF}]"), safe_name(f"test_x[{GHP}]")
    assert HF[3:] not in a and GHP[4:] not in c and a != c
    assert a.startswith("test_x[REDACTED]-") and len(a.rsplit("-", 1)[1]) == 8
    assert "jane" not in safe_name("test_x[jane.doe@acme-research.io]")
    assert KEY not in safe_name(f"test_x[{KEY}]", [KEY])
    assert safe_name(f"test_x[{SHA1}]").startswith(f"test_x[{SHA1}]")  # a commit is a commit
    long = safe_name("t[" + "x/" * 200 + "]")
    assert len(long) == 200 and long[-9] == "-"  # the hash suffix survives the cap


# -- properties ------------------------------------------------------------------------------

# No hex letters or digits, so the key stays bounded; no ":" or "=" so the text cannot
# read as a named field.
_FILLER = st.text(
    st.characters(codec="utf-8", exclude_characters="0123456789abcdefABCDEF:="),
    max_size=80,
)
_KEYS = st.text("0123456789abcdef", min_size=40, max_size=40)
# On-prem style secrets no pattern knows: only the explicit replacement removes them.
_ANY_KEYS = st.one_of(_KEYS, st.from_regex(r"[A-Za-z0-9_]{40,60}", fullmatch=True))


@settings(max_examples=200, deadline=None)
@given(
    before=_FILLER,
    after=_FILLER,
    key=_ANY_KEYS,
    where=st.sampled_from(["uri", "header", "request", "response"]),
)
def test_scrubbed_interaction_never_contains_the_key(before, after, key, where):
    text = before + key + after
    ix = Interaction("POST", "https://api.wandb.ai/graphql")
    if where == "uri":
        ix.uri += "?q=" + text
    elif where == "header":
        ix.request_headers = {"X-Thing": [text]}
    elif where == "request":
        ix.request_body = text
    else:
        ix.response_body = text.encode()
    out = scrub_interaction(ix, [key])
    assert key not in all_text(out)


@settings(max_examples=200, deadline=None)
@given(
    before=_FILLER,
    end=st.sampled_from(["", " ", "\n", "&", ",", ";", ")"]),
    after=_FILLER,
    key=_KEYS,
    name=st.sampled_from(["api_key", "apiKey", "WANDB_API_KEY", "token", "secret", "key"]),
    form=st.sampled_from(['"{n}": "{k}"', "{n}={k}", '\\"{n}\\": \\"{k}\\"']),
)
def test_a_40_hex_key_after_a_key_name_is_always_found(before, end, after, key, name, form):
    # A key is a token: glued to a letter ("key=<40 hex>G") it is a 41-character word.
    assume(end or not (after[:1].isalnum() or after[:1] == "_"))
    text = before + form.format(n=name, k=key) + end + after
    at = text.index(key)
    found = find_secrets(text)
    assert any(f.offset <= at and at + len(key) <= f.offset + f.length for f in found)
    assert key not in scrub_text(text)


@settings(max_examples=200, deadline=None)
@given(before=_FILLER, after=_FILLER, key=_KEYS)
def test_a_bare_40_hex_value_is_left_alone(before, after, key):
    text = before + key + after
    assert find_secrets(text) == [] and scrub_text(text) == text


# The formats found by shape alone (a bare 40-hex key, an AWS secret far from its key id,
# a password outside a URL need their context, which other tests give them).
_SHAPED = {
    name: SECRETS[name]
    for name in ("hf", "ghp", "ghs", "github_pat", "sk-proj", "sk", "slack", "jwt")
} | {
    "wandb-v1": SECRETS["wandb-v1"],
    "pem": (PEM, PEM_BODY.strip()),
    "db-url": (f"postgresql://u:{DB_PASSWORD}@h.example.org/db", DB_PASSWORD),
}
_SECRET_VALUES = st.sampled_from([v for v, _ in _SHAPED.values()])
_NAMES = st.sampled_from(["x", "model", "hf_token", "password", "note", "aws_secret_access_key"])


@settings(max_examples=150, deadline=None)
@given(
    config=st.dictionaries(_NAMES, st.one_of(_SECRET_VALUES, st.text(max_size=20)), max_size=5),
    depth=st.integers(0, 2),
    go=st.booleans(),
)
def test_secrets_in_configs_at_any_depth_are_scrubbed(config, depth, go):
    dump = go_json if go else json.dumps
    value: object = {k: {"value": v} for k, v in config.items()}
    for _ in range(depth):
        value = dump(value)
    text = dump({"variables": {"config": value}})
    out = scrub_text(text)
    assert find_secrets(out) == [] and scrub_text(out) == out
    for secret, random_part in _SHAPED.values():
        if secret in config.values():
            assert recognisable(random_part, out) == []


_PIECES = st.sampled_from(
    ["hf_", "password", "Password", '"', '\\"', "\\\\", ":", "=", " ", "@", "/", "://",
     "postgres://u:", "Bearer ", "Basic ", "-----BEGIN PRIVATE KEY-----",
     "-----END PRIVATE KEY-----", "\\n", "AKIA", "apiKey", "api_key", "token", "sk-", "ghp_",
     "xoxb-", "eyJ", ".", "REDACTED", "<WANDB_API_KEY>", '{"value": ', "{", "}", "local-",
     "key", "secret", "%40", "\\u0026", "&", "?", "sig=", "wandb_v1_", "github_pat_", "-"]
)  # fmt: skip
_RANDOM = st.text(st.sampled_from("aAbB0123456789fxyzXYZ+/=-_.:"), max_size=50)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_PIECES, _RANDOM), max_size=25).map("".join))
def test_scrubbing_secret_shaped_text_is_idempotent_and_audits_clean(text):
    once = scrub_text(text)
    assert find_secrets(once) == []
    assert scrub_text(once) == once


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_scrubbed_text_is_clean_and_stable(text):
    once = scrub_text(text)
    assert find_secrets(once) == []
    assert scrub_text(once) == once


# The fast forms of two text passes (issue 26's speed: a binary download is searched at
# ~10 MB/s): same results as the plain ones on any text, ASCII, latin-1 or beyond (the
# Kelvin sign and the long s fold onto "k" and "s" case-insensitively).
_NAMEY = st.lists(
    st.sampled_from(["key", "KEY", "\u212aey", "Pa\u017f\u017fword", "token", "pwd", "Auth",
                     "credential", "s", ":", "=", " ", "\t", '"', "'", "\\", "\xff", "\xe9",
                     "-", "/", "[", "x"]),
    max_size=30,
).map("".join)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(_NAMEY)
def test_secret_names_are_found_alike_in_a_lowercased_copy(text):
    from wandb_cassettes.redact import _rules

    def spans(matches):
        return [(m.span(), m.span("word"), m.group("sep")) for m in matches]

    assert spans(_rules._name_ends(text)) == spans(_rules._NAME_END_RE.finditer(text))


@settings(max_examples=300, deadline=None)
@given(_NAMEY)
def test_separator_views_translate_alike_as_bytes(text):
    from wandb_cassettes.redact import _rules

    table = {ord(c): ord(" ") for c in "[](){}<>,/?&#|!-"}
    assert _rules._CharMap(table)(text) == text.translate(table)


_HOOK_TOKEN = "Zq9" + "x7Lm2Pk4" * 8  # made up, 67 characters
WEBHOOKS = [
    f"https://discord.com/api/webhooks/123456789012345678/{_HOOK_TOKEN}",
    f"https://discordapp.com/api/webhooks/123456789012345678/{_HOOK_TOKEN}?wait=true",
    f"https://contoso.webhook.office.com/webhookb2/a1b2@c3d4/IncomingWebhook/{_HOOK_TOKEN}/e5",
    f"https://chat.example.com/hooks/{_HOOK_TOKEN}",
]


@pytest.mark.parametrize("url", WEBHOOKS)
def test_a_webhook_url_is_a_secret_whatever_the_service(url):
    """The path after a hooks segment is the credential (whoever holds it posts as the hook),
    found in a run's config at any depth; the host stays readable."""
    for text in (f"x {url} y", json.dumps({"notify": url}), go_json({"c": go_json({"u": url})})):
        assert [f.rule for f in find_secrets(text)] == ["webhook-url"], text
        out = scrub_text(text)
        assert _HOOK_TOKEN not in out and "REDACTED" in out
        assert url.split("/")[2] in out  # the host
        assert find_secrets(out) == [] and scrub_text(out) == out


@pytest.mark.parametrize(
    "url",
    [
        "https://docs.example.com/guides/webhooks/setting-up-notifications",
        "https://hooks.example.com/hooks/v2",
        "https://example.com/api/webhooks/list?page=2",
    ],
)
def test_a_page_about_webhooks_is_no_secret(url):
    assert find_secrets(json.dumps({"see": url})) == []
