"""MirroredStrategy over two logical CPU devices. The devices must be set up
before TensorFlow initializes, so the training runs in a subprocess."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

# Several processes or devices: run by `make test-distributed` (CI runs both).
pytestmark = pytest.mark.distributed

SCRIPT = textwrap.dedent(
    """
    import json
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import keras
    import keras_hub
    from sharedformer_tf import SharingPlan, distribute, training
    from sharedformer_tf.data import builtin_corpus
    from sharedformer_tf.data.sentencepiece_vocabulary import train_sentencepiece
    from sharedformer_tf.data.translation_dataset import make_translation_dataset
    from sharedformer_tf.layers import xla_attention
    from sharedformer_tf.models import Seq2SeqTransformer, seq2seq_config
    from sharedformer_tf.preprocessing import Seq2SeqPreprocessor

    assert xla_attention.xla_attention_enabled()  # the compiled core, in both strategies
    keras.utils.set_random_seed(0)  # unseeded weights made "it learns" flaky (0.49 < 0.5 once)

    pairs = builtin_corpus.generate("en-fr", "train", 256, seed=0)
    tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(
        proto=train_sentencepiece([t for p in pairs for t in p], 100))
    config = seq2seq_config.tiny(
        vocabulary_size=tokenizer.vocabulary_size(), hidden_dim=16, num_heads=2,
        intermediate_dim=32, dropout=0.0, max_length=32,
        encoder_plan=SharingPlan(3, 2, strategy="cycle_rev"),
        decoder_plan=SharingPlan(3, strategy="all"))
    results = {}
    initial = None
    for name in ("one_device", "mirrored"):
        strategy = distribute.make_strategy(name)
        jit, reason = distribute.whole_step_jit(strategy)
        dataset = make_translation_dataset(
            pairs, Seq2SeqPreprocessor.for_model(config, tokenizer), 16, shuffle=True, seed=0,
            drop_remainder=True)
        with strategy.scope():
            model = Seq2SeqTransformer(config)
            if initial is None:
                initial = model.get_weights()
            model.set_weights(initial)
            training.compile_seq2seq(model, 3 * int(dataset.cardinality()),
                                     learning_rate=3e-3, jit_compile=jit)
        history = model.fit(dataset, epochs=3, verbose=0)
        results[name] = {"replicas": strategy.num_replicas_in_sync, "jit": jit,
                         "reason": reason, "loss": history.history["loss"],
                         "weights": [w.tolist() for w in model.get_weights()[:2]]}
    print(json.dumps(results))
    """
)


def test_mirrored_on_two_devices_follows_the_one_device_loss_curve():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    one, mirrored = runs["one_device"], runs["mirrored"]
    assert (one["replicas"], mirrored["replicas"]) == (1, 2)
    # One device compiles the whole step; two replicas compile only the
    # attention core, and say why.
    assert one["jit"] and not mirrored["jit"]
    assert "MirroredStrategy" in mirrored["reason"]
    assert one["loss"][-1] < one["loss"][0] - 0.5, one["loss"]  # it learns
    # Each replica averages the loss over its own tokens, so with uneven
    # padding the curves differ slightly (< 1% here over 3 epochs).
    np.testing.assert_allclose(mirrored["loss"], one["loss"], rtol=0.02)
    for a, b in zip(one["weights"], mirrored["weights"], strict=True):
        np.testing.assert_allclose(a, b, atol=0.02)


LM_SCRIPT = textwrap.dedent(
    """
    import json
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import keras
    import numpy as np
    from sharedformer_tf import SharingPlan, distribute, training
    from sharedformer_tf.data.lm_dataset import make_lm_dataset
    from sharedformer_tf.models import SharedCausalLM, causal_lm_config

    keras.utils.set_random_seed(0)
    # Windows that count up by one (mod 20, ids 3..22) from random starts.
    starts = np.random.default_rng(0).integers(0, 20, 256)
    windows = (3 + (starts[:, None] + np.arange(17)[None, :]) % 20).astype("int32")
    config = causal_lm_config.tiny(vocabulary_size=24, hidden_dim=16, num_heads=2,
                                   intermediate_dim=32, max_length=16, kv_sharing="group",
                                   plan=SharingPlan(4, 2, strategy="sequence"))
    results, initial = {}, None
    for name in ("one_device", "mirrored"):
        strategy = distribute.make_strategy(name)
        jit, _ = distribute.whole_step_jit(strategy)
        dataset = make_lm_dataset(windows, 16, shuffle=True, seed=0, drop_remainder=True)
        with strategy.scope():
            model = SharedCausalLM(config)
            if initial is None:
                initial = model.get_weights()
            model.set_weights(initial)
            training.compile_seq2seq(model, 3 * int(dataset.cardinality()), 3e-3, None, 0.0,
                                     jit_compile=jit)
        history = model.fit(dataset, epochs=3, verbose=0)
        results[name] = {"replicas": strategy.num_replicas_in_sync, "jit": jit,
                         "loss": history.history["loss"]}
    print(json.dumps(results))
    """
)


def test_language_model_with_kv_sharing_trains_alike_on_one_and_two_replicas():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", LM_SCRIPT], capture_output=True, text=True, timeout=600, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    one, mirrored = runs["one_device"], runs["mirrored"]
    assert (one["replicas"], mirrored["replicas"], one["jit"], mirrored["jit"]) == (
        1,
        2,
        True,
        False,
    )
    # Both learn to count; the first epoch agrees closely (full windows, no
    # padding), later ones drift apart by a few percent, kv sharing or not
    # (measured: 1.73 vs 1.65 at epoch 2 with it, 1.73 vs 1.65 without).
    for run in (one, mirrored):
        assert run["loss"][-1] < run["loss"][0] - 1.0, run["loss"]
    np.testing.assert_allclose(mirrored["loss"][0], one["loss"][0], rtol=0.01)


TWO_REPLICA_SCRIPT = textwrap.dedent(
    """
    import json
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import keras
    import numpy as np
    from sharedformer_tf import SharingPlan, distribute
    from sharedformer_tf.convert import Distiller, to_shared
    from sharedformer_tf.models import SharedCausalLM, causal_lm_config

    keras.utils.set_random_seed(0)
    windows = np.random.default_rng(0).integers(3, 24, (48, 9)).astype("int32")  # no padding
    size = dict(vocabulary_size=24, hidden_dim=16, num_heads=2, intermediate_dim=32,
                max_length=16)
    elastic = causal_lm_config.tiny(**size, depths=(2,), depth_distillation=0.5,
                                    plan=SharingPlan(4, 2, strategy="cycle"))
    sandwich = elastic.replace(depth_sampling="sandwich")
    plain = causal_lm_config.tiny(**size, plan=SharingPlan(4, strategy="none"))
    results, initial = {}, {}
    for name in ("one_device", "mirrored"):
        strategy = distribute.make_strategy(name)
        jit, _ = distribute.whole_step_jit(strategy)
        dataset = tf.data.Dataset.from_tensor_slices((windows[:, :-1], windows[:, 1:])).batch(16)
        with strategy.scope():
            model, teacher = SharedCausalLM(elastic), SharedCausalLM(plain)
            both = SharedCausalLM(sandwich)
            for key, m in (("model", model), ("teacher", teacher), ("model", both)):
                m.set_weights(initial.setdefault(key, m.get_weights()))
            distiller = Distiller(to_shared(teacher, SharingPlan(4, 2, strategy="cycle"),
                                            init="average"), teacher, alpha=0.5)
            for m in (model, distiller, both):
                m.compile(keras.optimizers.SGD(0.5),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          jit_compile=jit)
        drawn = []
        record = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: (
            drawn.append(model.depths[model.training_depth_index()])))
        model.fit(dataset, epochs=1, verbose=0, callbacks=[record])
        replicas = [[np.asarray(v) for v in getattr(w, "values", (w,))] for w in model.weights]
        history = distiller.fit(dataset, epochs=2, verbose=0)
        both.fit(dataset, epochs=1, verbose=0)
        results[name] = {
            "replicas": strategy.num_replicas_in_sync, "depths": drawn,
            "weights": [w.tolist() for w in model.get_weights()],
            "sandwich": [w.tolist() for w in both.get_weights()],
            "replicas_equal": all(np.array_equal(r[0], x) for r in replicas for x in r),
            "moved": max(float(np.abs(a - b).max())
                         for a, b in zip(model.get_weights(), initial["model"])),
            "distill_loss": history.history["loss"],
            "student": [w.tolist() for w in distiller.student.get_weights()],
            "teacher_kept": all(np.array_equal(a, b)
                                for a, b in zip(initial["teacher"], teacher.get_weights())),
        }
    print(json.dumps(results))
    """
)


@pytest.fixture(scope="module")
def two_replica_runs():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", TWO_REPLICA_SCRIPT], capture_output=True, text=True, timeout=600,
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    assert (runs["one_device"]["replicas"], runs["mirrored"]["replicas"]) == (1, 2)
    return runs["one_device"], runs["mirrored"]


def test_elastic_training_draws_the_same_depth_on_every_replica(two_replica_runs):
    """Three steps with one depth drawn per step (2, 4, 2), the depth-2
    steps with the distillation term, under MirroredStrategy on two logical
    CPUs: each replica keeps the same weights, and they are the one-device
    run's. Replicas drawing depths of their own would average the gradients
    of different depths, and a distillation term not scaled for the
    replicas would count twice: either leaves the one-device weights."""
    one, mirrored = two_replica_runs
    assert one["depths"] == mirrored["depths"] == [2, 4, 2]
    assert mirrored["replicas_equal"] and one["moved"] > 1e-2
    for a, b in zip(one["weights"], mirrored["weights"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # The sandwich rule (depths 4 and 2 in every step; same start) trains alike,
    # and not as the one-depth draw does.
    for a, b in zip(one["sandwich"], mirrored["sandwich"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert any(not np.allclose(a, b) for a, b in zip(one["sandwich"], one["weights"], strict=True))


def test_distiller_trains_alike_on_one_and_two_replicas(two_replica_runs):
    """The conversion's uptraining under MirroredStrategy: the same losses
    and student weights as on one device, the teacher untouched."""
    one, mirrored = two_replica_runs
    assert one["teacher_kept"] and mirrored["teacher_kept"]
    assert one["distill_loss"][1] < one["distill_loss"][0]
    np.testing.assert_allclose(mirrored["distill_loss"], one["distill_loss"], rtol=1e-4)
    for a, b in zip(one["student"], mirrored["student"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
