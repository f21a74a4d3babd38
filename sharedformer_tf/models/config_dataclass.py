"""Methods shared by the frozen config dataclasses of the models."""

import dataclasses

from sharedformer_tf.sharing import SharingPlan


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


def select_preset(presets, name, **changes):
    """`presets[name](**changes)`: the one lookup behind every config module's
    `preset(name, **changes)`; an unknown name is refused with the choices."""
    if name not in presets:
        raise ValueError(f"Unknown preset. Expected one of {sorted(presets)}. Received: {name!r}")
    return presets[name](**changes)
