"""Quality, size and speed of a shared translator against the unshared model
of the same shape and a plain keras-hub Transformer, trained side by side on
the same data for the same number of epochs.

Models (`--models`, comma-separated): `shared` (the preset), `shared_kv`
(the preset with `kv_sharing="group"`: decoder depths of a self-attention
group share its keys and values and one cache slot), `unshared` (the
preset's shape without sharing) and `keras_hub`.

    python benchmarks/translate_quality.py [--preset tiny] [--epochs 3] [--data builtin:en-fr]
                                           [--max-length N] [--models shared,keras_hub]
                                           [--seeds 0,1] [--rows FILE]
                                           [--validation-examples N]
                                           [--groups-ffn M] [--share-encoder-decoder]
                                           [--adapter-dim D] [other sharing flags]
                                           [--dropout P]

The sharing flags of `apps/translate.py train` (`--layers`, `--groups`,
`--groups-ffn`, `--sharing`, `--share-scope`, `--[no-]per-depth-norms`,
`--[no-]share-encoder-decoder`, `--adapter-dim`) change the preset's shared
models, to measure a design against the same anchors; `unshared` takes only
`--layers` from them. `--dropout P` sets every model's residual, attention
and feed-forward dropout, the keras-hub model's too (default: the preset's),
to tune it per model with `--models M`.

Each model decodes greedily with its fastest path at these lengths: ours
with its caches, XLA-compiled (`Translator.translate(jit_compile=True)`;
`--no-jit` turns XLA off for training and decoding), keras-hub with its own
caches as a graph (`keras_hub_translate`); the decoding speed of a row
includes compiling. Each model family trains at
its own peak learning rate: `--learning-rate` for the sharedformer_tf models
(default: the preset's, `training.recipes.SEQ2SEQ_LEARNING_RATES`),
`--baseline-learning-rate` for keras-hub (post-LN, it needs a lower one).
With `--validation-examples N` each row also scores the first N pairs of
the validation split (`validation_bleu`, `validation_chrf`): choose a
recipe on those, never on the test pairs. The last stdout line is one
JSON object with a row per model and seed (with its learning rate), each
model's mean over the seeds, the paired differences of every model
from `shared` over the seeds (BLEU and chrF, mean and standard error),
sacrebleu's signatures, how many training pairs have a side longer than
`--max-length` (`truncated_train_pairs`: cut to it in training), and the
stored parameters of the preset against the keras-hub model at the corpus'
vocabulary and at the preset's.

With `--rows FILE` every finished row is also appended to FILE (JSON lines,
each with the settings it was trained with), and a row already there for the
same settings, model, seed and learning rate is reused instead of trained again
(`rows_file`): seeds too long for one sitting can be added by later runs of
the same command with more `--seeds`, and the summary pairs them all.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import app_sharing_comparison  # noqa: E402
import keras  # noqa: E402
import keras_hub  # noqa: E402
import keras_hub_baseline  # noqa: E402
import numpy as np  # noqa: E402
import rows_file  # noqa: E402

import sharedformer_tf as sf  # noqa: E402
from sharedformer_tf import training  # noqa: E402
from sharedformer_tf.app import flags  # noqa: E402
from sharedformer_tf.data import text_pairs  # noqa: E402
from sharedformer_tf.data.sentencepiece_vocabulary import train_sentencepiece  # noqa: E402
from sharedformer_tf.data.translation_dataset import (  # noqa: E402
    count_truncated_pairs,
    make_translation_dataset,
)
from sharedformer_tf.models import Seq2SeqTransformer, seq2seq_config  # noqa: E402
from sharedformer_tf.preprocessing import Seq2SeqPreprocessor  # noqa: E402
from sharedformer_tf.training import recipes  # noqa: E402
from sharedformer_tf.translation import Translator, score  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = getattr(self, "seconds", []) + [time.perf_counter() - self.start]


def target_tokens(dataset):
    return int(sum(int(np.sum(labels != 0)) for _, labels in dataset.as_numpy_iterator()))


def run(name, model, translator_fn, train_ds, tokens, held_out, args, learning_rate):
    """Trains `model` and scores it on the `held_out["test"]` pairs, and on
    `held_out["validation"]` if any (to choose a recipe without the test
    pairs)."""
    test = held_out["test"]
    steps = int(train_ds.cardinality()) * args.epochs
    training.compile_seq2seq(model, steps, learning_rate, jit_compile=not args.no_jit)
    timer = EpochTimer()
    model.fit(train_ds, epochs=args.epochs, callbacks=[timer], verbose=2)
    report = sf.parameter_report(model)
    start = time.perf_counter()
    outputs = translator_fn([s for s, _ in test])
    decode_seconds = time.perf_counter() - start
    row = {"model": name, "unique_params": report["unique_params"],
           "effective_params": report["effective_params"],
           "learning_rate": learning_rate}  # fmt: skip
    metrics = score(outputs, [t for _, t in test])
    signature = metrics.pop("signature")
    row.update(metrics)
    # Steady state: epochs after the first, which also pays for compilation.
    steady = timer.seconds[1:] or timer.seconds
    row["train_tokens_per_second"] = round(tokens / (sum(steady) / len(steady)), 1)
    row["decode_sentences_per_second"] = round(len(test) / decode_seconds, 1)
    if held_out["validation"]:
        sources, references = zip(*held_out["validation"], strict=True)
        scores = score(translator_fn(list(sources)), list(references))
        row.update(validation_bleu=scores["bleu"], validation_chrf=scores["chrf"])
    print(json.dumps(row), flush=True)
    return row, signature


def build_baseline(config, num_layers):
    """The keras-hub model of `config`'s width, vocabulary and dropout."""
    return keras_hub_baseline.build(
        config.vocabulary_size, config.hidden_dim, config.num_heads,
        config.intermediate_dim, num_layers, config.max_length, config.dropout,
    )  # fmt: skip


