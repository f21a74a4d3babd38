import pytest
import tensorflow_datasets as tfds

from sharedformer_tf.data.tfds_reader import load_prepared


@pytest.fixture
def no_network(monkeypatch):
    """Any tfds download or preparation fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("tfds tried to download")

    monkeypatch.setattr(tfds.download.DownloadManager, "download", refuse)
    monkeypatch.setattr(tfds.download.DownloadManager, "download_and_extract", refuse)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", refuse)


def test_a_set_missing_from_the_data_dir_is_not_downloaded(tmp_path, no_network):
    with pytest.raises(FileNotFoundError) as error:
        load_prepared("fashion_mnist", "train", str(tmp_path))
    message = str(error.value)
    assert f"tfds:fashion_mnist is not prepared in {tmp_path}" in message
    assert "nothing is downloaded" in message and "tfds build fashion_mnist" in message


def test_unknown_names_are_named_and_prepared_sets_read(no_network):
    with pytest.raises(ValueError, match="tfds:no_such_set is not a TensorFlow Datasets name"):
        load_prepared("no_such_set", "train")
    with tfds.testing.mock_data(num_examples=3, policy=tfds.testing.MockPolicy.USE_CODE):
        dataset, info = load_prepared("fashion_mnist", "test", as_supervised=True)
        assert len(list(dataset)) == 3 and info.features["label"].num_classes == 10


@pytest.mark.parametrize("app_reader", ["text", "image", "audio"])
def test_every_reader_goes_through_it(tmp_path, no_network, app_reader):
    from sharedformer_tf.data import audio_data, image_data, text_pairs

    read = {
        "text": lambda: text_pairs.read_pairs("tfds:ted_hrlr_translate/pt_to_en", "train",
                                              data_dir=str(tmp_path)),
        "image": lambda: image_data.read_images("tfds:cifar10", "train", data_dir=str(tmp_path)),
        "audio": lambda: audio_data.read_audio("tfds:speech_commands", "train",
                                               data_dir=str(tmp_path)),
    }[app_reader]  # fmt: skip
    with pytest.raises(FileNotFoundError, match="is not prepared in"):
        read()
