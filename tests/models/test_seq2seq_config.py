import dataclasses

import pytest

from sharedformer_tf import SharingPlan, parameter_report
from sharedformer_tf.models import Seq2SeqConfig, Seq2SeqTransformer, seq2seq_config

# Stored (unique) and effective parameter counts of every preset as shipped.
# small, by hand: attention 4*(256*256+256) = 263,168; FFN 2*256*1024+1024+256
# = 525,568; adapter 2*256*32+32+256 = 16,672; the encoder's 2 attention
# groups and 3 FFN groups (2,103,040), 8 norms + final norm, 4 adapters; the
# decoder reuses the groups and adds 2 cross-attention groups (526,336),
# 12 norms + final norm and 4 adapters; one tied 8000x256 table (2,048,000):
# 4,822,016 stored. tiny_relaxed is the same scheme at H=128, FFN 512,
# adapter 32, vocabulary 1000: 4*66,048 + 3*131,712 + 22*256 + 8*8,352 +
# 128,000 = 859,776 stored; effective: the unshared 4+4 model's 1,979,904
# plus the adapters' 66,816.
PINNED = {
    "tiny": (1_056_768, 1_979_904),
    "tiny_relaxed": (859_776, 2_046_720),
    "small": (4_822_016, 9_555_200),
    "base": (38_470_656, 60_524_544),
}


def test_every_preset_has_a_pinned_count():
    assert sorted(PINNED) == sorted(seq2seq_config.PRESETS)


@pytest.mark.parametrize("name", sorted(seq2seq_config.PRESETS))
def test_preset_parameter_counts(name):
    if name not in PINNED:
        pytest.fail(f"Preset {name!r} has no pinned parameter count")
    report = parameter_report(Seq2SeqTransformer(seq2seq_config.preset(name)))
    assert (report["unique_params"], report["effective_params"]) == PINNED[name]


@pytest.mark.parametrize("name", sorted(seq2seq_config.PRESETS))
def test_presets_are_shared_by_default(name):
    config = seq2seq_config.preset(name)
    assert config.encoder_plan.num_groups < config.encoder_plan.num_layers
    assert config.decoder_plan.num_groups < config.decoder_plan.num_layers


def test_preset_changes_are_applied_and_validated():
    config = seq2seq_config.small(vocabulary_size=500, dropout=0.0)
    assert (config.vocabulary_size, config.dropout, config.hidden_dim) == (500, 0.0, 256)
    with pytest.raises(ValueError, match="Unknown preset.*'huge'"):
        seq2seq_config.preset("huge")
    with pytest.raises(TypeError):
        seq2seq_config.tiny(hidden=3)


def _valid():
    return dict(
        vocabulary_size=10,
        hidden_dim=8,
        num_heads=2,
        intermediate_dim=16,
        encoder_plan=SharingPlan(2, strategy="all"),
        decoder_plan={"num_layers": 2, "num_groups": None, "strategy": "all", "scope": "block"},
    )


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(num_heads=3), "hidden_dim=8, num_heads=3"),
        (dict(hidden_dim=0), "hidden_dim=0"),
        (dict(embedding_dim=9), "embedding_dim=9"),
        (dict(dropout=1.5), "dropout=1.5"),
        (dict(adapter_dim=0), "adapter_dim=0"),
        (dict(position_encoding="rotary"), "position_encoding='rotary'"),
        (dict(kv_sharing="depth"), "kv_sharing='depth'"),
        (dict(eos_id=10), "eos_id=10, vocabulary_size=10"),
        (dict(bos_id=0), "must differ"),
        (dict(cross_attention_plan=SharingPlan(3, strategy="all")), "cross_attention_plan=.*3"),
    ],
)
def test_invalid_configs(changes, message):
    with pytest.raises(ValueError, match=message):
        Seq2SeqConfig(**{**_valid(), **changes})


def test_plans_are_coerced_and_round_trip():
    cross = {"num_layers": 2, "num_groups": None, "strategy": "none", "scope": "block"}
    config = Seq2SeqConfig(**_valid(), cross_attention_plan=cross)
    assert isinstance(config.decoder_plan, SharingPlan)
    assert config.cross_attention_plan == SharingPlan(2, strategy="none")
    assert Seq2SeqConfig.from_dict(config.to_dict()) == config
    assert dataclasses.replace(config, dropout=0.2).dropout == 0.2
