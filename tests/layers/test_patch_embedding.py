import keras
import numpy as np
import pytest

from sharedformer_tf.layers import PatchEmbedding
from tests.layer_test_case import run_layer_test


def test_output_shape_class_token_and_positions():
    layer = PatchEmbedding(patch_size=2, hidden_dim=8)
    images = np.random.default_rng(0).random((3, 4, 6, 1)).astype("float32")
    out = layer(images)
    assert out.shape == (3, 1 + 2 * 3, 8)
    assert layer.num_patches == 6
    # Token 0 is the class token plus position 0, the same for every image.
    np.testing.assert_allclose(out[0, 0], out[2, 0])
    np.testing.assert_allclose(
        out[:, 0], np.broadcast_to(layer.class_token[0, 0] + layer.position_embedding[0], (3, 8))
    )


def test_each_patch_sees_only_its_pixels():
    layer = PatchEmbedding(patch_size=2, hidden_dim=4, use_class_token=False)
    images = np.zeros((1, 4, 4, 1), "float32")
    base = keras.ops.convert_to_numpy(layer(images))
    images[0, 3, 3, 0] = 1.0  # bottom-right pixel: only the last patch changes
    changed = keras.ops.convert_to_numpy(layer(images))
    assert base.shape == (1, 4, 4)
    np.testing.assert_allclose(changed[0, :3], base[0, :3])
    assert not np.allclose(changed[0, 3], base[0, 3])


def test_indivisible_image_names_what_it_received():
    with pytest.raises(ValueError, match=r"Received: images_shape=\(None, 5, 4, 1\), patch_size=2"):
        PatchEmbedding(patch_size=2, hidden_dim=4).build((None, 5, 4, 1))


@pytest.mark.parametrize(
    "kwargs, shape",
    [({"patch_size": 2, "hidden_dim": 4, "use_class_token": False}, (2, 16, 4)),
     ({"patch_size": (2, 8), "hidden_dim": 4, "stem_filters": 3}, (2, 5, 4)),
     ({"patch_size": 1, "hidden_dim": 4, "stem_filters": [3, 5], "stem_pooling": True},
      (2, 5, 4))],
)  # fmt: skip
def test_layer_contract(tmp_path, kwargs, shape):
    import numpy as np

    x = np.random.default_rng(0).standard_normal((2, 8, 8, 1)).astype("float32")
    run_layer_test(PatchEmbedding, kwargs, x, shape, tmp_path)


def test_rectangular_patches_take_whole_spectrogram_frames():
    import numpy as np

    layer = PatchEmbedding(patch_size=(2, 6), hidden_dim=8, use_class_token=False)
    x = np.random.default_rng(0).standard_normal((3, 10, 6, 1)).astype("float32")
    y = layer(x)
    assert tuple(y.shape) == (3, 5, 8) and layer.num_patches == 5
    # Patch 2 is made of frames 4 and 5 only.
    x2 = x.copy()
    x2[:, 4:6] += 1.0
    changed = np.abs(np.asarray(layer(x2)) - np.asarray(y)).sum(axis=(0, 2)) > 1e-6
    assert changed.tolist() == [False, False, True, False, False]
    with pytest.raises(ValueError, match="divisible"):
        PatchEmbedding(patch_size=(3, 6), hidden_dim=8)(x)
    with pytest.raises(ValueError, match="int or a pair"):
        PatchEmbedding(patch_size=(1, 2, 3), hidden_dim=8)


def test_convolutional_stem_adds_local_features():
    import numpy as np

    plain = PatchEmbedding(patch_size=4, hidden_dim=8)
    stem = PatchEmbedding(patch_size=4, hidden_dim=8, stem_filters=6)
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 1)).astype("float32")
    assert tuple(stem(x).shape) == tuple(plain(x).shape) == (2, 5, 8)
    # 3x3x1x6 + 6 stem weights; the projection sees 6 channels instead of 1.
    assert stem.count_params() - plain.count_params() == 3 * 3 * 6 + 6 + 4 * 4 * 5 * 8
    # A pixel just outside a patch now reaches it through the 3x3 stem.
    x2 = x.copy()
    x2[:, 4, 0, 0] += 1.0  # first row of the patches below patch 1
    changed = np.abs(np.asarray(stem(x2)) - np.asarray(stem(x))).sum(axis=(0, 2)) > 1e-6
    assert changed.tolist() == [False, True, False, True, False]
    with pytest.raises(ValueError, match="stem_filters"):
        PatchEmbedding(patch_size=4, hidden_dim=8, stem_filters=-1)


def test_pooled_stem_is_a_convolutional_tokenizer():
    import numpy as np

    layer = PatchEmbedding(patch_size=1, hidden_dim=8, stem_filters=(4, 6, 8), stem_pooling=True,
                           use_class_token=False)  # fmt: skip
    x = np.random.default_rng(0).standard_normal((2, 28, 28, 1)).astype("float32")
    y = np.asarray(layer(x))
    assert y.shape == (2, 16, 8) and layer.num_patches == 16  # 28 -> 14 -> 7 -> 4
    assert layer.compute_output_shape((None, 28, 28, 1)) == (None, 16, 8)
    # Three convolutions (3x3, GELU) and a 1x1 projection, no weights in the pooling.
    weights = (9 * 1 * 4 + 4) + (9 * 4 * 6 + 6) + (9 * 6 * 8 + 8) + (8 * 8 + 8) + 16 * 8
    assert layer.count_params() == weights
    # The first convolution keeps the one-convolution stem's name (saved models load).
    assert layer.stem.name == "stem" and [c.name for c in layer.stem_convs] == ["stem_1", "stem_2"]
    # Token 0 (the top-left cell of the 4x4 grid) never sees the bottom-right corner.
    x2 = x.copy()
    x2[:, 20:, 20:] += 3.0
    changed = np.abs(np.asarray(layer(x2)) - y).sum(axis=(0, 2)) > 1e-6
    assert not changed[0] and changed[15]
    with pytest.raises(ValueError, match=r"after the stem's pooling: 4x4"):
        PatchEmbedding(patch_size=3, hidden_dim=8, stem_filters=(4, 4, 4), stem_pooling=True)(x)
    for bad in ((4, 0), (2.5,), True):
        with pytest.raises(ValueError, match="Received: stem_filters="):
            PatchEmbedding(patch_size=1, hidden_dim=8, stem_filters=bad)
