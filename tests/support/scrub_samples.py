"""Secrets where people put them: a run config holding a made-up value of every credential
format beside what a cassette must keep, as W&B's traffic carries it; and how to tell
what of a secret is still recognisable in a text.
"""

from __future__ import annotations

import base64
import hashlib
import json

from support import cassette_builders as b
from support import credentials
from wandb_cassettes.store import Interaction


def all_text(ix: Interaction) -> str:
    """Everything of ``ix`` a cassette would show, as one string."""
    return json.dumps(ix.to_vcr(), default=lambda o: o.decode("utf-8", "replace"))


# -- credential formats ---------------------------------------------------------------------

# Made-up, well-formed values (tests/credentials.py): each has its format's real shape
# and random characters; none is a live credential.
FORMATS = credentials.formats()
HF = FORMATS["huggingface-token"]
GHP = FORMATS["github-pat"]
GHS = FORMATS["github-app-token"]
PAT = FORMATS["github-fine-grained-pat"]
SK_PROJ = FORMATS["openai-project-key"]
SK_OLD = "sk" + "-" + GHP[4:24] + "T3Blbk" + "FJ" + GHP[20:40]  # "sk-" + 20 + marker + 20
# Made up, of the shape of an AWS access key id: an id, no secret by itself (the catalogue
# flags it next to its secret, test_aws_credentials_under_their_names), so not in SECRETS.
AKID = "AKIA" + "QWB5PDKH" + "XMN2RTZ7"
ASEC = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
SLACK = FORMATS["slack-bot-token"]
JWT = FORMATS["jwt"]
WKEY = "9f3c2a7b5e1d4c8a" + "6b0e2f4a8c1d3e5f7a9b2c4d"  # a legacy W&B key: 40 hex
WKEY_V1 = FORMATS["wandb-v1-key"]
DB_PASSWORD = "Sup3r" + "&Secret!pw"
PEM = FORMATS["private-key"]
PEM_BODY = PEM.split("-----\n", 1)[1].rsplit("\n-----", 1)[0] + "\n"

#: Each secret with the part of it that must not survive (the random part).
SECRETS = {
    "hf": (HF, HF[3:]),
    "ghp": (GHP, GHP[4:]),
    "ghs": (GHS, GHS[4:]),
    "github_pat": (PAT, PAT[11:]),
    "sk-proj": (SK_PROJ, SK_PROJ[8:]),
    "sk": (SK_OLD, SK_OLD[3:]),
    "aws-secret": (ASEC, ASEC),
    "slack": (SLACK, SLACK[5:]),
    "jwt": (JWT, JWT[3:]),
    "wandb": (WKEY, WKEY),
    "wandb-v1": (WKEY_V1, WKEY_V1[9:]),
    "db-password": (DB_PASSWORD, DB_PASSWORD),
    "pem": (PEM_BODY, PEM_BODY.strip()),
}

SHA1 = hashlib.sha1(b"commit").hexdigest()
REVISION = hashlib.sha1(b"model revision").hexdigest()
SHA256 = hashlib.sha256(b"weights").hexdigest()
MD5 = hashlib.md5(b"weights").hexdigest()
SHA256_B64 = base64.b64encode(hashlib.sha256(b"weights").digest()).decode()
MD5_B64 = base64.b64encode(hashlib.md5(b"weights").digest()).decode()
UUID = "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b"

#: What a cassette must keep byte for byte (the live request carries it too).
KEPT = {
    "commit": SHA1,
    "model_revision": REVISION,
    "weights_sha256": SHA256,
    "weights_md5": MD5,
    "digest": SHA256_B64,
    "md5_b64": MD5_B64,
    "writer_id": UUID,
    "artifact": b.artifact_id(123456),
    "run": b.run_storage_id("team", "proj", "run00001"),
    "pad_token": "<|endoftext|>",
    "eos_token": "</s>",
    "tokenizer": "bert-base-uncased",
    "model": "meta-llama/Llama-2-7b-hf",
    "optimizer": "sk-learn-baseline-experiment-2024",
    "token_limit": "$HF_TOKEN",
}


def run_config() -> dict[str, object]:
    """A training config of the kind people log, every credential format in it."""
    return {
        "hf_token": HF,
        "github": {"token": GHP, "app": GHS},
        "github_pat": PAT,
        "openai_api_key": SK_PROJ,
        "legacy_openai": SK_OLD,
        "aws_access_key_id": AKID,
        "aws_secret_access_key": ASEC,
        "database_url": f"postgresql://trainer:{DB_PASSWORD}@db.internal.example.org:5432/runs",
        "gcp_service_account": {
            "type": "service_account",
            "project_id": "demo-project",
            "private_key": PEM,
        },
        "slack": SLACK,
        "auth_header": f"Bearer {JWT}",
        "WANDB_API_KEY": WKEY,
        "new_wandb_key": WKEY_V1,
        **KEPT,
    }


def go_json(value: object) -> str:
    """JSON as wandb-core (Go) writes it: <, > and & escaped as \\u003c, \\u003e, \\u0026."""
    return json.dumps(value).replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def config_exchange(depth: int) -> Interaction:
    """UpsertBucket carrying the config as W&B does (``{"k": {"value": v}}``, a JSON string).

    ``depth`` 0: the config as an object; 1: as a JSON string (wandb-core's
    ``config`` variable); 2: that string inside another JSON string.
    """
    config = {k: {"value": v} for k, v in run_config().items()}
    wrapped: object = config
    for _ in range(depth):
        wrapped = go_json(wrapped)
    variables = {"name": "run00001", "project": "proj", "entity": "team", "config": wrapped}
    ix = b.gql_exchange("UpsertBucket", b.UPSERT_BUCKET_GQL, variables, {})
    ix.request_body = go_json(json.loads(str(ix.request_body)))
    ix.response_body = go_json(
        {"data": {"upsertBucket": {"bucket": {"config": wrapped}, "inserted": True}}}
    )
    return ix


def unescaped(text: str) -> str:
    for _ in range(3):
        text = (
            text.replace("\\u0026", "&")
            .replace("\\u003c", "<")
            .replace("\\u003e", ">")
            .replace("\\n", "\n")
            .replace('\\"', '"')
            .replace("\\\\", "\\")
        )
    return text.replace("\\", "")


def recognisable(secret: str, text: str, width: int = 8) -> list[str]:
    """The ``width``-character pieces of ``secret`` that occur in ``text`` (raw or unescaped)."""
    plain = unescaped(text)
    pieces = {secret[i : i + width] for i in range(max(1, len(secret) - width + 1))}
    return sorted(p for p in pieces if p in text or p in plain)
