from sharedformer_tf.models import seq2seq_config
from sharedformer_tf.training import recipes


def test_every_preset_has_a_default_learning_rate():
    assert set(recipes.SEQ2SEQ_LEARNING_RATES) == set(seq2seq_config.PRESETS)
    assert all(0 < rate < 1 for rate in recipes.SEQ2SEQ_LEARNING_RATES.values())
