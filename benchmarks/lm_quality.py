"""Language-model quality, size and speed of a shared decoder-only model
against the unshared model of the same depth and a plain keras-hub GPT-2
backbone with the same stored parameters, trained side by side on the same
token windows in the same order for the same number of epochs.

    python benchmarks/lm_quality.py [--data bible:en] [--epochs 3] [--seeds 0,1,2]
        [--layers 8 --groups 4 [--groups-ffn G] --sharing sequence] [--adapter-dim D]
        [--lora-rank R] [--embedding-dim E] [--depth-embedding] [--intermediate-dim F]
        [--models shared,shared_kv,unshared,shallow,keras_hub] [--learning-rate LR]
        [--baseline-learning-rate LR] [--rows FILE]

Models (`--preset`'s width, heads, feed-forward and context):

- `shared`: `--layers` depths over `--groups` groups (`--sharing`), the
  feed-forward sublayers over `--groups-ffn` groups if given, with a
  per-depth adapter of width `--adapter-dim` if given and per-depth LoRA
  deltas of rank `--lora-rank` on its attention and feed-forward kernels if
  given (relaxed recursions, trained from scratch with the shared weights),
  an ALBERT-factorized embedding of width `--embedding-dim` if given,
  learned per-depth vectors with `--depth-embedding` (Universal
  Transformer), and a feed-forward width of `--intermediate-dim` if given
  (to fit a stored budget);
- `shared_kv`: the same with `kv_sharing="group"` (one KV-cache slot per group);
- `unshared`: `--layers` depths, no sharing (and none of the shared
  model's adapters, LoRA, factorized embedding, depth vectors or
  feed-forward width: the preset's plain model);
- `shallow`: the unshared model of as many depths as the shared model
  stores blocks (its largest number of groups), at the shared model's
  feed-forward width: the same stored size up to the shared model's
  per-depth norms, from the same code (MobileLLM's comparison: deeper with
  sharing against shallower without, at equal size, with nothing else
  different);
- `keras_hub`: `keras_hub.models.GPT2Backbone` with as many layers as the
  shared model stores blocks (its largest number of groups; pre-LN, learned
  positions, tied output, as ours), its feed-forward width chosen so that
  it stores as many parameters as `shared` (the preset's width when the
  attention and feed-forward groups are equal), wrapped in `GPT2CausalLM`
  for its cached `generate`.

Each model family trains at its own peak learning rate (AdamW, warmup,
cosine decay): `--learning-rate` for the sharedformer_tf models (default:
the preset's, `training.recipes.CAUSAL_LM_LEARNING_RATES`),
`--baseline-learning-rate` for keras-hub. To tune a rate, run the command
once per rate and choose on the validation perplexity of each row (the 5%
of chapters before the test chapters), never on the test chapters.
Validation and test perplexity and bits per byte are computed the same way
for all (`generation.token_nll` on the packed held-out chapters). Speed: cached greedy
generation tokens/s of each model's own `generate` (ours: `SharedCausalLM.
generate`; keras-hub: `GPT2CausalLM.generate` with its cache), and for the
shared model its TFLite `prefill`+`decode` file on LiteRT. The last stdout
line is one JSON object: a row per model and seed, means, and paired
differences of test perplexity against `shared` with standard errors.

With `--rows FILE` every finished row is also appended to FILE (JSON lines,
with the settings it was trained with and the commit), and a row already
there for the same settings, model, seed and learning rate is reused
instead of trained again (`rows_file`): later runs of the same command with
more `--seeds` add seeds, and the summary pairs them all.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import app_sharing_comparison  # noqa: E402
import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import rows_file  # noqa: E402

import sharedformer_tf as sf  # noqa: E402
from sharedformer_tf import training  # noqa: E402
from sharedformer_tf.app import flags  # noqa: E402
from sharedformer_tf.data import text_documents  # noqa: E402
from sharedformer_tf.data.lm_dataset import make_lm_dataset, pack_windows, token_stream  # noqa: E402
from sharedformer_tf.data.sentencepiece_vocabulary import train_sentencepiece  # noqa: E402
from sharedformer_tf.export.causal_lm_export import (  # noqa: E402
    TFLiteTextGenerator,
    convert_prefill_decode,
)
from sharedformer_tf.generation import token_nll  # noqa: E402
from sharedformer_tf.models import SharedCausalLM, causal_lm_config  # noqa: E402
from sharedformer_tf.preprocessing import CausalLMPreprocessor  # noqa: E402
from sharedformer_tf.training import recipes  # noqa: E402

MODELS = ("shared", "shared_kv", "unshared", "shallow", "keras_hub")


class KerasHubLM(keras.Model):
    """`GPT2CausalLM` as ids -> logits, so it trains on the same batches."""

    def __init__(self, causal_lm, pad_id=0, **kwargs):
        super().__init__(**kwargs)
        self.causal_lm = causal_lm
        self.pad_id = pad_id
        self.config = None

    def call(self, token_ids):
        mask = keras.ops.not_equal(token_ids, self.pad_id)
        return self.causal_lm({"token_ids": token_ids, "padding_mask": mask})


def gpt2_backbone(config, num_layers, intermediate_dim):
    return keras_hub.models.GPT2Backbone(
        vocabulary_size=config.vocabulary_size, num_layers=num_layers,
        num_heads=config.num_heads, hidden_dim=config.hidden_dim,
        intermediate_dim=intermediate_dim, dropout=config.dropout,
        max_sequence_length=config.max_length,
    )  # fmt: skip


def stored_blocks(plan):
    """How many blocks a model of `plan` stores: its largest number of groups."""
    return max(plan.groups_of("self_attention"), plan.groups_of("feed_forward"))


def keras_hub_shape(config):
    """`(num_layers, intermediate_dim)` of the GPT-2 backbone that stores as
    many parameters as the shared model of `config` (parameters grow
    linearly with the feed-forward width)."""
    layers = stored_blocks(config.plan)
    target = sf.parameter_report(SharedCausalLM(config))["unique_params"]
    width = config.intermediate_dim
    at_width = gpt2_backbone(config, layers, width).count_params()
    per_unit = at_width - gpt2_backbone(config, layers, width - 1).count_params()
    return layers, width + round((target - at_width) / per_unit)


def build(name, config, plain):
    """Model `name` of `MODELS`: `config` is the shared model's, `plain` the
    preset's config of the same plan and vocabulary, without the shared
    model's extras, which the unshared anchor follows."""
    if name == "keras_hub":
        backbone = gpt2_backbone(config, *keras_hub_shape(config))
        return KerasHubLM(keras_hub.models.GPT2CausalLM(backbone, preprocessor=None))
    if name == "unshared":
        return SharedCausalLM(plain.replace(plan=plain.plan.replace(strategy="none")))
    if name == "shallow":
        blocks = stored_blocks(config.plan)
        plan = plain.plan.replace(num_layers=blocks, strategy="none")
        return SharedCausalLM(plain.replace(plan=plan, intermediate_dim=config.intermediate_dim))
    changes = {"kv_sharing": "group"} if name == "shared_kv" else {}
    return SharedCausalLM(config.replace(**changes))


