import numpy as np
import pytest

from sharedformer_tf import training


def test_warmup_then_cosine_decay():
    optimizer = training.warmup_cosine_adamw(1000, learning_rate=2e-3, warmup_steps=100)
    schedule = optimizer._learning_rate
    rates = [float(schedule(step)) for step in (0, 50, 100, 550, 1000)]
    assert rates[0] == pytest.approx(0.0)
    assert rates[1] == pytest.approx(1e-3, rel=1e-3)
    assert rates[2] == pytest.approx(2e-3, rel=1e-3)
    assert rates[2] > rates[3] > rates[4] >= 2e-3 * 0.05 - 1e-9


def test_tiny_runs_still_get_a_schedule():
    optimizer = training.warmup_cosine_adamw(1, learning_rate=1e-3)
    assert np.isfinite(float(optimizer._learning_rate(0)))
    with pytest.raises(ValueError, match="total_steps=0"):
        training.warmup_cosine_adamw(0)


def test_read_history(tmp_path):
    (tmp_path / "history.csv").write_text("epoch,loss\n0,2.5\n1,1.5\n")
    assert training.read_history(str(tmp_path)) == {"epoch": [0, 1], "loss": [2.5, 1.5]}
    assert training.read_history(str(tmp_path / "missing")) == {}
    assert not training.has_backup(str(tmp_path))


def test_read_history_keeps_the_last_row_of_a_repeated_epoch(tmp_path):
    (tmp_path / "history.csv").write_text("epoch,loss\n0,2.5\n1,1.5\nepoch,loss\n1,1.4\n2,1.0\n")
    assert training.read_history(str(tmp_path)) == {"epoch": [0, 1, 2], "loss": [2.5, 1.4, 1.0]}
