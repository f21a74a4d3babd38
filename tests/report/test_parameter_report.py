import json

import keras
import pytest

from sharedformer_tf import SharedEncoder, SharingPlan, parameter_report
from sharedformer_tf.models import Seq2SeqTransformer, seq2seq_config


def _tiny(**changes):
    return Seq2SeqTransformer(
        seq2seq_config.tiny(
            vocabulary_size=10, hidden_dim=8, num_heads=2, intermediate_dim=16, **changes
        )
    )


def test_report_keys_and_consistency():
    model = _tiny()
    report = parameter_report(model)
    assert report["unique_params"] == model.count_params()
    assert report["fp32_bytes"] == 4 * report["unique_params"]
    assert report["effective_fp32_bytes"] == 4 * report["effective_params"]
    assert report["ratio"] == pytest.approx(report["unique_params"] / report["effective_params"])
    assert json.loads(json.dumps(report)) == report
    rows = {(r["stack"], r["sublayer"], r["group"]): r for r in report["groups"]}
    # tiny: 4 depths over 2 groups with cycle_rev (ABBA).
    assert rows[("encoder", "self_attention", 0)]["depths"] == [0, 3]
    assert rows[("decoder", "cross_attention", 1)]["depths"] == [1, 2]
    assert rows[("encoder", "feed_forward", 1)]["params"] == 8 * 16 + 16 + 16 * 8 + 8


def test_report_prints_a_table():
    report = parameter_report(_tiny(share_encoder_decoder=True))
    text = str(report)
    assert f"{report['unique_params']:,}" in text
    assert f"{report['effective_params']:,}" in text
    assert "cross_attention" in text and "cycle_rev" in text


def test_effective_counts_tied_sublayers_in_both_stacks():
    tied = parameter_report(_tiny(share_encoder_decoder=True))
    untied = parameter_report(_tiny())
    assert tied["effective_params"] == untied["effective_params"]
    assert tied["unique_params"] < untied["unique_params"]


def test_report_on_a_lone_stack():
    encoder = SharedEncoder(SharingPlan(3, strategy="all"), num_heads=2, intermediate_dim=16)
    encoder.build((None, None, 8))
    report = parameter_report(encoder)
    assert report["unique_params"] == encoder.count_params()
    assert report["stacks"][0]["assignments"] == [0, 0, 0]


def test_report_on_a_model_without_stacks():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    report = parameter_report(model)
    assert report["unique_params"] == report["effective_params"] == 15
    assert report["groups"] == []


def test_unbuilt_model_is_an_error():
    encoder = SharedEncoder(SharingPlan(3, strategy="all"), num_heads=2, intermediate_dim=16)
    with pytest.raises(ValueError, match="needs a built model.*SharedEncoder"):
        parameter_report(encoder)