def cache_bytes(model):
    if not isinstance(model, SharedCausalLM):
        return None
    return int(np.prod(model.init_cache(1, model.config.max_length).shape)) * 4


def generation_speed(model, prompts, new_tokens):
    """Tokens/s of cached greedy generation (second call: compiled)."""
    width = prompts.shape[1] + new_tokens
    if isinstance(model, SharedCausalLM):

        def generate():
            return np.asarray(model.generate(prompts, width))
    else:
        lm = model.causal_lm
        padded = np.zeros([len(prompts), width], "int32")
        padded[:, : prompts.shape[1]] = prompts
        inputs = {"token_ids": padded, "padding_mask": padded != 0}
        lm.compile(sampler="greedy")

        def generate():
            return lm.generate(inputs, max_length=width, stop_token_ids=None)

    generate()
    start = time.perf_counter()
    generate()
    return round(len(prompts) * new_tokens / (time.perf_counter() - start), 1)


def tflite_speed(model, prompts, new_tokens):
    runner = TFLiteTextGenerator(convert_prefill_decode(model))
    start = time.perf_counter()
    for prompt in prompts:
        runner.generate_ids(prompt, new_tokens)
    return round(len(prompts) * new_tokens / (time.perf_counter() - start), 1)


def run(name, config, plain, args, windows, num_bytes, seed, rate):
    """Trains model `name` on `windows["train"]` and scores it on the
    held-out `windows` (`"validation"`: for choosing a recipe, `"test"`)
    at the peak learning rate `rate`."""
    keras.utils.set_random_seed(seed)
    # A new dataset per model: every model sees the same batches in the same order.
    train_ds = make_lm_dataset(windows["train"], args.batch_size, shuffle=True, seed=seed,
                               drop_remainder=True)  # fmt: skip
    model = build(name, config, plain)
    steps = int(train_ds.cardinality()) * args.epochs
    training.compile_seq2seq(model, steps, rate, None, 0.0, config.pad_id,
                             jit_compile=not args.no_jit)  # fmt: skip
    start = time.perf_counter()
    model.fit(train_ds, epochs=args.epochs, verbose=2)
    train_seconds = time.perf_counter() - start
    model.config = model.config or config  # token_nll reads pad_id and max_length
    val_total, val_count, _ = token_nll(model, windows["validation"], args.batch_size)
    total, count, _ = token_nll(model, windows["test"], args.batch_size)
    prompts = windows["test"][: args.speed_prompts, : args.prompt_tokens]
    row = {
        "model": name, "seed": seed, "learning_rate": rate,
        "unique_params": sf.parameter_report(model)["unique_params"],
        "validation_perplexity": round(math.exp(val_total / val_count), 3),
        "test_perplexity": round(math.exp(total / count), 3),
        "test_bits_per_byte": round(total / math.log(2) / num_bytes, 5),
        "kv_cache_bytes": cache_bytes(model),
        "train_seconds": round(train_seconds, 1),
        "generate_tokens_per_second": generation_speed(model, prompts, args.new_tokens),
    }  # fmt: skip
    if name == "shared" and seed == args.seeds[0]:
        row["tflite_decode_tokens_per_second"] = tflite_speed(model, prompts[:4], args.new_tokens)
    print(json.dumps(row), flush=True)
    return row


