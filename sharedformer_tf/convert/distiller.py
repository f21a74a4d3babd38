import keras
from keras import ops

from sharedformer_tf.distribute.loss_scaling import scale_for_replicas


@keras.saving.register_keras_serializable(package="sharedformer_tf")
class Distiller(keras.Model):
    """Trains a student model to match a frozen teacher (knowledge
    distillation), e.g. a model converted by `convert.to_shared` uptrained
    from the unshared model it came from.

    The loss is `alpha * T**2 * KL(teacher || student)` of the output
    distributions at temperature `T` (the `T**2` keeps the gradient's scale
    as `T` grows, as in Hinton et al.) plus `(1 - alpha)` times the task
    loss given to `compile` (on the student's logits). The KL counts what
    the student's `distillation_loss` counts (padding positions of token
    models excluded). The teacher runs without dropout and without
    gradient; its weights never change. `fit` trains the student only;
    save `distiller.student`.

    Args:
        student: an `ElasticDepthModel` (`Seq2SeqTransformer`,
            `SharedCausalLM`, `ViTClassifier`, `AudioClassifier`).
        teacher: a model with the same inputs and output shape.
        alpha: float in [0, 1], the weight of the distillation term.
        temperature: float > 0.
        **kwargs: `keras.Model` arguments such as `name`.

    Call arguments:
        inputs: the student's inputs.

    Returns:
        The student's logits.

    Example:

    >>> from sharedformer_tf import SharingPlan
    >>> from sharedformer_tf.convert import to_shared
    >>> from sharedformer_tf.models import SharedCausalLM, causal_lm_config
    >>> teacher = SharedCausalLM(causal_lm_config.tiny(vocabulary_size=20,
    ...     hidden_dim=8, num_heads=2, intermediate_dim=16,
    ...     plan=SharingPlan(4, strategy="none")))
    >>> distiller = Distiller(to_shared(teacher, SharingPlan(4, 1)), teacher)
    >>> distiller.compile("adam", keras.losses.SparseCategoricalCrossentropy(
    ...     from_logits=True))
    >>> ids = keras.ops.array([[1, 5, 6, 7, 2]])
    >>> history = distiller.fit(ids[:, :-1], ids[:, 1:], verbose=0)
    >>> tuple(distiller(ids).shape)
    (1, 5, 20)
    """

    def __init__(self, student, teacher, alpha=0.5, temperature=2.0, **kwargs):
        super().__init__(**kwargs)
        if not hasattr(student, "distillation_loss"):
            raise TypeError("The student must be one of the project's models (it has "
                            "`distillation_loss`). Received: a student of type "
                            f"{type(student).__name__}")  # fmt: skip
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
            raise ValueError(f"`alpha` must be in [0, 1]. Received: alpha={alpha!r}")
        if not temperature > 0:
            raise ValueError(f"`temperature` must be > 0. Received: temperature={temperature!r}")
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.alpha = float(alpha)
        self.temperature = float(temperature)

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        task = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                    training=training)  # fmt: skip
        if not self.alpha:
            return task
        teacher = ops.stop_gradient(self.teacher(x, training=False))
        t = self.temperature
        kl = self.student.distillation_loss(teacher, y_pred, x, temperature=t)
        # `task` is scaled for the replicas by Keras; the KL term the same way.
        return scale_for_replicas(self.alpha * t * t * kl) + (1.0 - self.alpha) * task

    def get_config(self):
        config = super().get_config()
        config.update({
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "alpha": self.alpha,
            "temperature": self.temperature,
        })  # fmt: skip
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("student", "teacher"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
