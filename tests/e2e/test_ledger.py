"""The ledger on a real recording: the SDK through the relay against the stand-in, read live and
from the file, agree.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence

import pytest

from wandb_cassettes.audit import audit_paths
from wandb_cassettes.ownership import Ledger
from wandb_cassettes.store import load

# -- against the real SDK -----------------------------------------------------------------

_SDK_FLOW = """
import json, os, sys, tempfile
from pathlib import Path
from wandb_cassettes.store import Cassette, save
from wandb_cassettes.ownership import Ledger
from wandb_cassettes.record import Relay
from wandb_cassettes_standin.app import StandinBackend
from wandb_cassettes.runtime import sdk_env

out, tmp = sys.argv[1], tempfile.mkdtemp()
with StandinBackend() as wb, Relay(upstream=wb.base_url) as relay:
    cas = Cassette(metadata={"upstream": wb.base_url})
    live = Ledger()
    relay.record(cas, secrets=[wb.api_key]).observers.append(live.observe)
    os.environ.update(sdk_env(relay.url, wb.api_key, tmp))
    import wandb
    run = wandb.init(entity=wb.entity, project="proj", id="run00001")
    data = Path(tmp) / "data.txt"
    for text in ("one", "two"):
        data.write_text(text)
        art = wandb.Artifact("ds", type="dataset")
        art.add_file(str(data))
        run.log_artifact(art)
        art.wait()
    run.finish()
    api = wandb.Api()
    api.artifact(f"{wb.entity}/proj/ds:v0").delete(delete_aliases=True)
    api.run(f"{wb.entity}/proj/run00001").delete(delete_artifacts=True)
    api.artifact_collection("dataset", f"{wb.entity}/proj/ds").delete()
    relay.activate(None)
    save(cas, out)
    print(json.dumps({
        "api_key": wb.api_key,
        "live": wb.live(),
        "events": [[e.index, e.change, e.resource.name] for e in live.events],
    }))
"""


@pytest.mark.slow
def test_real_sdk_flow_recorded_through_the_relay(tmp_path):
    path = tmp_path / "flow.yaml"
    done = subprocess.run(
        [sys.executable, "-c", _SDK_FLOW, str(path)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["live"] == {"runs": [], "artifacts": [], "collections": []}
    offline = Ledger.from_cassette(load(path))
    events = [[e.index, e.change, e.resource.name] for e in offline.events]
    assert events == result["events"]  # live on the record path == offline over the file
    changes = {(change, name) for _, change, name in events}
    assert changes == {
        (change, f"standin-user/proj/{name}")
        for change in ("created", "deleted")
        for name in (
            "run00001",
            "ds",
            "ds:v0",
            "ds:v1",
            *(f"run00001/{f}" for f in _run_files(events)),
        )
    }
    assert {"config.yaml", "wandb-summary.json"} <= _run_files(events)
    assert offline.leaks() == []
    assert audit_paths([path]).exit_code == 0
    assert result["api_key"] not in path.read_text()


def _run_files(events: Sequence[Sequence[object]]) -> set[str]:
    prefix = "standin-user/proj/run00001/"
    return {str(name)[len(prefix) :] for _, _, name in events if str(name).startswith(prefix)}
