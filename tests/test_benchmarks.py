import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_throughput_benchmark_runs_and_ends_with_its_json_summary():
    args = ["--steps", "1", "--rounds", "1", "--batch-size", "4", "--length", "8",
            "--decode-length", "6", "--decode-batch", "2"]  # fmt: skip
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "throughput.py"), *args],
        capture_output=True, text=True, timeout=1200, cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("train_ratio_vs_keras_hub", "decode_cache_speedup", "mfu"):
        assert summary[key] > 0, key
    models = {(row["model"], row["xla"]) for row in summary["train"]}
    assert ("keras_hub", True) in models and ("sharedformer_unshared", False) in models
    assert summary["decode"]["output_tokens"] == 6
    assert 0 < summary["mfu"] < 1