def stored_params_vs_keras_hub(config, baseline_layers):
    """Stored parameters of `config`'s model and of the keras-hub baseline
    of the same width at `config`'s vocabulary, built but not trained."""
    shared = sf.parameter_report(Seq2SeqTransformer(config))["unique_params"]
    baseline = sf.parameter_report(build_baseline(config, baseline_layers))["unique_params"]
    return {"vocabulary_size": config.vocabulary_size, "shared": shared,
            "keras_hub": baseline, "ratio": round(shared / baseline, 3)}  # fmt: skip


def keras_hub_translate(model, helper, batch_size=64):
    """Greedy translation with keras-hub's fastest path for a model of
    `keras_hub_baseline.build` at this length: its own self- and
    cross-attention caches (`keras_hub_baseline.cached_greedy`) as a graph,
    sentences sorted by length into batches of `batch_size`. Not
    XLA-compiled: the loop is unrolled over every output position, and at
    127 of them XLA took 250-275 s to compile each source shape here
    (against 0.6 s saved per batch of 64). `helper` is a `Translator` of
    the same tokenizer and `max_length`, used to encode and detokenize.
    Returns a function list of strings -> list of strings."""
    decode = keras_hub_baseline.cached_greedy(
        model, helper.max_length - 1, helper.model.config.bos_id, jit_compile=False
    )

    def translate(texts):
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        outputs = [""] * len(texts)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            ids = decode(helper.encode([texts[i] for i in chunk])).numpy()
            for i, text in zip(chunk, helper.decode(ids), strict=True):
                outputs[i] = text
        return outputs

    return translate


def run_model(name, config, tokenizer, train_ds, tokens, held_out, args, parser, rate):
    """Builds, trains at the peak learning rate `rate` and scores the model
    called `name`; returns its row."""
    if name in ("shared", "shared_kv", "unshared"):
        if name == "shared_kv":
            config = config.replace(kv_sharing="group")
        if name == "unshared":
            none = config.encoder_plan.replace(strategy="none")
            config = config.replace(encoder_plan=none, decoder_plan=none,
                                    share_encoder_decoder=False,
                                    cross_attention_plan=None, adapter_dim=None)  # fmt: skip
        model = Seq2SeqTransformer(config)
        translator = Translator(model, tokenizer)

        def translate(texts):
            return translator.translate(texts, jit_compile=not args.no_jit)

        return run(name, model, translate, train_ds, tokens, held_out, args, rate)
    if name != "keras_hub":
        parser.error(f"unknown model {name!r}")
    model = build_baseline(config, args.baseline_layers)
    translate = keras_hub_translate(model, Translator(Seq2SeqTransformer(config), tokenizer))
    layers = f"{args.baseline_layers}+{args.baseline_layers}"
    return run(f"keras_hub_{layers}", model, translate, train_ds, tokens, held_out, args, rate)


