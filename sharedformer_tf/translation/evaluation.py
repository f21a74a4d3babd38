"""Scoring translations with sacrebleu."""

import time

import numpy as np
import sacrebleu


def score(hypotheses, references):
    """Corpus BLEU and chrF (sacrebleu, default tokenization, on detokenized
    text) and the exact-match rate.

    Args:
        hypotheses: list of output strings.
        references: list of reference strings, aligned with `hypotheses`.

    Returns:
        Dict with `bleu`, `chrf`, `exact_match` and `num_examples`.
    """
    if len(hypotheses) != len(references):
        raise ValueError(
            "Hypotheses and references must align. Received: "
            f"{len(hypotheses)} hypotheses, {len(references)} references"
        )
    if not references:
        raise ValueError("Nothing to score. Received: 0 examples")
    exact = sum(h == r for h, r in zip(hypotheses, references, strict=True))
    return {
        "bleu": round(sacrebleu.corpus_bleu(hypotheses, [references]).score, 2),
        "chrf": round(sacrebleu.corpus_chrf(hypotheses, [references]).score, 2),
        "exact_match": round(exact / len(references), 4),
        "num_examples": len(references),
    }


def evaluate(translator, pairs, beam=1, batch_size=64, jit_compile=False):
    """Translates the sources of `pairs` (`Translator.translate` with
    `beam`, `batch_size`, `jit_compile`) and scores them against the targets.

    Returns:
        `(metrics, hypotheses)`: `score(...)` plus `seconds` (wall time of
        decoding), `beam` and `xla`, and with a translator that exits early
        (`exit_threshold`) `mean_depth` (decoder depths per output token,
        the teacher-forced count after decoding, outside `seconds`); and
        the list of outputs.
    """
    sources = [s for s, _ in pairs]
    start = time.perf_counter()
    hypotheses = translator.translate(sources, beam=beam, batch_size=batch_size,
                                      jit_compile=jit_compile)  # fmt: skip
    seconds = time.perf_counter() - start
    metrics = score(hypotheses, [t for _, t in pairs])
    metrics.update({"seconds": round(seconds, 2), "beam": beam, "xla": bool(jit_compile)})
    if translator.exit_threshold is not None:
        _, depths = translator.translate(sources, beam=beam, batch_size=batch_size,
                                         jit_compile=jit_compile, return_depths=True)  # fmt: skip
        used = np.concatenate([np.zeros(0), *depths])
        metrics["mean_depth"] = round(float(used.mean()), 4) if used.size else None
    return metrics, hypotheses
