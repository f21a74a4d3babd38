"""Choosing a `tf.distribute` strategy by name, and facts about the worker."""

import hashlib
import json
import logging
import os
import zlib

import keras
import numpy as np
import tensorflow as tf

from sharedformer_tf.distribute.keras_multi_worker_fix import apply_keras_multi_worker_fix

STRATEGY_NAMES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
logger = logging.getLogger("sharedformer_tf")


def make_strategy(name="auto", tpu=None):
    """Creates the `tf.distribute.Strategy` called `name`.

    - `"auto"`: a TPU if a TPU resolver finds one, `MirroredStrategy` if there
      are several GPUs, else one device.
    - `"one_device"`: `OneDeviceStrategy` on the first GPU, else the CPU.
    - `"mirrored"`: `MirroredStrategy` over all local GPUs (or all logical
      CPU devices when there is no GPU).
    - `"multi_worker"`: `MultiWorkerMirroredStrategy`; the cluster comes
      from the `TF_CONFIG` environment variable. Applies the fix for Keras'
      `model.fit` under this strategy (see `apply_keras_multi_worker_fix`).
    - `"tpu"`: `TPUStrategy`; `tpu` is the TPU name or address for
      `TPUClusterResolver` (default: found from the environment).

    Create it before any other TensorFlow work in the process (multi-worker
    and TPU set-up must happen first).

    Returns:
        A `tf.distribute.Strategy`.

    Raises:
        ValueError: for an unknown name, a malformed `TF_CONFIG`, or when no
            TPU is reachable for `"tpu"`.
    """
    if name not in STRATEGY_NAMES:
        raise ValueError(f"Expected a strategy in {STRATEGY_NAMES}. Received: strategy={name!r}")
    if name == "auto":
        resolver = _find_tpu(tpu)
        if resolver is not None:
            return _tpu_strategy(resolver)
        gpus = tf.config.list_logical_devices("GPU")
        name = "mirrored" if len(gpus) > 1 else "one_device"
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        _check_tf_config()
        apply_keras_multi_worker_fix()
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = _find_tpu(tpu)
    if resolver is None:
        raise ValueError(
            "--strategy tpu: no TPU is reachable from this machine"
            + (f" under the name {tpu!r}" if tpu else "")
            + ". Run on a TPU VM (or set TPU_NAME), or choose another --strategy. "
            f"Received: tpu={tpu!r}"
        )
    return _tpu_strategy(resolver)


def _find_tpu(tpu):
    """A connected `TPUClusterResolver`, or `None` when there is no TPU."""
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        logger.debug("No TPU: %s", error)
        return None
    return resolver


def _tpu_strategy(resolver):
    return tf.distribute.TPUStrategy(resolver)


def _check_tf_config():
    text = os.environ.get("TF_CONFIG")
    if not text:
        logger.warning("--strategy multi_worker without TF_CONFIG: training as a single worker.")
        return
    try:
        config = json.loads(text)
        workers = config["cluster"]["worker"]
        task = config["task"]
        int(task["index"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            'TF_CONFIG must be JSON like {"cluster": {"worker": ["host:port", ...]}, '
            f'"task": {{"type": "worker", "index": 0}}}}. Received: TF_CONFIG={text!r}'
        ) from error
    if not isinstance(workers, list) or not workers:
        raise ValueError(f"TF_CONFIG lists no workers. Received: TF_CONFIG={text!r}")


def is_chief(strategy=None):
    """Whether this process should write files (checkpoints, logs, models):
    always, except for the non-chief workers of a multi-worker cluster."""
    strategy = strategy or tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def strategy_name(strategy):
    """The public class name of `strategy` (`MultiWorkerMirroredStrategy`
    rather than its implementation class `CollectiveAllReduceStrategy`)."""
    for name in (
        "MultiWorkerMirroredStrategy",
        "TPUStrategy",
        "MirroredStrategy",
        "OneDeviceStrategy",
    ):
        if isinstance(strategy, getattr(tf.distribute, name)):
            return name
    return type(strategy).__name__


def worker_description(strategy):
    """A short text naming the strategy, its replicas and this worker."""
    text = f"{strategy_name(strategy)} with {strategy.num_replicas_in_sync} replica(s)"
    resolver = getattr(strategy, "cluster_resolver", None)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and resolver is not None:
        text += f", task {resolver.task_type}:{resolver.task_id}"
    return text


def whole_step_jit(strategy, requested=True):
    """Whether to XLA-compile the whole train step (`model.compile(
    jit_compile=...)`) under `strategy`, and why not when it is off.

    It is used on one device (and TPUs always compile). With several
    replicas on CPUs or GPUs the step contains the strategy's cross-replica
    collectives, which XLA cannot compile here (on virtual CPU devices it
    fails outright), so only the variable-free attention core can be
    compiled (`sharedformer_tf.layers.xla_attention`).

    Returns:
        `(jit_compile, reason)`: a bool and a text (`""` when on).
    """
    if not requested:
        return False, "turned off by the caller (--no-jit)"
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return True, ""
    if strategy.num_replicas_in_sync > 1 or isinstance(
        strategy, tf.distribute.MultiWorkerMirroredStrategy
    ):
        return False, (
            f"{strategy_name(strategy)} runs cross-replica collectives inside the step, "
            "which XLA does not compile on CPU/GPU replicas; only the attention core "
            "can be (--xla-attention)"
        )
    return True, ""


def check_same_across_workers(strategy, data, what):
    """Raises `ValueError` unless every worker of a multi-worker `strategy`
    passes the same `data` (bytes), e.g. the tokenizer each worker trained:
    workers that tokenize differently would train on inconsistent ids.

    A no-op for single-worker strategies. Otherwise a collective op: every
    worker must call it at the same point.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    digest = float(zlib.crc32(bytes(data)))  # < 2**32: exact in float64
    local = tf.constant([digest], tf.float64)
    digests = strategy.gather(strategy.run(lambda: tf.identity(local)), axis=0).numpy()
    if len(set(digests.tolist())) != 1:
        raise ValueError(
            f"The workers do not agree on the {what}: every worker must read the same "
            "data with the same flags. Received: checksums "
            f"{[int(d) for d in digests]} (one per replica)"
        )


def weights_digest(model):
    """SHA-256 (hex) of all of `model`'s weights in order: equal on every
    worker of a synchronous strategy, so workers can be compared."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(weight.name.encode())
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()
