"""Methods shared by the frozen config dataclasses of the models."""

import dataclasses

from sharedformer_tf.layers.patch_embedding import stem_stages
from sharedformer_tf.sharing import SharingPlan
from sharedformer_tf.stacks.shared_decoder import KV_SHARING
from sharedformer_tf.validation import check_heads, check_positive_int, check_rate

POSITION_ENCODINGS = ("sine", "learned")
STEM_ACTIVATIONS = ("gelu", "relu")


class ConfigDataclass:
    """Mixin for frozen dataclasses: `replace`, `to_dict` (every
    `SharingPlan` field as its config) and `coerce`/`from_dict` (unknown
    fields are refused by name)."""

    def replace(self, **changes):
        """Returns a copy with `changes` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """Plain JSON-compatible dict (plans as their configs)."""
        result = dataclasses.asdict(self)
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, SharingPlan):
                result[field.name] = value.get_config()
        return result

    @classmethod
    def from_dict(cls, config):
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - fields)
        if unknown:
            raise ValueError(f"Unknown {cls.__name__} fields: {unknown}")
        return cls(**config)

    @classmethod
    def coerce(cls, value):
        """`value` if it is a `cls`, else `cls.from_dict(value)`."""
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            return cls.from_dict(value)
        raise TypeError(
            f"Expected a `{cls.__name__}` or its dict. "
            f"Received: config of type {type(value).__name__}"
        )


def check_depths(plan, depths):
    """The depths a model can also run (elastic depth), as a sorted tuple
    without the plan's own depth: `()` for none. Each must be one the plan
    can run (`SharingPlan.at_depth`); raises `ValueError` naming it."""
    if isinstance(depths, int) or not isinstance(depths, (list, tuple)):
        raise ValueError(f"`depths` must be a list of integers. Received: depths={depths!r}")
    for depth in depths:
        plan.at_depth(depth)
    return tuple(sorted(set(depths) - {plan.num_layers}))


EXIT_HEADS = ("shared", "per_depth")


def check_stem(config):
    """Checks `config.stem_activation` and puts `config.stem_filters` in its
    one form: 0 (no stem), an int (one convolution) or a tuple (several).
    Returns the number of times the stem halves the grid (its pooling
    stages; 0 without `stem_pooling`)."""
    if config.stem_activation not in STEM_ACTIVATIONS:
        raise ValueError(f"`stem_activation` must be one of {STEM_ACTIVATIONS}. "
                         f"Received: stem_activation={config.stem_activation!r}")  # fmt: skip
    stages = stem_stages(config.stem_filters)
    form = stages if len(stages) > 1 else (stages[0] if stages else 0)
    object.__setattr__(config, "stem_filters", form)
    return stem_halvings(config)


def stem_halvings(config):
    """How many times the stem of a (checked) config halves the grid: its
    convolutions with `stem_pooling`, else 0."""
    return len(stem_stages(config.stem_filters)) if config.stem_pooling else 0


def check_one_of(**fields):
    """Checks `name=(value, choices)` fields; raises `ValueError` naming the
    field, the choices and the value received."""
    for name, (value, choices) in fields.items():
        if value not in choices:
            raise ValueError(f"`{name}` must be one of {choices}. Received: {name}={value!r}")


DEPTH_SAMPLINGS = ("one", "sandwich")


def check_depth_distillation(weight, deepest_share=None, depth_sampling="one"):
    """Checks an elastic model's training fields: the `depth_distillation`
    weight (a finite number >= 0), `deepest_share` (`None` or in (0, 1))
    and `depth_sampling` (one of `DEPTH_SAMPLINGS`; `"sandwich"` runs the
    deepest depth every step, so it takes no `deepest_share`); raises
    `ValueError` naming the field."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < 1e6:
        raise ValueError(f"`depth_distillation` must be a number >= 0. "
                         f"Received: depth_distillation={weight!r}")  # fmt: skip
    if deepest_share is not None and (isinstance(deepest_share, bool)
                                      or not isinstance(deepest_share, (int, float))
                                      or not 0 < deepest_share < 1):  # fmt: skip
        raise ValueError(f"`deepest_share` must be in (0, 1) or None. "
                         f"Received: deepest_share={deepest_share!r}")  # fmt: skip
    check_one_of(depth_sampling=(depth_sampling, DEPTH_SAMPLINGS))
    if depth_sampling == "sandwich" and deepest_share is not None:
        raise ValueError(
            "`depth_sampling='sandwich'` runs the deepest depth in every step, so it "
            f"takes no `deepest_share`. Received: deepest_share={deepest_share!r}"
        )


