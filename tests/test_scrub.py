"""Scrubbing secrets out of interactions, and finding the ones left."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import time

import cassette_builders as b
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wandb_cassettes.cassette import Digest, Interaction
from wandb_cassettes.scrub import (
    API_KEY_PLACEHOLDER,
    RULES,
    find_secrets,
    find_secrets_in_interaction,
    is_sensitive_header,
    scrub_interaction,
    scrub_text,
)

KEY = b.API_KEY
NEW_KEY = "wandb_v1_" + "Ab3_" * 19 + "x"  # 86 characters, like keys issued since 2025


def rules_found(text: str) -> list[str]:
    return [f.rule for f in find_secrets(text)]


def all_text(ix: Interaction) -> str:
    """Everything of ``ix`` a cassette would show, as one string."""
    return json.dumps(ix.to_vcr(), default=lambda o: o.decode("utf-8", "replace"))


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
        ("tok eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlX18 end", "jwt"),
    ],
)
def test_secrets_are_found(text, rule):
    assert rule in rules_found(text)
    assert rule not in rules_found(scrub_text(text))


@pytest.mark.parametrize(
    "text",
    [
        hashlib.sha256(b"x").hexdigest(),  # 64 hex
        hashlib.md5(b"x").hexdigest(),  # 32 hex
        KEY + "0",  # 41 hex is no key
        '"digest": "XUFAKrxLKna5cZ2REBfFkg=="',  # md5 base64
        b.artifact_id(123456),
        b.run_storage_id("team", "proj", "run00001"),
        f'"commit": "{hashlib.sha1(b"x").hexdigest()}"',  # a git commit, not a key
        "Basic information about the run",
        "the Bearer of news",
        "X-Goog-Signature=REDACTED&sig=REDACTED",
        "Cookie: REDACTED",
    ],
)
def test_lookalikes_are_not_secrets(text):
    assert find_secrets(text) == []
    assert scrub_text(text) == text


def test_findings_name_the_place_and_never_quote_the_secret():
    ix = b.gql_exchange(
        "Viewer", "query Viewer { viewer { id } }", {"k": KEY}, {"viewer": {"id": KEY}},
        headers={"Authorization": [b.basic_auth()]},
    )  # fmt: skip
    ix.uri += f"?api_key={KEY}"
    found = find_secrets_in_interaction(ix)
    assert {(f.rule, f.where) for f in found} == {
        ("url-credential", "uri"),
        ("wandb-api-key", "uri"),
        ("sensitive-header", "request header Authorization"),
        ("wandb-api-key", "request body"),
        ("wandb-api-key", "response body"),
    }
    assert all(KEY not in str(f) for f in found)


def test_scrubbed_real_shaped_traffic_audits_clean_and_scrubbing_is_idempotent():
    flow = b.clean_flow().interactions
    flow[0].request_headers["Authorization"] = [b.basic_auth()]
    for ix in flow:
        once = scrub_interaction(ix, [KEY])
        assert find_secrets_in_interaction(once) == []
        assert scrub_interaction(once, [KEY]) == once


def test_every_rule_leaves_its_own_replacement_alone():
    for rule in RULES:
        assert not list(rule.matches(rule.replacement))


def test_scrubbing_a_large_body_is_fast():
    rows = [
        {"_step": i, "loss": i / 3, "_timestamp": 1.7e9 + i, "t": "hello world"}
        for i in range(20_000)
    ]
    body = json.dumps(rows)  # ~1.5 MB of file_stream-like JSON
    start = time.perf_counter()
    scrub_interaction(
        Interaction("POST", "https://api.wandb.ai/files/e/p/r/file_stream", request_body=body),
        [KEY],
    )
    assert time.perf_counter() - start < 1.0


# -- properties ------------------------------------------------------------------------------

# No hex letters or digits, so the key stays bounded; no ":" or "=" so the text cannot
# read as a hash field ("commit": ...).
_FILLER = st.text(
    st.characters(blacklist_characters="0123456789abcdefABCDEF:=", blacklist_categories=("Cs",)),
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
@given(before=_FILLER, after=_FILLER, key=_KEYS)
def test_find_secrets_finds_any_inserted_key(before, after, key):
    found = find_secrets(before + key + after)
    assert any(f.rule == "wandb-api-key" and f.offset == len(before) for f in found)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_scrubbed_text_is_clean_and_stable(text):
    once = scrub_text(text)
    assert find_secrets(once) == []
    assert scrub_text(once) == once
