"""Made-up, well-formed credentials of many formats, and the W&B key's simple encodings.

Each value has its format's published shape (prefix, alphabet, length) and random
characters from a seeded generator, so that it is no real credential, a catalogue's
entropy filters take it for one, and no secret scanner reads this file as a leak
(nothing here is a credential until run time). Neutral names: the tests put them
under keys that say nothing (``v07``), so that only the value's shape can tell.
"""

from __future__ import annotations

import base64
import codecs
import itertools
import random
import string

_ALNUM = string.ascii_letters + string.digits
_LOWER_ALNUM = string.ascii_lowercase + string.digits
_HEX = "0123456789abcdef"
_WORD = _ALNUM + "_"
_TOKEN = _WORD + "-"
_BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"


def _r(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _pem(rng: random.Random) -> str:
    lines = [_r(rng, _ALNUM + "+/", 64) for _ in range(6)]
    label = "PRIVATE" + " KEY"
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def _slack(rng: random.Random) -> str:
    ids = (_r(rng, string.digits, 12), _r(rng, string.digits, 13), _r(rng, _ALNUM, 24))
    return "xo" + "xb-" + "-".join(ids)


def _jwt(rng: random.Random) -> str:
    def part(data: str) -> str:
        return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")

    head = part('{"alg":"HS256","typ":"JWT"}')
    body = part('{"sub":"' + _r(rng, _ALNUM, 12) + '","exp":1900000000}')
    return f"{head}.{body}.{_r(rng, _TOKEN, 43)}"


def formats(seed: int = 26) -> dict[str, str]:
    """Format name -> a made-up value of that format (the same for the same seed)."""
    rng = random.Random(seed)
    r = lambda alphabet, n: _r(rng, alphabet, n)  # noqa: E731
    return {
        "google-api-key": "AI" + "za" + r(_TOKEN, 35),
        "gitlab-pat": "gl" + "pat-" + r(_TOKEN, 20),
        "stripe-live-key": "sk" + "_live_" + r(_ALNUM, 24),
        "pypi-upload-token": "py" + "pi-AgEIcHlwaS5vcmc" + r(_TOKEN, 70),
        "github-pat": "gh" + "p_" + r(_ALNUM, 36),
        "github-app-token": "gh" + "s_" + r(_ALNUM, 36),
        "github-fine-grained-pat": "git" + "hub_pat_" + r(_ALNUM, 22) + "_" + r(_ALNUM, 59),
        "huggingface-token": "h" + "f_" + r(string.ascii_letters, 34),
        "slack-bot-token": _slack(rng),
        "anthropic-api-key": "sk" + "-ant-api03-" + r(_TOKEN, 93) + "AA",
        "openai-project-key": "sk" + "-proj-" + r(_TOKEN, 74) + "T3Blbk" + "FJ" + r(_TOKEN, 74),
        "sendgrid-api-key": "S" + "G." + r(_TOKEN, 22) + "." + r(_TOKEN, 43),
        "npm-token": "np" + "m_" + r(_ALNUM, 36),
        "digitalocean-pat": "do" + "p_v1_" + r(_HEX, 64),
        "shopify-access-token": "sh" + "pat_" + r(_HEX, 32),
        "linear-api-key": "li" + "n_api_" + r(_ALNUM, 40),
        "doppler-token": "dp" + ".pt." + r(_ALNUM, 43),
        "pulumi-token": "pu" + "l-" + r(_HEX, 40),
        "postman-api-key": "PM" + "AK-" + r(_HEX, 24) + "-" + r(_HEX, 34),
        "databricks-token": "da" + "pi" + r(_HEX, 32),
        "dynatrace-token": "dt" + "0c01." + r(_ALNUM, 24) + "." + r(_ALNUM, 64),
        "rubygems-key": "ruby" + "gems_" + r(_HEX, 48),
        "sentry-user-token": "sn" + "tryu_" + r(_HEX, 64),
        "age-secret-key": "AGE-" + "SECRET-KEY-1" + r(_BECH32, 58),
        "twilio-api-key": "S" + "K" + r(_HEX, 32),
        "grafana-service-account-token": "gl" + "sa_" + r(_ALNUM, 32) + "_" + r(_HEX, 8),
        "replicate-token": "r" + "8_" + r(_ALNUM, 37),
        "groq-api-key": "gs" + "k_" + r(_ALNUM, 52),
        "perplexity-api-key": "pp" + "lx-" + r(_ALNUM, 48),
        "readme-api-key": "rd" + "me_" + r(_LOWER_ALNUM, 70),
        "dockerhub-pat": "dc" + "kr_pat_" + r(_TOKEN, 27),
        "supabase-token": "sb" + "p_" + r(_LOWER_ALNUM, 40),
        "openrouter-key": "sk" + "-or-v1-" + r(_HEX, 64),
        "langsmith-token": "ls" + "v2_pt_" + r(_HEX, 32) + "_" + r(_HEX, 10),
        "vault-token": "hv" + "s." + r(_TOKEN, 95),
        "heroku-api-key": "HR" + "KU-AA" + r(_TOKEN, 58),
        "wandb-v1-key": "wa" + "ndb_v1_" + r(_WORD, 77),
        "jwt": _jwt(rng),
        "private-key": _pem(rng),
        # The other half of a pair, which the catalogue reports only beside its partner.
        "alibaba-access-key-id": "LT" + "AI" + r(_ALNUM, 20),
        "razorpay-key-id": "rz" + "p_live_" + r(_ALNUM, 14),
    }


#: Formats whose value can be a file name (no "/", no newline, at most 255 bytes).
def file_name_safe(values: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in values.items() if "/" not in v and "\n" not in v and len(v) < 200}


def key_encodings(key: str) -> dict[str, str]:
    """The W&B key in the simple encodings a test can produce (each alone in a value)."""
    raw = key.encode()
    return {
        "key-base64": base64.b64encode(raw).decode(),
        "key-base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "key-hex": raw.hex(),
        "key-upper": key.upper(),
        "key-swapcase": key.swapcase(),
        "key-base32": base64.b32encode(raw).decode(),
        "key-rot13": codecs.encode(key, "rot13"),
        "key-reversed": key[::-1],
        "key-dashed": "-".join(key[i : i + 4] for i in range(0, len(key), 4)),
        "key-spaced": " ".join(key),
        "key-percent-escaped": "".join(f"%{b:02X}" for b in raw),
        "key-x-escaped": "".join(f"\\x{b:02x}" for b in raw),
        "key-utf16": key.encode("utf-16-le").decode("latin-1"),
        "key-base85": base64.b85encode(raw).decode(),
        "key-base64-twice": base64.b64encode(base64.b64encode(raw)).decode(),
        "key-reversed-base64": base64.b64encode(raw[::-1]).decode(),
        # The random part alone, after a prefix (the stand-in's "standin-", W&B's "local-").
        "key-body-base64": base64.b64encode(_body(key).encode()).decode(),
        "key-body-hex": _body(key).encode().hex(),
        "key-body-base32": base64.b32encode(_body(key).encode()).decode(),
    }


def _body(key: str) -> str:
    return key.replace("_", "-").rsplit("-", 1)[-1]


def key_pieces(key: str, parts: int = 3, *, reverse: bool = False) -> list[str]:
    """The key cut in ``parts`` pieces (each reversed with ``reverse``), as config values."""
    cuts = [len(key) * i // parts for i in range(parts + 1)]
    pieces = [key[a:b] for a, b in itertools.pairwise(cuts)]
    return [p[::-1] for p in pieces] if reverse else pieces


def key_halves(key: str, cut: int | None = None) -> tuple[str, str]:
    """The key cut in two (by default in the middle), as two history rows would hold it."""
    cut = len(key) // 2 if cut is None else cut
    return key[:cut], key[cut:]