def check_halting(config):
    """Checks a classifier's learned halting fields: `halting_prior` `None`
    or in (0, 1), only with `depths` and without the per-step depth draw's
    options (`depth_distillation`, `deepest_share`, `depth_sampling`), and `halting_weight`
    a number >= 0; raises `ValueError` naming the field."""
    prior, weight = config.halting_prior, config.halting_weight
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < 1e6:
        raise ValueError(f"`halting_weight` must be a number >= 0. "
                         f"Received: halting_weight={weight!r}")  # fmt: skip
    if prior is None:
        return
    if isinstance(prior, bool) or not isinstance(prior, (int, float)) or not 0 < prior < 1:
        raise ValueError(f"`halting_prior` must be in (0, 1) or None. "
                         f"Received: halting_prior={prior!r}")  # fmt: skip
    if not config.depths:
        raise ValueError("Learned halting needs exits: set `depths` (the depths to exit "
                         f"after). Received: halting_prior={prior}, depths=()")  # fmt: skip
    if (config.depth_distillation or config.deepest_share is not None
            or config.depth_sampling != "one"):  # fmt: skip
        raise ValueError(
            "Learned halting trains every exit in each step, so it takes no "
            "`depth_distillation`, `deepest_share` or `depth_sampling` (options of the "
            f"per-step depth draw). Received: depth_distillation={config.depth_distillation}, "
            f"deepest_share={config.deepest_share}, depth_sampling={config.depth_sampling!r}"
        )


def check_lora_rank(config):
    """Checks `config.lora_rank`: `None` or a positive int."""
    if config.lora_rank is not None:
        check_positive_int(lora_rank=config.lora_rank)


def select_preset(presets, name, **changes):
    """`presets[name](**changes)`: the one lookup behind every config module's
    `preset(name, **changes)`; an unknown name is refused with the choices."""
    if name not in presets:
        raise ValueError(f"Unknown preset. Expected one of {sorted(presets)}. Received: {name!r}")
    return presets[name](**changes)


def check_token_model(config):
    """Checks the fields every token model's config has (`Seq2SeqConfig`,
    `CausalLMConfig`): sizes, heads, `embedding_dim`, `adapter_dim`, `lora_rank`,
    `dropout`, `position_encoding`, `kv_sharing` and distinct special ids
    inside the vocabulary; raises `ValueError` naming the field and value."""
    check_positive_int(
        vocabulary_size=config.vocabulary_size,
        hidden_dim=config.hidden_dim,
        num_heads=config.num_heads,
        intermediate_dim=config.intermediate_dim,
        max_length=config.max_length,
    )
    check_heads(config.hidden_dim, config.num_heads)
    if config.embedding_dim is not None and not 1 <= config.embedding_dim <= config.hidden_dim:
        raise ValueError(
            "`embedding_dim` must be None or in [1, hidden_dim]. Received: "
            f"embedding_dim={config.embedding_dim}, hidden_dim={config.hidden_dim}"
        )
    if config.adapter_dim is not None:
        check_positive_int(adapter_dim=config.adapter_dim)
    check_lora_rank(config)
    check_rate(dropout=config.dropout)
    if config.position_encoding not in POSITION_ENCODINGS:
        raise ValueError(
            f"`position_encoding` must be one of {POSITION_ENCODINGS}. "
            f"Received: position_encoding={config.position_encoding!r}"
        )
    if config.kv_sharing not in KV_SHARING:
        raise ValueError(
            f"`kv_sharing` must be one of {KV_SHARING}. Received: kv_sharing={config.kv_sharing!r}"
        )
    ids = {"pad_id": config.pad_id, "bos_id": config.bos_id, "eos_id": config.eos_id}
    for field, value in ids.items():
        if not isinstance(value, int) or not 0 <= value < config.vocabulary_size:
            raise ValueError(
                f"`{field}` must be an id in [0, vocabulary_size). Received: "
                f"{field}={value!r}, vocabulary_size={config.vocabulary_size}"
            )
    if len(set(ids.values())) != 3:
        raise ValueError(f"Special token ids must differ. Received: {ids}")
