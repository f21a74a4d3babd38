import logging

import numpy as np
import pytest

from sharedformer_tf.generation import TextGenerator, make_sampler
from tests.generation.lm_fixtures import small_generator

PROMPTS = ["sun moon", "river stone tree bird", ""]


@pytest.fixture(scope="module")
def generator():
    return small_generator()


def test_streaming_gives_the_batch_generation_token_for_token(generator):
    batch = generator.generate(PROMPTS, max_new_tokens=10)
    streamed = ["".join(generator.stream(p, max_new_tokens=10)) for p in PROMPTS]
    assert streamed == batch
    assert any(text.strip() for text in batch)
    for prompt, text in zip(PROMPTS, batch, strict=True):
        ids = generator.preprocessor.tokenize([text.strip()]).to_list()[0] if text.strip() else []
        assert len(ids) <= 10 + 1, (prompt, text)  # re-tokenizing may merge or split a piece


def test_each_prompt_gets_at_most_max_new_tokens(generator):
    # A random model rarely says EOS: every row has exactly its budget.
    p = generator.preprocessor
    ids = generator.encode_prompts(PROMPTS, 6)
    lengths = (ids != 0).sum(axis=1)
    outputs = np.asarray(generator.model.generate(ids, ids.shape[1] + 6))
    for row, n, text in zip(outputs, lengths, generator.generate(PROMPTS, 6), strict=True):
        new = [t for t in row[n : n + 6] if t != p.eos_id]
        assert p.detokenize_continuations([list(row[:n]) + new], [n])[0] == text


def test_seeded_sampling_repeats_and_seeds_differ(generator):
    def sample(seed):
        return generator.generate(PROMPTS, 12, make_sampler("top_k", k=20, seed=seed))

    assert sample(1) == sample(1)
    assert sample(1) != sample(2)
    with pytest.raises(ValueError, match="Received: 'beam'"):
        make_sampler("beam")
    with pytest.raises(ValueError, match="temperature=0"):
        make_sampler("top_p", temperature=0)


def test_a_prompt_too_long_keeps_its_end_with_a_warning(generator, caplog):
    long_prompt = " ".join(["sun moon star"] * 20)
    with caplog.at_level(logging.WARNING):
        ids = generator.encode_prompts([long_prompt], 8)
    assert "their beginning was cut off" in caplog.text
    assert ids.shape == (1, generator.context - 8) and ids[0, 0] == 1
    tokens = generator.preprocessor.tokenize([long_prompt]).to_list()[0]
    assert list(ids[0, 1:]) == tokens[-(generator.context - 9) :]
    with pytest.raises(ValueError, match="max_new_tokens=0"):
        generator.generate(["sun"], 0)
    with pytest.raises(ValueError, match="max_new_tokens=24"):
        generator.generate(["sun"], generator.context)


def test_saved_and_loaded_generators_continue_alike(generator, tmp_path):
    generator.save(tmp_path)
    loaded = TextGenerator.load(str(tmp_path))
    assert loaded.generate(PROMPTS, 8) == generator.generate(PROMPTS, 8)
    with pytest.raises(FileNotFoundError, match="not a trained text generator directory"):
        TextGenerator.load(str(tmp_path / "nowhere"))


def test_a_generator_at_another_depth_streams_and_batches_alike(generator):
    shallow = generator.at_depth(3)  # the tiny preset's 8 depths, run at 3
    assert shallow.depth == 3 and shallow.model.depths == (3, 8)
    batch = shallow.generate(PROMPTS, max_new_tokens=8)
    assert ["".join(shallow.stream(p, max_new_tokens=8)) for p in PROMPTS] == batch
    assert batch != generator.generate(PROMPTS, max_new_tokens=8)  # the depth is used
    with pytest.raises(ValueError, match="state for 8 depths.*depth=9"):
        generator.at_depth(9)