def paired(rows, key, against="shared"):
    by = {(r["model"], r["seed"]): r[key] for r in rows}
    out = {}
    for name in sorted({r["model"] for r in rows} - {against}):
        diffs = [
            by[(name, s)] - by[(against, s)] for m, s in by if m == name and (against, s) in by
        ]
        if diffs:
            out[f"{name} - {against}"] = app_sharing_comparison.paired(diffs)
    return out


def target(rows):
    """The issue's target for `shared` against `unshared`: its stored
    parameters as a fraction of the unshared model's, and its test
    perplexity's excess over the unshared model's in percent, paired by
    seed (mean and standard error); `None` without both models."""
    by = {(r["model"], r["seed"]): r for r in rows}
    seeds = [s for m, s in by if m == "shared" and ("unshared", s) in by]
    if not seeds:
        return None
    excess = [100 * (by[("shared", s)]["test_perplexity"] / by[("unshared", s)]["test_perplexity"]
                     - 1) for s in seeds]  # fmt: skip
    first = seeds[0]
    return {
        "params_vs_unshared": round(
            by[("shared", first)]["unique_params"] / by[("unshared", first)]["unique_params"], 3
        ),
        "perplexity_excess_percent": app_sharing_comparison.paired(excess),
    }


# The flags a row depends on besides its model, seed and learning rate: rows
# of a `--rows` file are reused only by a run whose values of all of these
# are equal.
SETTINGS = ("data", "preset", "layers", "groups", "groups_ffn", "adapter_dim", "lora_rank",
            "embedding_dim", "depth_embedding", "intermediate_dim", "sharing", "context",
            "vocab_size", "epochs", "batch_size", "speed_prompts", "prompt_tokens",
            "new_tokens", "no_jit")  # fmt: skip


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="bible:en")
    parser.add_argument("--preset", choices=sorted(causal_lm_config.PRESETS), default="tiny")
    parser.add_argument("--layers", type=flags.positive_int, default=8)
    parser.add_argument("--groups", type=flags.positive_int, default=4)
    parser.add_argument("--groups-ffn", type=flags.positive_int)
    parser.add_argument("--adapter-dim", type=flags.positive_int)
    parser.add_argument("--lora-rank", type=flags.positive_int)
    parser.add_argument("--embedding-dim", type=flags.positive_int)
    parser.add_argument("--depth-embedding", action="store_true")
    parser.add_argument("--intermediate-dim", type=flags.positive_int)
    parser.add_argument("--sharing", default="sequence")
    parser.add_argument("--context", type=flags.int_at_least(8))
    parser.add_argument("--vocab-size", type=flags.positive_int)
    parser.add_argument("--epochs", type=flags.positive_int, default=3)
    parser.add_argument("--batch-size", type=flags.positive_int, default=32)
    app_sharing_comparison.add_learning_rate_flags(
        parser, 2e-3, "keras-hub GPT-2's (the best on validation of 1e-3 to 8e-3, RESULTS)"
    )
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--seeds", type=app_sharing_comparison.seed_list, default=[0])
    parser.add_argument("--speed-prompts", type=flags.positive_int, default=16)
    parser.add_argument("--prompt-tokens", type=flags.positive_int, default=16)
    parser.add_argument("--new-tokens", type=flags.positive_int, default=48)
    parser.add_argument("--no-jit", action="store_true")
    rows_file.add_flag(parser)
    args = parser.parse_args()
    names = args.models.split(",")
    if set(names) - set(MODELS):
        parser.error(f"--models: unknown {sorted(set(names) - set(MODELS))}; known {MODELS}")
    settings = {key: getattr(args, key) for key in SETTINGS}
    revision = rows_file.commit()  # read once, before anything trains
    rows_file.check_path(parser, args.rows)
    rates = {name: app_sharing_comparison.learning_rate(name, args,
                                                        recipes.CAUSAL_LM_LEARNING_RATES)
             for name in names}  # fmt: skip

    documents = text_documents.read_documents(args.data, "train")
    held_out = {split: text_documents.read_documents(args.data, split)
                for split in ("validation", "test")}  # fmt: skip
    preset = causal_lm_config.preset(args.preset)
    proto = train_sentencepiece(documents, args.vocab_size or preset.vocabulary_size)
    tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)
    plan = sf.SharingPlan(args.layers, args.groups, strategy=args.sharing,
                          num_groups_ffn=args.groups_ffn)  # fmt: skip
    plain = preset.replace(vocabulary_size=tokenizer.vocabulary_size(), plan=plan,
                           max_length=args.context or preset.max_length)  # fmt: skip
    config = plain.replace(adapter_dim=args.adapter_dim, lora_rank=args.lora_rank,
                           embedding_dim=args.embedding_dim,
                           use_depth_embedding=args.depth_embedding,
                           intermediate_dim=args.intermediate_dim
                           or plain.intermediate_dim)  # fmt: skip
    preprocessor = CausalLMPreprocessor.for_model(config, tokenizer)
    windows = {"train": pack_windows(token_stream(documents, preprocessor), config.max_length, 0)}
    for split, texts in held_out.items():
        windows[split] = pack_windows(token_stream(texts, preprocessor), config.max_length, 0,
                                      keep_last=True)  # fmt: skip
    num_bytes = sum(len(d.encode("utf-8")) for d in held_out["test"])
    rows = []
    for seed in args.seeds:
        for name in names:  # interleaved: a noisy machine slows all models alike
            done = rows_file.find_row(args.rows, settings, (name, seed, rates[name]))
            if done:
                rows.append(done)
                continue
            row = run(name, config, plain, args, windows, num_bytes, seed, rates[name])
            row.update(settings=settings, commit=revision)
            rows.append(row)
            rows_file.append_row(args.rows, row)
    means = {}
    for row in rows:
        means.setdefault(row["model"], []).append(row)
    keys = (
        "validation_perplexity",
        "test_perplexity",
        "test_bits_per_byte",
        "generate_tokens_per_second",
    )
    means = {name: {k: round(statistics.fmean(r[k] for r in group), 3) for k in keys}
             | {"unique_params": group[0]["unique_params"], "seeds": len(group)}
             for name, group in means.items()}  # fmt: skip
    summary = {"data": args.data, "preset": args.preset, "plan": plan.get_config(),
               "adapter_dim": args.adapter_dim, "lora_rank": args.lora_rank,
               "embedding_dim": args.embedding_dim, "depth_embedding": args.depth_embedding,
               "intermediate_dim": config.intermediate_dim,
               "keras_hub_layers_and_width": keras_hub_shape(config),
               "context": config.max_length, "vocabulary_size": config.vocabulary_size,
               "epochs": args.epochs,
               "learning_rates": {name: rates[name] for name in names},
               "train_windows": len(windows["train"]),
               "test_tokens": int((windows["test"][:, 1:] != 0).sum()), "seeds": args.seeds,
               "mean": means, "paired_perplexity": paired(rows, "test_perplexity"),
               "target": target(rows), "rows": rows}  # fmt: skip
    print(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
