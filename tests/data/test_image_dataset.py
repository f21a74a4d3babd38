import numpy as np
import pytest

from sharedformer_tf.data.image_dataset import image_augmentation, make_image_dataset


def images(n):
    return np.random.default_rng(0).integers(0, 256, (n, 8, 8, 1)).astype("uint8")


def test_batches_keep_pixels_and_labels():
    x, y = images(10), np.arange(10)
    batches = list(make_image_dataset(x, y, 4).as_numpy_iterator())
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    got = np.concatenate([b[0] for b in batches])
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, x.astype("float32"))
    assert np.concatenate([b[1] for b in batches]).tolist() == list(range(10))


def test_shuffle_and_drop_remainder():
    x, y = images(10), np.arange(10)
    dataset = make_image_dataset(x, y, 4, shuffle=True, seed=1, drop_remainder=True)
    epoch1 = np.concatenate([b[1] for b in dataset.as_numpy_iterator()])
    epoch2 = np.concatenate([b[1] for b in dataset.as_numpy_iterator()])
    assert len(epoch1) == 8 and len(set(epoch1)) == 8
    assert epoch1.tolist() != epoch2.tolist()  # reshuffled every epoch


def test_augmentation_changes_images_within_range():
    x, y = images(16), np.arange(16)
    dataset = make_image_dataset(x, y, 16, augment=("flip", "translate", "contrast"), seed=3)
    got, labels = next(dataset.as_numpy_iterator())
    assert labels.tolist() == list(range(16))
    assert got.shape == x.shape and not np.allclose(got, x)
    assert got.min() >= 0 and got.max() <= 255.001


def test_flip_only_mirrors_rows():
    x = images(1).astype("float32")
    flip = image_augmentation(["flip"], seed=0)
    outputs = [np.asarray(flip(x, training=True)) for _ in range(8)]
    for out in outputs:
        assert np.array_equal(out, x) or np.array_equal(out, x[:, :, ::-1])
    assert any(not np.array_equal(out, x) for out in outputs)


def test_bad_input():
    with pytest.raises(ValueError, match="Unknown augmentations"):
        image_augmentation(["rotate"])
    with pytest.raises(ValueError, match="Received: images"):
        make_image_dataset(images(3)[..., 0], np.arange(3), 2)
    with pytest.raises(ValueError, match="n labels"):
        make_image_dataset(images(3), np.arange(2), 2)
