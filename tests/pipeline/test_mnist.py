import numpy as np
import pytest

from pipeline.data.idx import encode_idx
from pipeline.data.mnist import one_hot, prepare_mnist
from tests.conftest import make_digits


def _files(n_train=50, n_test=20, n_train_labels=None):
    files = {}
    for prefix, n, seed in (("train", n_train, 1), ("t10k", n_test, 2)):
        images, labels = make_digits(n, seed)
        if prefix == "train" and n_train_labels is not None:
            labels = labels[:n_train_labels]
        files[f"{prefix}-images-idx3-ubyte"] = encode_idx(images)
        files[f"{prefix}-labels-idx1-ubyte"] = encode_idx(labels)
    return files


def test_one_hot():
    out = one_hot(np.array([3, 0, 9]))
    assert out.dtype == np.float32 and out.shape == (3, 10)
    np.testing.assert_array_equal(out.argmax(1), [3, 0, 9])
    np.testing.assert_array_equal(out.sum(1), 1)
    with pytest.raises(ValueError, match="lie in"):
        one_hot(np.array([10]))


def test_prepare_scales_flattens_and_encodes():
    files = _files()
    data = prepare_mnist(files)
    images, labels = make_digits(50, 1)
    assert data["X_train"].shape == (50, 784) and data["X_train"].dtype == np.float32
    np.testing.assert_allclose(data["X_train"], images.reshape(50, 784) / 255.0, rtol=1e-6)
    assert data["X_train"].min() >= 0.0 and data["X_train"].max() == 1.0
    np.testing.assert_array_equal(data["y_train"], labels)
    np.testing.assert_array_equal(data["Y_train"].argmax(1), labels)
    assert data["X_test"].shape == (20, 784)


def test_train_limit():
    data = prepare_mnist(_files(), train_limit=30)
    assert data["X_train"].shape[0] == data["Y_train"].shape[0] == 30
    assert data["X_test"].shape[0] == 20


def test_count_mismatch_names_both_files():
    with pytest.raises(ValueError, match="train-images-idx3-ubyte/train-labels-idx1-ubyte: 50 images but 40 labels"):
        prepare_mnist(_files(n_train_labels=40))


def test_wrong_dimensions_and_missing_file():
    files = _files()
    files["t10k-images-idx3-ubyte"] = encode_idx(np.zeros((20, 784), dtype=np.uint8))
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte: expected a 3-d uint8 image array"):
        prepare_mnist(files)
    files = _files()
    del files["train-labels-idx1-ubyte"]
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte: missing"):
        prepare_mnist(files)


def test_the_validation_split_is_the_last_training_examples_and_never_trained_on():
    """Issue 31: ``val_size`` holds out the last N training examples; ``train_limit`` applies to the rest; the
    test split is untouched."""
    images, labels = make_digits(50, 1)
    data = prepare_mnist(_files(), val_size=10)
    assert data["X_train"].shape[0] == 40 and data["X_val"].shape[0] == data["Y_val"].shape[0] == 10
    np.testing.assert_array_equal(data["y_val"], labels[40:])
    np.testing.assert_array_equal(data["y_train"], labels[:40])
    np.testing.assert_allclose(data["X_val"], images[40:].reshape(10, 784) / 255.0, rtol=1e-6)
    limited = prepare_mnist(_files(), val_size=10, train_limit=15)
    assert limited["X_train"].shape[0] == 15 and limited["X_val"].shape[0] == 10
    assert data["X_test"].shape[0] == 20
    assert prepare_mnist(_files())["X_val"].shape == (0, 784)  # val_size 0: the seeds' all-60000 training
    with pytest.raises(ValueError, match="val_size 50 leaves no training example of 50"):
        prepare_mnist(_files(), val_size=50)
