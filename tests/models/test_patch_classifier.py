"""Elastic depth of the patch classifiers (`ViTClassifier`, `AudioClassifier`)."""

import keras
import numpy as np
import pytest

from sharedformer_tf import SharingPlan, parameter_report
from sharedformer_tf.models import AudioClassifier, ViTClassifier, audio_config, vit_config
from tests.numpy_reference import log_softmax

SMALL = dict(hidden_dim=8, num_heads=2, intermediate_dim=16, stem_filters=0, patch_size=7)


def _vit(**changes):
    return ViTClassifier(vit_config.tiny(**{**SMALL, "plan": SharingPlan(4, 2), **changes}))


def _images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (n, 28, 28, 1)).astype("uint8")


def test_at_depth_runs_the_same_weights_at_each_depth():
    model = _vit(depths=(2, 6))
    assert model.depths == (2, 4, 6)
    x = _images(3)
    np.testing.assert_array_equal(model.at_depth(4)(x), model(x))
    outputs = {d: np.asarray(model.at_depth(d)(x)) for d in model.depths}
    assert np.abs(outputs[2] - outputs[6]).max() > 1e-4
    at_two = model.at_depth(2)
    assert {id(v) for v in at_two.weights} <= {id(v) for v in model.weights}
    with pytest.raises(ValueError, match=r"depths \[2, 4, 6\].*depth=3"):
        model.at_depth(3)


def test_depths_add_only_the_state_of_positions_beyond_the_plan():
    plain, shallower = _vit(), _vit(depths=(2, 3))
    deeper = _vit(depths=(6,))
    size = lambda m: parameter_report(m)["unique_params"]  # noqa: E731
    assert size(shallower) == size(plain)
    assert size(deeper) == size(plain) + 2 * 2 * (2 * 8)  # two positions, two norms each


def test_bad_depths_name_what_they_received():
    with pytest.raises(ValueError, match="depth=3"):
        vit_config.tiny(plan=SharingPlan(4, 2, strategy="sequence"), depths=(3,))
    with pytest.raises(ValueError, match="depths=5"):
        vit_config.tiny(depths=5)
    with pytest.raises(ValueError, match="depth=9"):
        audio_config.tiny(plan=SharingPlan(8, strategy="none"), depths=(9,))


