import json
import subprocess
import sys

import numpy as np
import pytest
from tensorflow.lite.tools import flatbuffer_utils

from sharedformer_tf import parameter_report
from sharedformer_tf.export import tflite
from sharedformer_tf.export.causal_lm_export import (
    TFLiteTextGenerator,
    convert_prefill_decode,
    export_saved_model,
)
from sharedformer_tf.models import SharedCausalLM, causal_lm_config
from tests.generation.lm_fixtures import small_generator

PROMPTS = ["sun moon", "river stone tree bird wind rain", ""]
LOADER = """
import json, sys
import tensorflow as tf
import tensorflow_text  # registers the SentencePiece ops
generate = tf.saved_model.load(sys.argv[1]).signatures["generate"]
outputs = generate(prompts=tf.constant(json.loads(sys.stdin.read())))
print(json.dumps({
    "outputs": [t.decode("utf-8") for t in outputs[list(outputs)[0]].numpy()],
    "modules": sorted(m for m in ("sharedformer_tf", "keras_hub") if m in sys.modules),
}))
"""


@pytest.fixture(scope="module")
def generator():
    return small_generator(context=24)


@pytest.fixture(scope="module")
def fp32(generator):
    return convert_prefill_decode(generator.model, "fp32")


def test_prefill_and_decode_equal_the_keras_forward_pass(generator, fp32):
    runner = TFLiteTextGenerator(fp32, generator.preprocessor)
    prompt = generator.encode_prompts(["river stone"], 12)[0]
    new_ids, logits = runner.generate_ids(prompt, 12)
    assert len(new_ids) == 12  # no EOS stop asked for
    full = np.concatenate([prompt, new_ids])[None, :]
    expected = np.asarray(generator.model(full))[0, len(prompt) - 1 : -1]
    np.testing.assert_allclose(logits, expected, atol=1e-4)
    np.testing.assert_array_equal(new_ids, expected.argmax(-1))
    assert runner.generate(PROMPTS, 10) == generator.generate(PROMPTS, 10)
    assert not [op for op in tflite.op_names(fp32) if op.startswith("Flex")]


def test_quantized_files_run_with_builtin_ops(generator, fp32):
    for quantization in ("fp16", "dynamic-int8"):
        flatbuffer = convert_prefill_decode(generator.model, quantization)
        assert len(flatbuffer) < len(fp32)
        assert not [op for op in tflite.op_names(flatbuffer) if op.startswith("Flex")]
        outputs = TFLiteTextGenerator(flatbuffer, generator.preprocessor).generate(PROMPTS, 4)
        assert len(outputs) == 3 and all(isinstance(o, str) for o in outputs)
    with pytest.raises(ValueError, match="quantization='int4'"):
        convert_prefill_decode(generator.model, "int4")


def test_both_signatures_share_one_copy_of_every_weight(tmp_path):
    # 4 depths over 2 groups, H=128, a context of 96: the 384 KiB KV cache
    # is an input and output of the signatures, never a constant of the
    # file (a cache of zeros folded into prefill would break the bound).
    plan = {"num_layers": 4, "num_groups": 2, "strategy": "cycle"}
    config = causal_lm_config.tiny(vocabulary_size=1000, max_length=96, plan=plan)
    model = SharedCausalLM(config)
    flatbuffer = convert_prefill_decode(model)
    unique = parameter_report(model)["unique_params"]
    assert len(flatbuffer) <= 1.1 * unique * 4
    (path := tmp_path / "lm.tflite").write_bytes(flatbuffer)
    buffers = [b.data for b in flatbuffer_utils.read_model(str(path)).buffers if b.data is not None]
    # Each group's four 128x128 attention kernels are stored once, not once
    # per depth nor once per signature.
    assert sum(len(b) == 128 * 128 * 4 for b in buffers) == 2 * 4


def test_saved_model_generates_in_a_process_without_the_library(generator, tmp_path):
    path = export_saved_model(generator, str(tmp_path / "saved_model"), max_new_tokens=9)
    result = subprocess.run([sys.executable, "-c", LOADER, path], input=json.dumps(PROMPTS),
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["modules"] == []
    assert loaded["outputs"] == generator.generate(PROMPTS, 9)