# The flags a row depends on besides its model, seed and learning rate: rows
# of a `--rows` file are reused only by a run whose values of all of these
# are equal.
SETTINGS = ("preset", "data", "epochs", "train_examples", "max_length", "test_examples",
            "batch_size", "baseline_layers", "no_jit", "validation_examples",
            "dropout")  # fmt: skip


# The flags that change the preset's shared models (`shared`, `shared_kv`);
# of them only `--layers` shapes `unshared` (depths per stack), and none the
# keras-hub model. A row's settings hold the ones that shaped its model.
DESIGN = flags.SHARING_FLAGS + ("share_encoder_decoder", "adapter_dim")


def model_settings(name, settings, args):
    """`settings` with the design flags that shape the model `name`."""
    shaping = {"keras_hub": (), "unshared": ("layers",)}.get(name, DESIGN)
    return {**settings, **{key: getattr(args, key) for key in shaping}}


def design(config, args):
    """`config` with the design flags applied (`None`: the preset's): the
    sharing flags to both stacks' plans, the encoder-decoder tie and the
    adapters; and `--dropout`, which every model (keras-hub's too) is built
    with."""
    changes = {"encoder_plan": flags.plan_from_flags(args, config.encoder_plan),
               "decoder_plan": flags.plan_from_flags(args, config.decoder_plan),
               **flags.sharing_config(args)}  # fmt: skip
    if config.cross_attention_plan is not None:
        changes["cross_attention_plan"] = config.cross_attention_plan.replace(
            num_layers=changes["decoder_plan"].num_layers
        )
    if args.share_encoder_decoder is not None:
        changes["share_encoder_decoder"] = args.share_encoder_decoder
    if args.adapter_dim is not None:
        changes["adapter_dim"] = args.adapter_dim
    if args.dropout is not None:
        changes["dropout"] = args.dropout
    return config.replace(**changes)