def test_training_runs_one_drawn_depth_per_step():
    """With a zero learning rate the weights stay put, so each step's loss
    is the loss of the depth drawn for that step: the step runs that depth
    alone."""
    model = _vit(depths=(1, 2))
    x, y = _images(16), np.arange(16) % 10
    model.compile(keras.optimizers.SGD(0.0),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    expected = {d: float(loss(y, model.at_depth(d)(x))) for d in model.depths}
    drawn = []
    for step in range(8):
        model.optimizer.iterations.assign(step)  # the draw reads the step count only
        drawn.append(model.depths[model.training_depth_index()])
    model.optimizer.iterations.assign(0)
    history = model.fit(x, y, batch_size=16, epochs=8, shuffle=False, verbose=0)
    assert set(drawn) == {1, 2, 4}  # every depth is trained
    np.testing.assert_allclose(history.history["loss"], [expected[d] for d in drawn], rtol=1e-4)
    # After fit, a training-mode call runs the plan's depth, not the last drawn one.
    assert drawn[-1] != 4
    np.testing.assert_allclose(model(x, training=True), model(x), rtol=1e-5, atol=1e-5)


def test_sandwich_steps_learn_the_deepest_and_one_drawn_shallower_depth():
    """With a zero learning rate each step's loss is the deepest depth's
    loss plus the drawn shallower depth's (plus the distillation weight
    times KL(deepest || drawn)); the draw never takes the deepest depth,
    and a step's gradient reaches the positions only the deepest runs."""
    x, y = _images(16), np.arange(16) % 10
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    for weight in (0.0, 0.7):
        model = _vit(depths=(1, 2), depth_sampling="sandwich", depth_distillation=weight)
        model.compile(keras.optimizers.SGD(0.0), loss)
        logits = {d: np.asarray(model.at_depth(d)(x)) for d in model.depths}
        kl = {d: np.mean(np.sum(np.exp(log_softmax(logits[4]))
                                * (log_softmax(logits[4]) - log_softmax(logits[d])), -1))
              for d in (1, 2)}  # fmt: skip
        drawn = []
        for step in range(8):
            model.optimizer.iterations.assign(step)
            drawn.append(model.depths[model.training_depth_index()])
        model.optimizer.iterations.assign(0)
        history = model.fit(x, y, batch_size=16, epochs=8, shuffle=False, verbose=0)
        assert set(drawn) == {1, 2}
        expected = [float(loss(y, logits[4])) + float(loss(y, logits[d])) + weight * kl[d]
                    for d in drawn]  # fmt: skip
        np.testing.assert_allclose(history.history["loss"], expected, rtol=1e-4)
    # A step that draws depth 1 trains the norms of the positions beyond it
    # under the sandwich rule, and not when it runs depth 1 alone.
    for sampling, trains_deep in (("sandwich", True), ("one", False)):
        model = _vit(depths=(1,), depth_sampling=sampling)
        model.compile(keras.optimizers.SGD(0.1), loss)
        assert model.depths[model.training_depth_index()] == 1
        deep = [w for w in model.weights if w.path.startswith("encoder/block_3/")]  # depth 4's
        assert len(deep) == 4
        before = [np.asarray(w) for w in deep]
        model.train_on_batch(x, y)
        changed = any(not np.array_equal(b, w) for b, w in zip(before, deep, strict=True))
        assert changed == trains_deep
    with pytest.raises(ValueError, match="depth_sampling='both'"):
        _vit(depths=(2,), depth_sampling="both")
    with pytest.raises(ValueError, match="deepest_share=0.5"):
        _vit(depths=(2,), depth_sampling="sandwich", deepest_share=0.5)
    with pytest.raises(ValueError, match="depth_sampling='sandwich'"):
        _vit(depths=(2,), depth_sampling="sandwich", halting_prior=0.5)


def test_with_depths_runs_a_single_depth_model_elsewhere_with_its_weights():
    model = _vit()
    x = _images(2)
    shallow = model.with_depths((2,))
    assert shallow is not model and shallow.depths == (2, 4)
    np.testing.assert_array_equal(shallow(x), model(x))
    reference = _vit(depths=(2,))
    reference.set_weights(model.get_weights())
    np.testing.assert_array_equal(shallow.at_depth(2)(x), reference.at_depth(2)(x))
    assert model.with_depths((4,)) is model
    with pytest.raises(ValueError, match="state for 4 depths.*depth=6"):
        model.with_depths((6,))


def test_elastic_audio_classifier_round_trips_exactly(tmp_path):
    config = audio_config.tiny(hidden_dim=8, num_heads=2, intermediate_dim=16,
                               plan=SharingPlan(4, 2), depths=(2, 6))  # fmt: skip
    model = AudioClassifier(config)
    for variable in model.weights:  # away from the zero-initialized values
        variable.assign(np.random.default_rng(0).normal(0, 0.2, variable.shape))
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    x = np.random.default_rng(1).normal(0, 0.1, (2, 16000)).astype("float32")
    for depth in (2, 4, 6):
        np.testing.assert_array_equal(restored.at_depth(depth)(x), model.at_depth(depth)(x))


def test_exit_logits_give_each_depth_in_one_pass():
    model = _vit(depths=(1, 2, 6))
    x = _images(5)
    exits = model.exit_logits(x, batch_size=2)
    assert len(exits) == 4
    for depth, logits in zip(model.depths, exits, strict=True):
        np.testing.assert_allclose(logits, model.at_depth(depth)(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="depths=\\[3\\]"):
        model.exit_logits(x, [3])
    sequence = _vit(plan=SharingPlan(4, 2, strategy="sequence"), depths=(2,))
    with pytest.raises(ValueError, match="not the start"):
        sequence.exit_logits(x)


@pytest.mark.parametrize("strategy", ["cycle", "sequence"])
def test_adaptive_probabilities_follow_the_budget_and_the_exit_rule(strategy):
    """Inside one graph (a `tf.function`, as exported): the budget picks the
    depth, a threshold of 1.0 never exits, and each input leaves at the
    first depth above the threshold with that depth's probabilities; a
    `sequence` plan (whose shallower runs are not the start of its deeper
    ones) recomputes each depth and still agrees."""
    import tensorflow as tf

    model = _vit(plan=SharingPlan(4, 2, strategy=strategy), depths=(2, 6))
    x = _images(8, 3).astype("float32")
    want = [np.asarray(keras.ops.softmax(model.at_depth(d)(x))) for d in model.depths]
    adaptive = tf.function(model.adaptive_probabilities)
    for budget, index in ((1, 0), (2, 0), (3, 0), (4, 1), (6, 2), (99, 2)):
        p, used = adaptive(x, budget, 1.0)
        np.testing.assert_allclose(p, want[index], atol=1e-5)
        assert used.numpy().tolist() == [model.depths[index]] * 8
    confidence = np.sort(want[0].max(-1))
    threshold = float(confidence[3:5].mean())  # half the images leave at depth 2
    p, used = adaptive(x, 6, threshold)
    for i in range(8):
        first = next(j for j, q in enumerate(want) if q[i].max() > threshold or j == 2)
        assert used[i] == model.depths[first]
        np.testing.assert_allclose(p[i], want[first][i], atol=1e-5)
    assert 2 in used.numpy() and set(used.numpy()) != {2}


def test_per_depth_exit_heads_are_each_depths_own_and_train_with_it(tmp_path):
    import tensorflow as tf

    model = _vit(depths=(2, 6), exit_heads="per_depth")
    assert model.head.depths == [2, 4, 6]
    x = _images(4, 1).astype("float32")
    exits = model.exit_logits(x)
    for depth, logits in zip(model.depths, exits, strict=True):
        np.testing.assert_allclose(logits, model.at_depth(depth)(x), rtol=1e-5, atol=1e-5)
        p, _ = tf.function(model.adaptive_probabilities)(x, depth, 1.0)
        np.testing.assert_allclose(p, keras.ops.softmax(exits[model.depths.index(depth)]),
                                   atol=1e-5)  # fmt: skip
    assert len(model.weights) == len(_vit(depths=(2, 6)).weights) + 4  # 2 more kernels, biases
    # One step at depth 2 (step 0's draw) changes depth 2's head only.
    model.compile(keras.optimizers.SGD(0.1),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
    assert model.depths[model.training_depth_index()] == 2
    before = [np.asarray(w) for w in model.head.weights]
    model.train_on_batch(x, np.array([0, 1, 2, 3]))
    changed = [not np.array_equal(b, a) for b, a in zip(before, model.head.weights, strict=True)]
    assert changed == [True, True, False, False, False, False]
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    for depth in model.depths:
        np.testing.assert_array_equal(restored.at_depth(depth)(x), model.at_depth(depth)(x))
    with pytest.raises(ValueError, match="exit head for depths"):
        model.with_depths((3,))
    with pytest.raises(ValueError, match="exit_heads='every'"):
        vit_config.tiny(exit_heads="every")


def test_deepest_share_sets_the_fraction_of_steps_at_the_deepest_depth():
    counts = {}
    for share in (None, 0.5):
        model = _vit(depths=(1, 2), deepest_share=share)
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        drawn = []
        for step in range(600):
            model.optimizer.iterations.assign(step)
            drawn.append(model.depths[model.training_depth_index()])
        counts[share] = {d: drawn.count(d) / 600 for d in model.depths}
    assert all(abs(c - 1 / 3) < 0.03 for c in counts[None].values())
    assert abs(counts[0.5][4] - 0.5) < 0.03
    assert abs(counts[0.5][1] - 0.25) < 0.03 and abs(counts[0.5][2] - 0.25) < 0.03
    with pytest.raises(ValueError, match="deepest_share=1.5"):
        _vit(depths=(2,), deepest_share=1.5)


def test_learned_halting_trains_every_exit_with_the_ponder_loss(tmp_path):
    """A step reports PonderNet's loss, computed here by hand from each
    exit's logits and halting logit: the expected cross-entropy under
    `p_n = lambda_n prod_{j<n} (1 - lambda_j)` (the last exit's lambda 1)
    plus `halting_weight` times KL(p || the renormalized geometric prior);
    the model saves and loads with its halting head."""
    keras.utils.set_random_seed(4)
    model = _vit(plan=SharingPlan(4, 2, strategy="cycle"), depths=(1, 2), halting_prior=0.4,
                 halting_weight=0.3)  # fmt: skip
    assert model.head.units == 11  # ten classes and the halting logit
    x, y = _images(6, 2), np.array([0, 1, 2, 3, 4, 5])
    logits = np.stack(model.exit_logits(x), 1).astype("float64")  # [n, exits, classes]
    halting = np.stack(model.exit_halting(x), 1).astype("float64")
    assert np.all(halting[:, -1] == 1) and np.all((halting[:, :-1] > 0) & (halting[:, :-1] < 1))
    before = np.concatenate([np.ones((6, 1)), np.cumprod(1 - halting, 1)[:, :-1]], 1)
    p = halting * before
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-6)
    cross_entropy = -np.take_along_axis(log_softmax(logits), y[:, None, None], -1)[..., 0]
    prior = 0.4 * 0.6 ** np.arange(3)
    kl = (p * (np.log(p) - np.log(prior / prior.sum()))).sum(1)
    want = np.mean((p * cross_entropy).sum(1) + 0.3 * kl)
    model.compile(keras.optimizers.SGD(0.0),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
    assert model.train_on_batch(x, y) == pytest.approx(want, rel=1e-4)
    np.testing.assert_allclose(model(x), logits[:, -1], rtol=1e-5, atol=1e-5)  # plain call
    model.compile(keras.optimizers.SGD(0.5),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
    head = np.asarray(model.head.kernel)
    model.train_on_batch(x, y)
    assert np.abs(np.asarray(model.head.kernel)[:, -1] - head[:, -1]).max() > 0  # halting learns
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    for a, b in zip(restored.exit_halting(x), model.exit_halting(x), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="learned to halt at depths"):
        model.with_depths((3,))


def test_halting_exit_rule_in_the_graph_follows_the_cumulative_halting_probability():
    import tensorflow as tf

    from sharedformer_tf.classification import halting_exit

    keras.utils.set_random_seed(8)
    model = _vit(plan=SharingPlan(4, 2, strategy="cycle"), depths=(1, 2), halting_prior=0.5)
    head = model.head.kernel
    head.assign(np.asarray(head) * np.r_[np.ones(10), 8.0])  # spread the halting logits
    x = _images(16, 5).astype("float32")
    want = [np.asarray(keras.ops.softmax(p)) for p in model.exit_logits(x)]
    cumulative = 1 - np.cumprod(1 - np.stack(model.exit_halting(x)), axis=0)
    threshold = float(np.sort(cumulative[0])[7:9].mean())  # about half leave at depth 1
    assert 0 < threshold < 1
    p, used = tf.function(model.adaptive_probabilities)(x, 4, threshold)
    first = np.where(cumulative[:-1] > threshold, 1, 0).tolist() + [[1] * 16]
    index = np.argmax(np.array(first), axis=0)
    assert used.numpy().tolist() == [model.depths[i] for i in index]
    assert len(set(index)) >= 2
    for i in range(16):
        np.testing.assert_allclose(p[i], want[index[i]][i], atol=1e-5)
    row = halting_exit(want, model.exit_halting(x), model.depths, np.zeros(16), [threshold])[0]
    assert row["mean_depth"] == pytest.approx(np.mean(used.numpy()))
    p, used = tf.function(model.adaptive_probabilities)(x, 4, 1.0)
    assert set(used.numpy()) == {4}  # 1.0 never exits early


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(halting_prior=0.5), "needs exits"),
        (dict(depths=(2,), halting_prior=1.0), "halting_prior=1.0"),
        (dict(depths=(2,), halting_prior=0.5, depth_distillation=0.5), "trains every exit"),
        (dict(depths=(2,), halting_prior=0.5, halting_weight=-1), "halting_weight=-1"),
    ],
)
def test_halting_config_errors_name_the_field(changes, message):
    with pytest.raises(ValueError, match=message):
        vit_config.tiny(**changes)


def test_halting_needs_a_plan_whose_exits_run_in_one_pass():
    with pytest.raises(ValueError, match="not the start"):
        _vit(plan=SharingPlan(4, 2, strategy="sequence"), depths=(2,), halting_prior=0.5)
