import keras


class ConfigModel(keras.Model):
    """Base of the functional models built from a config dataclass
    (`Seq2SeqTransformer`, `ViTClassifier`): they serialize as
    `{"name", "trainable", "dtype", "config"}` and are rebuilt by calling
    the class with that config, so sharing is wired again on load.

    Subclasses set `self.config` (a dataclass with `to_dict()`) and take
    `(config, dtype=None, **kwargs)`.
    """

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "config": self.config.to_dict(),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)