def summarize(rows, seeds):
    """Each model's mean over `seeds` and the paired differences of every
    model from `shared` (BLEU and chrF: mean and standard error)."""
    groups = {}
    for row in rows:
        groups.setdefault(row["model"], []).append(row)
    means = {
        name: {key: round(float(np.mean([r[key] for r in group])), 2)
               for key in ("bleu", "chrf", "exact_match", "length_ratio")}
              | {"seeds": len(group)}
        for name, group in groups.items()
    }  # fmt: skip
    by = {(r["model"], r["seed"]): r for r in rows}
    paired = {
        f"{name} - shared": {
            key: app_sharing_comparison.paired([by[(name, s)][key] - by[("shared", s)][key]
                                                for s in seeds])
            for key in ("bleu", "chrf")
        }
        for name in means if name != "shared" and "shared" in means
    }  # fmt: skip
    return means, paired


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", choices=sorted(seq2seq_config.PRESETS), default="tiny")
    parser.add_argument("--data", default="builtin:en-fr")
    parser.add_argument("--epochs", type=flags.positive_int, default=3)
    parser.add_argument("--train-examples", type=flags.positive_int)
    parser.add_argument("--max-length", type=flags.int_at_least(8),
                        help="longest sequence in tokens (default: the preset's)")  # fmt: skip
    parser.add_argument("--test-examples", type=flags.positive_int, default=1000)
    parser.add_argument("--validation-examples", type=flags.positive_int,
                        help="also score this many validation pairs (for tuning)")  # fmt: skip
    parser.add_argument("--batch-size", type=flags.positive_int, default=64)
    app_sharing_comparison.add_learning_rate_flags(
        parser, 1e-3, "keras-hub's (post-LN; the best of 5e-4, 1e-3, 2e-3 for small)"
    )
    parser.add_argument("--baseline-layers", type=flags.positive_int, default=3)
    parser.add_argument("--models", default="shared,unshared,keras_hub")
    parser.add_argument("--seeds", type=app_sharing_comparison.seed_list, default=[0],
                        help="comma-separated; every model per seed")  # fmt: skip
    parser.add_argument("--no-jit", action="store_true")
    parser.add_argument("--dropout", type=flags.fraction,
                        help="every model's dropout (default: the preset's)")  # fmt: skip
    flags.add_sharing_flags(parser)
    parser.add_argument(
        "--share-encoder-decoder",
        action=argparse.BooleanOptionalAction,
        help="the decoder uses the encoder's groups (default: the preset's)",
    )
    parser.add_argument(
        "--adapter-dim",
        type=flags.positive_int,
        help="per-depth adapter width (relaxed sharing; default: the preset's)",
    )
    rows_file.add_flag(parser)
    args = parser.parse_args()
    seeds = args.seeds
    settings = {key: getattr(args, key) for key in SETTINGS}
    revision = rows_file.commit()  # read once, before anything trains
    rows_file.check_path(parser, args.rows)
    try:
        spec = text_pairs.parse_spec(args.data)
    except ValueError as error:
        parser.error(f"--data: {error}")
    if args.validation_examples and (spec.kind not in text_pairs.SPLIT_KINDS or spec.split):
        parser.error(f"--validation-examples: {args.data!r} has no validation split of its own "
                     "(a file, or a SPEC naming one split)")  # fmt: skip

    try:
        preset = design(seq2seq_config.preset(args.preset), args)
    except ValueError as error:
        parser.error(str(error))

    keras.utils.set_random_seed(0)
    pairs = text_pairs.read_pairs(args.data, "train", args.train_examples)
    test = text_pairs.read_pairs(args.data, "test", args.test_examples)
    validation = args.validation_examples and text_pairs.read_pairs(
        args.data, "valid", args.validation_examples
    )
    held_out = {"test": test, "validation": validation or []}
    proto = train_sentencepiece([t for p in pairs for t in p], preset.vocabulary_size)
    tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)
    config = preset.replace(vocabulary_size=tokenizer.vocabulary_size(),
                            max_length=args.max_length or preset.max_length)  # fmt: skip
    preprocessor = Seq2SeqPreprocessor.for_model(config, tokenizer)
    rows = []
    for seed in seeds:
        for name in args.models.split(","):
            layers = args.baseline_layers
            key = (f"keras_hub_{layers}+{layers}" if name == "keras_hub" else name, seed)
            rate = app_sharing_comparison.learning_rate(name, args, recipes.SEQ2SEQ_LEARNING_RATES)
            shaped_by = model_settings(name, settings, args)
            done = rows_file.find_row(args.rows, shaped_by, (*key, rate))
            if done:
                rows.append(done)
                continue
            # A new dataset per model: every model sees the same batches in
            # the same order (iterating one shuffled dataset again reshuffles).
            train_ds = make_translation_dataset(pairs, preprocessor, args.batch_size,
                                                shuffle=True, seed=seed,
                                                drop_remainder=True)  # fmt: skip
            tokens = target_tokens(train_ds)
            keras.utils.set_random_seed(seed)
            row, signature = run_model(name, config, tokenizer, train_ds, tokens, held_out, args,
                                       parser, rate)  # fmt: skip
            row.update(seed=seed, signature=signature, settings=shaped_by, commit=revision)
            rows.append(row)
            rows_file.append_row(args.rows, row)
    means, paired = summarize(rows, seeds)
    signature = rows[-1]["signature"]
    summary = {"preset": args.preset, "design": {k: getattr(args, k) for k in DESIGN},
               "data": args.data, "epochs": args.epochs,
               "max_length": config.max_length, "train_pairs": len(pairs),
               "truncated_train_pairs": count_truncated_pairs(pairs, preprocessor),
               "test_pairs": len(test), "seeds": seeds, "mean": means, "paired": paired,
               "signature": signature, "rows": rows}  # fmt: skip
    # Stored parameters against the keras-hub model, at the corpus' trained
    # vocabulary and at the preset's (embeddings grow with the vocabulary).
    summary["stored_params_vs_keras_hub"] = [
        stored_params_vs_keras_hub(c, args.baseline_layers) for c in (config, preset)
    ]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
