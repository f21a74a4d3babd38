"""Training and decoding speed of sharedformer_tf against a plain keras-hub
Transformer at equal shapes, with the CPU's measured matmul peak and each
run's model FLOPs utilization (MFU).

    python benchmarks/throughput.py [--preset tiny] [--batch-size 32] [--length 32]

Same machine, same process, same shapes; configurations are timed in many
short interleaved rounds and each reports its fastest round (on a shared
machine other load only ever adds time), so the ratios hold even when
absolute times do not.

- train: target tokens/s of `Seq2SeqTransformer` with the unshared plan and
  with the preset's shared plan, and of a stack of
  `keras_hub.layers.TransformerEncoder`/`TransformerDecoder` with the same
  hidden size, heads, feed-forward size and depth; each with the whole train
  step XLA-compiled and without, plus the shared model with only its
  attention core compiled (the path under multi-replica strategies).
- decode: greedy sentences/s for `--decode-length` output tokens with the
  KV cache and without it (a full forward pass per token), each as a graph
  and XLA-compiled; both must give the same tokens. The untrained model's
  EOS embedding row is zeroed so no sentence stops early. Against it,
  keras-hub's best path at equal shapes (the keras-hub stack of the same
  width and depth with its own self- and cross-attention caches, a
  statically unrolled loop, as a graph and XLA-compiled; EOS never picked),
  checked against keras-hub's uncached greedy decoding. Also the preset's
  model with `kv_sharing="group"` (decoder depths of a self-attention group
  share its keys/values and cache slot), checked against its own uncached
  decoding: `decode_ratio_kv_group_vs_keras_hub_cached`.
- evaluate: `translation.evaluate` of `--evaluate-sentences` builtin test
  sentences with XLA (bucketed shapes) and without, in batches of 64 (the
  default) and 32, same translations; `evaluate_xla_speedup` is XLA against
  graph at 64.
- real data (`--real-data bible:es-en`, the default; `none` skips it): end
  to end training on `--real-pairs` natural sentence pairs of that SPEC's
  training split at `--real-max-length`, one epoch a round, the same
  tokenized pairs for every configuration: the project's pipeline (batches
  of similar lengths, each padded to its 8-token bucket) and the one
  keras-hub's examples use (every batch padded to the longest length), for
  the shared model and the keras-hub stack alike, whole step XLA-compiled.
  Real (non-padding) target tokens/s and the padding fraction of each
  pipeline; `train_real_tokens_ratio_vs_keras_hub` is the shared model on
  its own pipeline against keras-hub on its own.
- mfu: analytic model FLOPs per step (3x the forward matmul FLOPs, the
  usual convention) / step time / measured matmul peak.

The last stdout line is one JSON object with `train_ratio_vs_keras_hub`,
`train_real_tokens_ratio_vs_keras_hub`, `decode_cache_speedup`,
`decode_ratio_vs_keras_hub_cached` and `mfu` among others.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import keras_hub  # noqa: E402
import keras_hub_baseline  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from sharedformer_tf import SharingPlan, training  # noqa: E402
from sharedformer_tf.app import flags  # noqa: E402
from sharedformer_tf.data import builtin_corpus, text_pairs  # noqa: E402
from sharedformer_tf.data.sentencepiece_vocabulary import train_sentencepiece  # noqa: E402
from sharedformer_tf.data.translation_dataset import make_translation_dataset  # noqa: E402
from sharedformer_tf.layers.xla_attention import xla_attention, xla_attention_enabled  # noqa: E402
from sharedformer_tf.models import Seq2SeqTransformer, seq2seq_config  # noqa: E402
from sharedformer_tf.models.graph_generation import generate  # noqa: E402
from sharedformer_tf.preprocessing import Seq2SeqPreprocessor  # noqa: E402
from sharedformer_tf.translation import Translator, evaluate  # noqa: E402


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(seq2seq_config.PRESETS), default="tiny")
    parser.add_argument("--batch-size", type=flags.positive_int, default=32)
    parser.add_argument("--length", type=flags.positive_int, default=32, help="source = target")
    parser.add_argument("--steps", type=flags.positive_int, default=5, help="timed steps a round")
    parser.add_argument("--rounds", type=flags.positive_int, default=10)
    parser.add_argument("--decode-length", type=flags.positive_int, default=40)
    parser.add_argument("--decode-batch", type=flags.positive_int, default=8)
    parser.add_argument("--evaluate-sentences", type=flags.positive_int, default=1000)
    parser.add_argument("--real-data", default="bible:es-en", help="SPEC, or none")
    parser.add_argument("--real-pairs", type=flags.positive_int, default=2048)
    parser.add_argument("--real-max-length", type=flags.int_at_least(8), default=128)
    parser.add_argument("--real-rounds", type=flags.positive_int, default=3)
    return parser.parse_args(argv)


def measure_matmul_peak(size=1024, repeats=20):
    """Best float32 matmul GFLOP/s over a few timed chains of `repeats`
    dependent products (a chain, so graph optimizations cannot merge them)."""
    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size)) / size**0.5  # keeps the chain's scale

    @tf.function
    def chain(x, b):
        for _ in range(repeats):
            x = tf.matmul(x, b)
        return x

    chain(a, b).numpy()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        chain(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 * repeats / best / 1e9


def forward_flops(config, batch, source, target):
    """Matmul FLOPs of one forward pass (projections, attention scores and
    weighted sums, feed-forward, output layer) for `batch` pairs. Depth,
    not sharing, sets the cost: shared and unshared models of one shape
    count the same."""
    h, f, v = config.hidden_dim, config.intermediate_dim, config.vocabulary_size
    enc = config.encoder_plan.num_layers * source * (8 * h * h + 4 * source * h + 4 * h * f)
    dec_self = 8 * h * h + 4 * target * h + 4 * h * f
    dec_cross = 4 * h * h * target + 4 * h * h * source + 4 * target * source * h
    dec = config.decoder_plan.num_layers * (target * dec_self + dec_cross)
    return batch * (enc + dec + 2 * target * h * v)


class StepTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def train_models(config, baseline_layers):
    plain = config.replace(
        encoder_plan=SharingPlan(config.encoder_plan.num_layers, strategy="none"),
        decoder_plan=SharingPlan(config.decoder_plan.num_layers, strategy="none"),
        share_encoder_decoder=False,
    )
    return {
        "sharedformer_shared": lambda: Seq2SeqTransformer(config),
        "sharedformer_unshared": lambda: Seq2SeqTransformer(plain),
        "keras_hub": lambda: keras_hub_baseline.build(
            config.vocabulary_size,
            config.hidden_dim,
            config.num_heads,
            config.intermediate_dim,
            baseline_layers,
            config.max_length,
            config.dropout,
        ),  # fmt: skip
    }


def benchmark_training(config, args, peak):
    rng = np.random.default_rng(0)
    shape = (args.batch_size, args.length)
    batch = (
        {
            "encoder_token_ids": rng.integers(3, config.vocabulary_size, shape).astype("int32"),
            "decoder_token_ids": rng.integers(3, config.vocabulary_size, shape).astype("int32"),
        },
        rng.integers(3, config.vocabulary_size, shape).astype("int32"),
    )
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    tokens = args.batch_size * args.length
    flops = 3 * forward_flops(config, args.batch_size, args.length, args.length)
    models = train_models(config, config.encoder_plan.num_layers)
    configurations = [(name, jit, "on") for name in models for jit in (True, False)]
    # Whole step uncompiled (the path under multi-replica strategies): the
    # attention core compiled on its own (above) and not at all.
    configurations.append(("sharedformer_shared", False, "off"))
    runs = {}
    for name, jit, attention in configurations:
        with xla_attention(attention):
            keras.utils.set_random_seed(0)
            model = models[name]()
            training.compile_seq2seq(model, 10_000, jit_compile=jit)
            model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)  # compile
            runs[(name, jit, attention)] = {
                "model": model,
                "seconds": [],
                "attention_xla": name.startswith("sharedformer") and xla_attention_enabled(),
            }
    timer = StepTimer()
    for _ in range(args.rounds):  # interleaved: noise hits every configuration
        for (_, _, attention), run in runs.items():
            with xla_attention(attention):
                run["model"].fit(
                    dataset, steps_per_epoch=args.steps, epochs=1, verbose=0, callbacks=[timer]
                )
            run["seconds"].append(timer.seconds / args.steps)
    rows = []
    for (name, jit, _), run in runs.items():
        step = min(run["seconds"])
        params = int(sum(np.prod(w.shape) for w in run["model"].trainable_weights))
        rows.append({
            "model": name, "xla": jit, "attention_xla": jit or run["attention_xla"],
            "stored_params": params, "step_ms": round(step * 1e3, 2),
            "train_tokens_per_second": round(tokens / step, 1),
            "model_tflops_per_step": round(flops / 1e12, 4),
            "mfu": round(flops / step / (peak * 1e9), 4),
        })  # fmt: skip
    return rows


def benchmark_real_data(config, args, pairs):
    """Epochs over the same natural pairs (`pairs`, the SPEC's training
    split) with each model on each pipeline (see the module docstring):
    real target tokens/s and padding."""
    order = np.random.default_rng(0).permutation(len(pairs))[: args.real_pairs]
    pairs = [pairs[i] for i in order]
    proto = train_sentencepiece([t for p in pairs for t in p], config.vocabulary_size)
    tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)
    config = config.replace(vocabulary_size=tokenizer.vocabulary_size(),
                            max_length=args.real_max_length)  # fmt: skip
    preprocessor = Seq2SeqPreprocessor.for_model(config, tokenizer)
    pipelines = {
        "bucketed": make_translation_dataset(pairs, preprocessor, args.batch_size),
        "padded_to_longest": make_translation_dataset(
            pairs, preprocessor, args.batch_size, bucket_step=config.max_length
        ),
    }
    padding, targets = {}, {}
    for name, dataset in pipelines.items():
        real = positions = targets[name] = 0
        for inputs, labels in dataset.as_numpy_iterator():
            targets[name] += int((labels != config.pad_id).sum())
            for ids in (inputs["encoder_token_ids"], labels):
                real += int((ids != config.pad_id).sum())
                positions += ids.size
        padding[name] = round(1 - real / positions, 4)
    if len(set(targets.values())) != 1:
        raise AssertionError(f"the pipelines hold different tokens: {targets}")
    real_targets = targets["bucketed"]
    models = train_models(config, config.encoder_plan.num_layers)
    runs = {}
    for model_name in ("sharedformer_shared", "keras_hub"):
        for pipeline in pipelines:
            keras.utils.set_random_seed(0)
            model = models[model_name]()
            training.compile_seq2seq(model, 10_000, jit_compile=True)
            model.fit(pipelines[pipeline], epochs=1, verbose=0)  # compiles every shape
            runs[(model_name, pipeline)] = (model, [])
    timer = StepTimer()
    for _ in range(args.real_rounds):  # interleaved
        for (_, pipeline), (model, seconds) in runs.items():
            model.fit(pipelines[pipeline], epochs=1, verbose=0, callbacks=[timer])
            seconds.append(timer.seconds)
    rows = [{"model": model_name, "pipeline": pipeline,
             "epoch_seconds": round(min(seconds), 2),
             "real_target_tokens_per_second": round(real_targets / min(seconds), 1),
             "padding_fraction": padding[pipeline]}
            for (model_name, pipeline), (_, seconds) in runs.items()]  # fmt: skip
    return {"data": args.real_data, "pairs": len(pairs), "max_length": config.max_length,
            "batch_size": args.batch_size, "real_target_tokens": real_targets,
            "rows": rows}  # fmt: skip


def uncached_greedy(model, length, bos_id, jit_compile=False):
    """Greedy decoding without a cache: a full forward pass per token."""

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)], jit_compile=jit_compile)
    def decode(source):
        batch = tf.shape(source)[0]
        target = tf.concat(
            [tf.fill([batch, 1], bos_id), tf.zeros([batch, length], tf.int32)], axis=1
        )
        for i in tf.range(length):
            inputs = {"encoder_token_ids": source, "decoder_token_ids": target[:, :-1]}
            logits = model(inputs, training=False)
            token = tf.math.top_k(logits[:, i], k=1).indices[:, 0]
            column = tf.one_hot(i + 1, length + 1, on_value=1, off_value=0, dtype=tf.int32)
            target += column[None, :] * token[:, None]
        return target[:, 1:]

    return decode


def decoding_model(config):
    """The untrained model of `config`, its EOS embedding row zeroed so no
    sentence stops early."""
    keras.utils.set_random_seed(0)
    model = Seq2SeqTransformer(config.replace(max_length=max(config.max_length, 64)))
    table = model.get_layer("token_embedding").weights[0]
    table.assign(tf.tensor_scatter_nd_update(table, [[config.eos_id]], [tf.zeros(table.shape[1])]))
    return model


def benchmark_decoding(config, args):
    model = decoding_model(config)
    # The same model with Mixture-of-Recursions' key/value sharing (another
    # model: its own tokens, checked against its own uncached decoding).
    kv_group = decoding_model(config.replace(kv_sharing="group"))
    rng = np.random.default_rng(1)
    source = rng.integers(3, config.vocabulary_size, (args.decode_batch, args.length))
    source = source.astype("int32")
    n = args.decode_length
    uncached = uncached_greedy(model, n, config.bos_id)
    uncached_xla = uncached_greedy(model, n, config.bos_id, jit_compile=True)
    uncached_kv_group = uncached_greedy(kv_group, n, config.bos_id)
    # keras-hub at equal shapes (the stack of `train_models`), EOS never picked.
    baseline = keras_hub_baseline.build(
        config.vocabulary_size, config.hidden_dim, config.num_heads, config.intermediate_dim,
        config.encoder_plan.num_layers, max(config.max_length, 64), config.dropout,
    )  # fmt: skip
    kernel, bias = baseline.get_layer("logits").weights
    columns = tf.tensor_scatter_nd_update(tf.transpose(kernel), [[config.eos_id]],
                                          [tf.zeros(kernel.shape[0])])  # fmt: skip
    kernel.assign(tf.transpose(columns))
    bias.assign(tf.tensor_scatter_nd_update(bias, [[config.eos_id]], [-1e9]))
    keras_hub_cached = keras_hub_baseline.cached_greedy(baseline, n, config.bos_id, False)
    keras_hub_cached_xla = keras_hub_baseline.cached_greedy(baseline, n, config.bos_id, True)
    functions = {
        "cached": lambda: generate(model, source, n),
        "cached_xla": lambda: generate(model, source, n, jit_compile=True),
        "uncached": lambda: uncached(source),
        "uncached_xla": lambda: uncached_xla(source),
        "keras_hub_cached": lambda: keras_hub_cached(source),
        "keras_hub_cached_xla": lambda: keras_hub_cached_xla(source),
        "cached_kv_group": lambda: generate(kv_group, source, n),
        "cached_xla_kv_group": lambda: generate(kv_group, source, n, jit_compile=True),
    }
    outputs = {name: np.asarray(fn()) for name, fn in functions.items()}  # traces
    ours = [name for name in functions if not name.startswith("keras_hub") and "kv" not in name]
    if not all(np.array_equal(outputs["uncached"], outputs[name]) for name in ours):
        raise AssertionError("cached and uncached greedy decoding disagree")
    reference = np.asarray(uncached_kv_group(source))
    for name in ("cached_kv_group", "cached_xla_kv_group"):
        if not np.array_equal(outputs[name], reference):
            raise AssertionError(f"{name} disagrees with its model's uncached greedy decoding")
    if np.any(outputs["cached"] == config.eos_id):
        raise AssertionError("a sentence stopped early: EOS must not be generated here")
    reference = keras_hub_baseline.greedy(baseline, source, n, config.bos_id, config.eos_id)
    for name in ("keras_hub_cached", "keras_hub_cached_xla"):
        if not np.array_equal(outputs[name], reference):
            raise AssertionError(f"{name} disagrees with keras-hub's uncached greedy decoding")
    seconds = {name: [] for name in functions}
    for _ in range(args.rounds):
        for name, fn in functions.items():
            start = time.perf_counter()
            np.asarray(fn())
            seconds[name].append(time.perf_counter() - start)
    rows = {name: round(args.decode_batch / min(s), 2) for name, s in seconds.items()}
    return {"output_tokens": n, "batch": args.decode_batch, "sentences_per_second": rows}


def benchmark_evaluate(config, args):
    """`translation.evaluate` of the builtin test split with and without XLA
    (`Translator.translate(jit_compile=...)`: bucketed shapes), untrained
    model with a real tokenizer, EOS never generated (every sentence is
    decoded to full length): sentences/s of each, their outputs equal."""
    pairs = builtin_corpus.generate("en-fr", "train", 2000, seed=0)
    proto = train_sentencepiece([t for p in pairs for t in p], config.vocabulary_size)
    tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)
    keras.utils.set_random_seed(0)
    model = Seq2SeqTransformer(config.replace(vocabulary_size=tokenizer.vocabulary_size()))
    table = model.get_layer("token_embedding").weights[0]
    table.assign(tf.tensor_scatter_nd_update(table, [[config.eos_id]], [tf.zeros(table.shape[1])]))
    translator = Translator(model, tokenizer)
    test = builtin_corpus.generate("en-fr", "test", args.evaluate_sentences, seed=0)
    # Before: graph decoding (the default until 2026-12-03); now: XLA with
    # bucketed shapes (the app's default); both in batches of 64 (the default),
    # and of 32.
    settings = {"graph_batch_64": (False, 64), "xla_batch_32": (True, 32),
                "xla_batch_64": (True, 64), "graph_batch_32": (False, 32)}  # fmt: skip
    rows, outputs = {}, {}
    for _ in range(2):  # interleaved; the faster of the two runs counts (the first compiles)
        for name, (jit_compile, batch) in settings.items():
            metrics, outputs[name] = evaluate(translator, test, batch_size=batch,
                                              jit_compile=jit_compile)  # fmt: skip
            rate = round(len(test) / metrics["seconds"], 2)
            rows[name] = max(rows.get(name, 0), rate)
    if any(out != outputs["graph_batch_64"] for out in outputs.values()):
        raise AssertionError("evaluate with XLA and without gave different translations")
    return {"sentences": len(test), "sentences_per_second": rows,
            "xla_speedup": round(rows["xla_batch_64"] / rows["graph_batch_64"], 2)}  # fmt: skip


def real_rate(real, model, pipeline):
    (row,) = [r for r in real["rows"] if r["model"] == model and r["pipeline"] == pipeline]
    return row["real_target_tokens_per_second"]


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    config = seq2seq_config.preset(args.preset)
    if args.length > config.max_length:
        raise SystemExit(f"--length must be <= {config.max_length} for --preset {args.preset}")
    # The natural pairs are read first, so a bad SPEC or a missing package
    # stops the run before the long parts.
    real_pairs = None
    if args.real_data != "none":
        real_pairs = text_pairs.read_pairs(args.real_data, "train")
    peak = measure_matmul_peak()
    print(f"matmul peak: {peak:.1f} GFLOP/s (float32)", flush=True)
    rows = benchmark_training(config, args, peak)
    for row in rows:
        print(json.dumps(row), flush=True)
    decode = benchmark_decoding(config, args)
    print(json.dumps(decode), flush=True)
    evaluation = benchmark_evaluate(config, args)
    print(json.dumps(evaluation), flush=True)
    real = None
    if real_pairs is not None:
        real = benchmark_real_data(config, args, real_pairs)
        print(json.dumps(real), flush=True)

    def best(name):  # XLA as each model runs best
        candidates = [r for r in rows if r["model"] == name]
        return max(candidates, key=lambda r: r["train_tokens_per_second"])

    shared, baseline = best("sharedformer_shared"), best("keras_hub")
    shared_step_only = [r for r in rows if r["model"] == "sharedformer_shared" and not r["xla"]]
    rates = decode["sentences_per_second"]
    summary = {
        "preset": args.preset, "batch_size": args.batch_size, "length": args.length,
        "matmul_peak_gflops": round(peak, 1),
        "train_ratio_vs_keras_hub": round(
            shared["train_tokens_per_second"] / baseline["train_tokens_per_second"], 3),
        "train_ratio_unshared_vs_keras_hub": round(
            best("sharedformer_unshared")["train_tokens_per_second"]
            / baseline["train_tokens_per_second"], 3),
        "shared_xla": shared["xla"], "keras_hub_xla": baseline["xla"],
        # Each decoder as it runs best (graph or XLA), then both without XLA.
        "decode_cache_speedup": round(
            max(rates["cached"], rates["cached_xla"])
            / max(rates["uncached"], rates["uncached_xla"]), 2),
        "decode_cache_speedup_graph": round(rates["cached"] / rates["uncached"], 2),
        # Ours against keras-hub's cached decoder, each at its best (graph or XLA).
        "decode_ratio_vs_keras_hub_cached": round(
            max(rates["cached"], rates["cached_xla"])
            / max(rates["keras_hub_cached"], rates["keras_hub_cached_xla"]), 3),
        # The same shapes with kv_sharing="group" (fewer key/value
        # projections and cache slots per token; a model trained that way).
        "decode_ratio_kv_group_vs_keras_hub_cached": round(
            max(rates["cached_kv_group"], rates["cached_xla_kv_group"])
            / max(rates["keras_hub_cached"], rates["keras_hub_cached_xla"]), 3),
        "mfu": shared["mfu"], "mfu_keras_hub": baseline["mfu"],
        "attention_only_xla_step_ratio": round(
            max(r["step_ms"] for r in shared_step_only if r["attention_xla"])
            / min(r["step_ms"] for r in shared_step_only if not r["attention_xla"]), 3),
        "evaluate_xla_speedup": evaluation["xla_speedup"],
        "train_real_tokens_ratio_vs_keras_hub": real and round(
            real_rate(real, "sharedformer_shared", "bucketed")
            / real_rate(real, "keras_hub", "padded_to_longest"), 3),
        "train": rows, "decode": decode, "evaluate": evaluation, "train_real_data": real,
    }  # fmt: skip
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
