"""Two `apps/translate.py train --strategy multi_worker` processes on
localhost (MultiWorkerMirroredStrategy over TF_CONFIG)."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest

from sharedformer_tf.data import builtin_corpus

# Several processes or devices: run by `make test-distributed` (CI runs both).
pytestmark = pytest.mark.distributed

ROOT = pathlib.Path(__file__).resolve().parents[2]
APP = str(ROOT / "apps" / "translate.py")
FLAGS = ["--preset", "tiny", "--layers", "2", "--sharing", "all", "--max-length", "24",
         "--batch-size", "8", "--strategy", "multi_worker"]  # fmt: skip


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_cluster(outs, *args, ports=None, extra=None):
    """Starts one worker per entry of `outs` (its --out); returns the
    processes. `extra[i]` adds flags to worker i."""
    ports = ports or free_ports(len(outs))
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    workers = []
    for index, out in enumerate(outs):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1",
                   TF_CONFIG=json.dumps({"cluster": cluster,
                                         "task": {"type": "worker", "index": index}}))  # fmt: skip
        command = [sys.executable, APP, "train", "--out", str(out), *args, *FLAGS]
        command += (extra or {}).get(index, [])
        pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        workers.append(subprocess.Popen(command, cwd=ROOT, env=env, **pipes))
    return workers


def finish(workers, timeout=600):
    results = []
    for worker in workers:
        try:
            out, err = worker.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for w in workers:
                w.kill()
            raise
        results.append((worker.returncode, out, err))
    return results


def digest(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "train.tsv"
    pairs = builtin_corpus.generate("en-fr", "train", 200, seed=0)
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    return f"tsv:{path}"


def test_two_workers_train_in_sync_and_only_the_chief_writes(corpus, tmp_path):
    chief_out, worker_out = tmp_path / "chief", tmp_path / "worker"
    workers = start_cluster([chief_out, worker_out], "--data", corpus, "--epochs", "2",
                            "--vocab-size", "100")  # fmt: skip
    (code0, out0, err0), (code1, out1, err1) = finish(workers)
    assert code0 == 0, err0[-3000:]
    assert code1 == 0, err1[-3000:]
    chief, other = digest(out0), digest(out1)
    assert chief["chief"] is True and other["chief"] is False
    assert chief["weights_sha256"] == other["weights_sha256"]
    assert "MultiWorkerMirroredStrategy with 2 replica(s)" in err0
    assert "Whole-step XLA off" in err0  # and the reason is logged
    assert "Attention core XLA-compiled: True" in err0
    for name in ("model.keras", "tokenizer.model", "history.json", "parameter_report.json"):
        assert (chief_out / name).is_file(), name
    config = json.loads((chief_out / "config.json").read_text())
    assert config["devices"] == {"strategy": "multi_worker", "precision": "float32",
                                 "replicas": 2}  # fmt: skip
    assert not worker_out.exists() or not any(worker_out.iterdir())


def test_killed_worker_restarts_and_the_cluster_resumes_from_the_backup(corpus, tmp_path):
    out = tmp_path / "run"
    args = ["--data", corpus, "--epochs", "4", "--vocab-size", "100"]
    workers = start_cluster([out, out], *args)
    metadata = out / "backup" / "training_metadata.json"
    deadline = time.time() + 400
    while time.time() < deadline and all(w.poll() is None for w in workers):
        if metadata.is_file() and metadata.read_text().strip():
            break
        time.sleep(0.2)
    assert all(w.poll() is None for w in workers), "training ended before the kill"
    workers[1].send_signal(signal.SIGKILL)
    (code0, _, err0), _ = finish(workers)
    # The chief notices the lost peer, stops, and says how to resume.
    assert code0 == 3, err0[-3000:]
    assert "lost a worker" in err0 and "Traceback" not in err0
    done = json.loads(metadata.read_text())["epoch"]
    assert 1 <= done < 4 and not (out / "model.keras").exists()

    (code0, out0, err0), (code1, out1, err1) = finish(start_cluster([out, out], *args))
    assert code0 == 0, err0[-3000:]
    assert code1 == 0, err1[-3000:]
    assert "Resuming the interrupted run" in err0
    for stdout in (out0, out1):
        assert f"Epoch {done + 1}/4" in stdout and "Epoch 1/4" not in stdout
    assert digest(out0)["weights_sha256"] == digest(out1)["weights_sha256"]
    assert json.loads((out / "history.json").read_text())["epoch"] == [0, 1, 2, 3]
    assert (out / "model.keras").is_file() and not (out / "backup").exists()


def test_workers_with_different_tokenizers_refuse_to_train(corpus, tmp_path):
    extra = {0: ["--vocab-size", "100"], 1: ["--vocab-size", "90"]}
    workers = start_cluster([tmp_path / "a", tmp_path / "b"], "--data", corpus, extra=extra)
    for code, _, err in finish(workers):
        assert code == 2, err[-3000:]
        assert "do not agree on the tokenizer" in err
