import keras
import numpy as np
import pytest

from sharedformer_tf import SharingPlan
from sharedformer_tf.convert import Distiller, to_shared
from sharedformer_tf.models import SharedCausalLM, causal_lm_config
from tests.numpy_reference import kl_divergence, log_softmax

PAD = 0


def _teacher():
    keras.utils.set_random_seed(3)
    return SharedCausalLM(causal_lm_config.tiny(vocabulary_size=20, hidden_dim=8, num_heads=2,
                                                intermediate_dim=16,
                                                plan=SharingPlan(4, strategy="none")))  # fmt: skip


def _batch():
    ids = np.random.default_rng(0).integers(3, 20, (4, 9)).astype("int32")
    ids[1, 6:] = PAD
    return ids[:, :-1], ids[:, 1:]


def _compile(distiller, learning_rate=0.0):
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD)
    distiller.compile(keras.optimizers.SGD(learning_rate), loss)


def test_the_loss_is_the_weighted_sum_computed_by_hand():
    """alpha * T^2 * KL(teacher/T || student/T) over the real positions +
    (1 - alpha) * cross-entropy, on a tiny batch with padding."""
    teacher = _teacher()
    student = to_shared(teacher, SharingPlan(4, 2, strategy="cycle"), init="average")
    distiller = Distiller(student, teacher, alpha=0.3, temperature=2.0)
    _compile(distiller)
    x, y = _batch()
    s = np.asarray(student(x), "float64")
    t = np.asarray(teacher(x), "float64")
    real = x != PAD
    kl = (kl_divergence(t / 2, s / 2) * real).sum() / real.sum()
    picked = np.take_along_axis(log_softmax(s), y[..., None], -1)[..., 0]
    cross_entropy = -(picked * (y != PAD)).sum() / (y != PAD).sum()
    want = 0.3 * 4 * kl + 0.7 * cross_entropy
    assert distiller.train_on_batch(x, y) == pytest.approx(want, rel=1e-4)


def test_fit_moves_the_student_toward_the_teacher_and_leaves_the_teacher_alone(tmp_path):
    teacher = _teacher()
    teacher_weights = [np.asarray(w) for w in teacher.weights]
    student = to_shared(teacher, SharingPlan(4, 1, strategy="all"), init="average")
    x, _ = _batch()
    gap = lambda: float(np.mean(kl_divergence(np.asarray(teacher(x)), np.asarray(student(x)))))  # noqa: E731
    before = gap()
    distiller = Distiller(student, teacher, alpha=1.0, temperature=1.0)
    _compile(distiller, 0.05)
    distiller.fit(x, x, epochs=30, verbose=0)  # alpha 1: the labels do not count
    assert gap() < before / 2
    for a, b in zip(teacher_weights, teacher.weights, strict=True):
        np.testing.assert_array_equal(a, b)
    distiller.save(tmp_path / "distiller.keras")
    restored = keras.saving.load_model(tmp_path / "distiller.keras")
    np.testing.assert_array_equal(restored(x), distiller(x))
    assert restored.alpha == 1.0 and restored.temperature == 1.0


@pytest.mark.parametrize(
    "kwargs, message", [(dict(alpha=1.5), "alpha=1.5"), (dict(temperature=0), "temperature=0")]
)
def test_bad_settings_are_named(kwargs, message):
    teacher = _teacher()
    with pytest.raises(ValueError, match=message):
        Distiller(to_shared(teacher, SharingPlan(4, 1)), teacher, **kwargs)
    with pytest.raises(TypeError, match="Sequential"):
        Distiller(keras.Sequential([keras.layers.Dense(2)]), teacher)
