import keras
import numpy as np
from keras import ops

from sharedformer_tf.distribute.loss_scaling import scale_for_replicas
from sharedformer_tf.layers.exit_heads import ExitHeads
from sharedformer_tf.layers.patch_embedding import PatchEmbedding
from sharedformer_tf.models.elastic_depth_model import ElasticDepthModel
from sharedformer_tf.stacks.shared_encoder import SharedEncoder


class PatchClassifier(ElasticDepthModel):
    """Base of the patch-based classifiers (`ViTClassifier`,
    `AudioClassifier`): patches -> pre-LN `SharedEncoder` following
    `config.plan` -> pooling -> float32 dense head, with elastic depth.

    A classifier whose config lists `depths` runs at any of them with the
    same weights: `at_depth(n)` is a Keras model of the classifier at `n`
    depths, `exit_logits` gives every depth's logits from one pass (early
    exit), and training runs one depth per step (`ElasticDepthModel`). With
    `depths` empty the model is the plain functional classifier.

    With `config.halting_prior` (learned halting, PonderNet), the head has
    one more unit, a halting logit, and every training step runs all exits:
    the loss is the expected cross-entropy under the halting distribution
    plus `config.halting_weight` times its KL divergence from a geometric
    prior (`halting_loss`). Early exit then leaves where the cumulative
    halting probability passes the threshold instead of the confidence.

    Subclasses compute their front end (pixels to `[0, 1]`, waveforms to a
    log-mel spectrogram) from `inputs` to `features` `[batch, height,
    width, channels]` and call this constructor.

    Args:
        inputs: the symbolic `keras.Input`.
        features: symbolic `[batch, height, width, channels]` to cut into
            patches.
        config: a config with `hidden_dim`, `num_heads`, `intermediate_dim`,
            `plan`, `pooling`, `dropout`, `per_depth_norms`,
            `layer_norm_epsilon`, `num_classes`, `depths`, `exit_heads`,
            `halting_prior` and `halting_weight`.
        patch_size: int or `(height, width)` of the patches.
        dtype: optional dtype policy.
        stem: optional dict of `PatchEmbedding` stem arguments
            (`stem_filters`, `stem_pooling`, `stem_activation`).
        **kwargs: `keras.Model` arguments such as `name`.
    """

    def __init__(self, inputs, features, config, patch_size, dtype=None, stem=None, **kwargs):
        c = config
        self.config = config
        self.patch_embedding = PatchEmbedding(
            patch_size, c.hidden_dim, use_class_token=c.pooling == "class_token", dtype=dtype,
            name="patch_embedding", **(stem or {}),
        )  # fmt: skip
        self.encoder = SharedEncoder(
            c.plan,
            num_heads=c.num_heads,
            intermediate_dim=c.intermediate_dim,
            dropout=c.dropout,
            activation="gelu",
            layer_norm_epsilon=c.layer_norm_epsilon,
            per_depth_norms=c.per_depth_norms,
            lora_rank=c.lora_rank,
            depths=list(c.depths) or None,
            dtype=dtype,
            name="encoder",
        )
        # Learned halting: one more unit, the halting logit of each exit.
        units = c.num_classes + (c.halting_prior is not None)
        if c.exit_heads == "per_depth" and c.depths:
            self.head = ExitHeads(units, sorted({*c.depths, c.plan.num_layers}), dtype="float32",
                                  name="logits")  # fmt: skip
        else:
            self.head = keras.layers.Dense(units, dtype="float32", name="logits")
        self._tokens = self.patch_embedding(features)
        outputs = self._logits(self._tokens)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)
        # The training branches and the front end; not tracked: they hold
        # this model's layers.
        object.__setattr__(
            self,
            "_depth_models",
            tuple(self.at_depth(depth) for depth in self.depths) if len(self.depths) > 1 else (),
        )
        object.__setattr__(self, "_front", keras.Model(inputs, self._tokens))
        if self.halting:
            self.encoder.exit_depth(self.depths)  # refuses a plan that cannot exit in one pass

    @property
    def elastic_stack(self):
        return self.encoder

    @property
    def halting(self):
        """Whether the model learns when to halt (`config.halting_prior`)."""
        return self.config.halting_prior is not None

    def make_train_function(self, force=False):
        """With learned halting: one train function whose steps run every
        exit (`call` gives their stacked outputs to `compute_loss`)."""
        if not self.halting:
            return super().make_train_function(force)
        if self.train_function is not None and not force:
            return self.train_function
        super(ElasticDepthModel, self).make_train_function(force=True)
        step = self.train_function

        def train_function(iterator):
            self._halting_step = True  # read by `call` when the step is traced
            try:
                return step(iterator)
            finally:
                self._halting_step = False

        self.train_function = train_function
        return train_function

    def call(self, inputs, training=None, mask=None):
        if training and getattr(self, "_halting_step", False):
            tokens = self._front(inputs, training=True)
            states = self.encoder(tokens, exit_depths=self.depths, training=True)
            return ops.stack(
                [
                    self._head_outputs(state, depth)
                    for state, depth in zip(states, self.depths, strict=True)
                ],
                axis=1,
            )
        return super().call(inputs, training=training, mask=mask)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y_pred is None or len(y_pred.shape) != 3:  # not a halting training step
            return super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                        training=training)  # fmt: skip
        loss = self.halting_loss(y, y_pred)
        if self.losses:
            loss = loss + ops.sum(self.losses)
        return scale_for_replicas(loss)  # as Keras scales its own losses

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if y_pred is not None and len(y_pred.shape) == 3:  # the deepest exit's logits
            y_pred = y_pred[:, -1, : self.config.num_classes]
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def halting_loss(self, labels, outputs):
        """PonderNet's loss from every exit's outputs.

        With `lambda_n` the halting probability at exit `n` (1 at the last),
        the probability of halting there is `p_n = lambda_n * prod_{j<n}
        (1 - lambda_j)`; the loss is `sum_n p_n * CE(labels, logits_n) +
        halting_weight * KL(p || prior)`, the prior geometric with
        parameter `halting_prior` over the exits (renormalized), averaged
        over the batch.

        Args:
            labels: int `[batch]` class ids.
            outputs: float `[batch, num_exits, num_classes + 1]`, each
                exit's logits and halting logit.

        Returns:
            float32 scalar.
        """
        c = self.config
        outputs = ops.cast(outputs, "float32")
        exits = len(self.depths)
        log_p = ops.log_softmax(outputs[..., : c.num_classes], axis=-1)
        picked = ops.take_along_axis(
            log_p, ops.reshape(ops.cast(labels, "int32"), (-1, 1, 1)), axis=-1
        )[..., 0]  # [batch, exits]
        halt = ops.sigmoid(outputs[:, :-1, c.num_classes])
        halt = ops.concatenate([halt, ops.ones_like(halt[:, :1])], axis=1)
        survived = ops.cumprod(1.0 - halt, axis=1)
        before = ops.concatenate([ops.ones_like(halt[:, :1]), survived[:, :-1]], axis=1)
        p = halt * before
        prior = c.halting_prior * (1 - c.halting_prior) ** np.arange(exits)
        log_prior = ops.convert_to_tensor(np.log(prior / prior.sum()), "float32")
        kl = ops.sum(p * (ops.log(ops.maximum(p, 1e-12)) - log_prior), axis=1)
        return ops.mean(ops.sum(p * -picked, axis=1) + c.halting_weight * kl)

    def _logits(self, tokens, depth=None, training=None):
        return self._head_logits(self.encoder(tokens, depth=depth, training=training), depth)

    def _head_outputs(self, x, depth=None):
        """The head's units: the class logits, then with learned halting
        the halting logit."""
        x = x[:, 0] if self.config.pooling == "class_token" else ops.mean(x, axis=1)
        if isinstance(self.head, ExitHeads):
            return self.head(x, depth=depth or self.encoder.num_layers)
        return self.head(x)

    def _head_logits(self, x, depth=None):
        outputs = self._head_outputs(x, depth)
        return outputs[:, : self.config.num_classes] if self.halting else outputs

    def exit_logits(self, inputs, depths=None, batch_size=256):
        """The logits after each of `depths` (default: all of `self.depths`)
        from one pass per batch: early exits, where every exit uses the same
        output norm and the head of its depth (`config.exit_heads`). Needs
        a plan whose shallower runs are the start of its deeper ones
        (`cycle`, `all`).

        Returns:
            list (one per depth, ascending) of float32 numpy arrays
            `[n, num_classes]`.
        """
        return [x[:, : self.config.num_classes]
                for x in self._exit_outputs(inputs, depths, batch_size)]  # fmt: skip

    def exit_halting(self, inputs, batch_size=256):
        """With learned halting: the halting probability at each of
        `depths` (the last one 1: every input halts there at the latest),
        from one pass per batch.

        Returns:
            list (one per depth, ascending) of float32 numpy arrays `[n]`.
        """
        if not self.halting:
            raise ValueError("This classifier has no halting head (train with --halting). "
                             "Received: halting_prior=None")  # fmt: skip
        outputs = self._exit_outputs(inputs, None, batch_size)
        halt = [1 / (1 + np.exp(-x[:, self.config.num_classes])) for x in outputs[:-1]]
        return [*halt, np.ones(len(inputs), "float32")]

    def _exit_outputs(self, inputs, depths, batch_size):
        depths = sorted(self.depths if depths is None else depths)
        unknown = sorted(set(depths) - set(self.depths))
        if unknown:
            raise ValueError(f"This classifier runs at depths {list(self.depths)}. "
                             f"Received: depths={depths}")  # fmt: skip
        self.encoder.exit_depth(depths)  # refuses a plan that cannot exit in one pass
        outputs = [[] for _ in depths]
        for start in range(0, len(inputs), batch_size):
            states = self.encoder(self._front(inputs[start : start + batch_size]),
                                  exit_depths=depths)  # fmt: skip
            for collected, state, depth in zip(outputs, states, depths, strict=True):
                collected.append(ops.convert_to_numpy(self._head_outputs(state, depth)))
        return [np.concatenate(collected) for collected in outputs]

    def adaptive_probabilities(self, inputs, depth, threshold):
        """Class probabilities with the depth and the exit rule computed in
        the graph (what the exports run): the stack runs its listed depths
        in ascending order, up to the depth budget, and an example leaves
        at the first whose highest class probability (with learned halting:
        whose cumulative halting probability) is above `threshold` (every
        exit uses the same output norm and its depth's head). Each further depth
        runs inside a conditional that is skipped once every example of the
        batch has left, so a confident input computes only its exit's
        depths. A depth whose run does not start with the previous one's
        (e.g. a `sequence` plan) recomputes from the patches.

        Args:
            inputs: a batch of the model's inputs.
            depth: int32 scalar, the depth budget: the deepest of `depths`
                not above it runs last (the shallowest if all are above).
            threshold: float32 scalar; `1.0` never exits early.

        Returns:
            Tuple of float32 probabilities `[batch, num_classes]` and int32
            `[batch]`, the depth each example left at.

        Example:

        >>> from sharedformer_tf import SharingPlan
        >>> from sharedformer_tf.models import ViTClassifier, vit_config
        >>> model = ViTClassifier(vit_config.tiny(hidden_dim=8, num_heads=2,
        ...     intermediate_dim=16, plan=SharingPlan(4, 1), depths=(2, 3)))
        >>> images = keras.ops.zeros((2, 28, 28, 1))
        >>> p, used = model.adaptive_probabilities(images, 3, 1.0)
        >>> tuple(p.shape), keras.ops.convert_to_numpy(used).tolist()
        ((2, 10), [3, 3])
        """
        depths = list(self.depths)
        tokens = self._front(inputs)
        depth = ops.convert_to_tensor(depth, "int32")
        threshold = ops.convert_to_tensor(threshold, "float32")

        classes = self.config.num_classes

        def stage(i, x, probabilities, used, done, survived):
            start = depths[i - 1] if i else 0
            blocks = self.encoder.blocks_at(depths[i])
            if i and blocks[:start] != self.encoder.blocks_at(start):
                x, start = tokens, 0
            x = self.encoder.advance(x, depths[i], start, training=False)
            outputs = ops.cast(self._head_outputs(self.encoder.finish(x), depths[i]), "float32")
            p = ops.softmax(outputs[:, :classes])
            if self.halting:  # the cumulative halting probability
                survived = survived * (1.0 - ops.sigmoid(outputs[:, classes]))
                score = 1.0 - survived
            else:
                score = ops.max(p, axis=-1)
            last = i + 1 == len(depths)
            leave = ops.logical_or(score > threshold,
                                   last or ops.greater(depths[i + 1], depth))  # fmt: skip
            if i == 0:
                probabilities, used, done = p, ops.full_like(leave, depths[0], "int32"), leave
            else:
                probabilities = ops.where(done[:, None], probabilities, p)
                used = ops.where(done, used, depths[i])
                done = ops.logical_or(done, leave)
            if last:
                return probabilities, used
            return ops.cond(ops.all(done), lambda: (probabilities, used),
                            lambda: stage(i + 1, x, probabilities, used, done,
                                          survived))  # fmt: skip

        return stage(0, tokens, None, None, None, 1.0)

    def with_depths(self, depths):
        if self.halting and not set(depths) <= set(self.depths):
            raise ValueError(
                f"This classifier learned to halt at depths {list(self.depths)} only "
                f"(halting_prior). Received: depths={sorted(depths)}"
            )
        if isinstance(self.head, ExitHeads) and not set(depths) <= set(self.depths):
            raise ValueError(
                f"This classifier has an exit head for depths {list(self.depths)} only "
                f"(exit_heads='per_depth'). Received: depths={sorted(depths)}"
            )
        return super().with_depths(depths)

    def at_depth(self, depth):
        """A `keras.Model` of this classifier at `depth` depths (one of
        `depths`): same inputs, the same layers and weights, logits
        `[batch, num_classes]`."""
        if depth not in self.depths:
            raise ValueError(f"This classifier runs at depths {list(self.depths)}. "
                             f"Received: depth={depth!r}")  # fmt: skip
        return keras.Model(self.input, self._logits(self._tokens, depth),
                           name=f"{self.name}_depth_{depth}")  # fmt: skip
