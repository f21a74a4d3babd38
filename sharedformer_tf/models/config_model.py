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

    def in_float32(self):
        """This model if every layer computes in float32, else a float32
        copy with the same weights (the variables of a mixed-precision model
        already are float32). Exports use it so they compute in float32.

        Every layer is checked: a model loaded from a `.keras` file can
        report a float32 policy at the top while its layers compute in
        bfloat16.
        """
        if all(layer.dtype_policy.compute_dtype == "float32" for layer in self._flatten_layers()):
            return self
        copy = type(self)(self.config, dtype="float32", name=self.name)
        copy.set_weights(self.get_weights())
        return copy
