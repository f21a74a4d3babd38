from keras import ops

from sharedformer_tf.distribute.loss_scaling import scale_for_replicas
from sharedformer_tf.models.config_model import ConfigModel

# Weyl sequence of the golden ratio: a step's depth draw, spread evenly over
# the depths and the same on every replica (it reads only the step count).
_GOLDEN = 2654435761


class ElasticDepthModel(ConfigModel):
    """Base of the models that run at several depths with one set of weights
    (`PatchClassifier`, `SharedCausalLM`, `Seq2SeqTransformer`): training
    runs one depth per step.

    With more than one depth in `depths`, each training step runs one of
    them, drawn from the optimizer's step count (so every replica and worker
    of a distributed step draws the same depth), through a train function
    of its own (one compiled program per depth), and learns through that
    depth only; with `config.depth_distillation`, a step at a shallower
    depth also learns the deepest depth's output distribution (the deepest
    run without dropout and without gradient as the teacher: KL added to
    the loss with that weight). With `config.depth_sampling == "sandwich"`,
    each step runs the deepest depth and one drawn shallower depth (one
    train function per shallower depth) and learns through both, their task
    losses summed (the sandwich rule of slimmable networks, Yu & Huang
    2019): the deepest depth gets a gradient in every step, as a model
    trained at that depth alone does; `depth_distillation` then takes the
    deepest depth's output of the same step as the teacher (in-place
    distillation). Subclasses provide `elastic_stack` (their shared stack, whose
    `depths` the model runs), `at_depth(n)` (a Keras model of the same
    layers at `n` depths) and a config with a `depths` field, and call
    `_build_depth_models()` at the end of their constructor.
    """

    @property
    def depths(self):
        """Every depth the model can run, ascending."""
        return self.elastic_stack.depths

    def with_depths(self, depths):
        """This model able to run `depths` too, with the same weights: `self`
        if it already can, else a new model. A depth deeper than the
        positions this model has per-depth state for would need state that
        was never trained, so it is refused."""
        depths = set(depths) - set(self.depths)
        if not depths:
            return self
        deepest = self.elastic_stack.max_depth
        if max(depths) > deepest:
            raise ValueError(
                f"This model has per-depth state for {deepest} depths (trained at "
                f"depths {list(self.depths)}). Received: depth={max(depths)}"
            )
        config = self.config.replace(depths=tuple(sorted(depths | set(self.depths))))
        model = type(self)(config, dtype=self.dtype_policy, name=self.name)
        model.set_weights(self.get_weights())
        return model

    def check_run(self, depth=None, exit_threshold=None):
        """Checks how a decoder is asked to run: `depth` one of `depths`
        (or `None`), and `exit_threshold` (per-token early exit) `None` or a
        number >= 0 on a model trained at several depths whose plan can
        exit (`SharedStack.exit_depth`); raises `ValueError` naming the
        value received."""
        if depth is not None and depth not in self.depths:
            raise ValueError(f"The model runs at depths {list(self.depths)}. "
                             f"Received: depth={depth!r}")  # fmt: skip
        if exit_threshold is None:
            return
        if isinstance(exit_threshold, bool) or not exit_threshold >= 0:
            raise ValueError(f"Expected an exit threshold >= 0. "
                             f"Received: exit_threshold={exit_threshold!r}")  # fmt: skip
        if len(self.depths) < 2:
            raise ValueError(
                "Early exit needs a model trained at several depths (train --depths). "
                f"Received: a model of depths {list(self.depths)}"
            )
        self.elastic_stack.exit_depth(self.depths)  # refuses plans that cannot exit

    def _build_depth_models(self):
        # Not tracked: they hold this model's own layers.
        models = tuple(self.at_depth(d) for d in self.depths) if len(self.depths) > 1 else ()
        object.__setattr__(self, "_depth_models", models)

    def _sandwich(self):
        return getattr(self.config, "depth_sampling", "one") == "sandwich"

    def training_depth_index(self):
        """Index into `depths` of the depth the next training step draws: a
        function of the optimizer's step count only. With
        `config.deepest_share`, that share of the steps runs the deepest
        depth; with the sandwich rule, the draw is among the shallower
        depths (the deepest runs in every step besides it)."""
        step = int(self.optimizer.iterations.numpy()) if self.optimizer is not None else 0
        if self._sandwich():
            return step * _GOLDEN // 65536 % (len(self.depths) - 1)
        share = getattr(self.config, "deepest_share", None)
        if share is None:
            return step * _GOLDEN // 65536 % len(self.depths)
        # A Weyl sequence in [0, 1): evenly spread, the same on every replica.
        u = (step * _GOLDEN) % 2**32 / 2**32
        if u < share:
            return len(self.depths) - 1
        return min(int((u - share) / (1 - share) * (len(self.depths) - 1)), len(self.depths) - 2)

    def make_train_function(self, force=False):
        """With several `depths`: one train function per depth that can be
        drawn; each step calls the one of its drawn depth."""
        if len(self.depths) == 1 or (self.train_function is not None and not force):
            return super().make_train_function(force)
        per_depth = []
        for _ in range(len(self.depths) - 1 if self._sandwich() else len(self.depths)):
            super().make_train_function(force=True)
            per_depth.append(self.train_function)

        def train_function(iterator):
            # Read by `call` when a depth's function is first traced; unset
            # after the step, so a later `model(x, training=True)` runs the
            # plan's depth.
            self._training_depth_index = self.training_depth_index()
            try:
                return per_depth[self._training_depth_index](iterator)
            finally:
                self._training_depth_index = None

        self.train_function = train_function
        return train_function

    def call(self, inputs, training=None, mask=None):
        index = getattr(self, "_training_depth_index", None)
        if not training or len(self.depths) == 1 or index is None:
            return super().call(inputs, training=training, mask=mask)
        if self._sandwich():  # the drawn depth runs in `compute_loss`
            index = -1
        return self._depth_models[index](inputs, training=True)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                    training=training)  # fmt: skip
        index = getattr(self, "_training_depth_index", None)
        if not training or index is None:
            return loss
        weight = getattr(self.config, "depth_distillation", 0.0)
        if self._sandwich():
            # y_pred is the deepest depth's; the drawn shallower depth adds its own loss.
            teacher, student = y_pred, self._depth_models[index](x, training=True)
            loss = loss + super().compute_loss(
                x=x, y=y, y_pred=student, sample_weight=sample_weight, training=training
            )
        elif weight and index + 1 < len(self.depths):
            teacher, student = self._depth_models[-1](x, training=False), y_pred
        else:
            return loss
        if weight:
            kl = self.distillation_loss(ops.stop_gradient(teacher), student, x)
            loss = loss + scale_for_replicas(weight * kl)  # as Keras scales its own losses
        return loss

    def distillation_loss(self, teacher_logits, logits, inputs, temperature=1.0):
        """Mean KL(teacher || student) of the softmax distributions of two
        logits tensors (each divided by `temperature`), over the examples
        (and positions) that `_distillation_weights(inputs)` counts."""
        teacher = ops.log_softmax(ops.cast(teacher_logits, "float32") / temperature, axis=-1)
        student = ops.log_softmax(ops.cast(logits, "float32") / temperature, axis=-1)
        kl = ops.sum(ops.exp(teacher) * (teacher - student), axis=-1)
        weights = self._distillation_weights(inputs)
        if weights is None:
            return ops.mean(kl)
        return ops.sum(kl * weights) / ops.maximum(ops.sum(weights), 1.0)

    def _distillation_weights(self, inputs):
        """`None` (every example counts) or float weights shaped like the
        KL (e.g. 0 for padding positions)."""
        return None
