import gzip

import numpy as np
import pytest

from pipeline.data.idx import encode_idx, maybe_gunzip, parse_idx
from tests.conftest import SHARED_DATA


def test_round_trip_of_every_dtype():
    for dtype in (np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64):
        a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
        out = parse_idx(encode_idx(a), "x")
        assert out.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(out, a)


def test_header_layout_is_big_endian():
    data = encode_idx(np.zeros((2, 3), dtype=np.uint8))
    assert data[:4] == bytes([0, 0, 0x08, 2])
    assert data[4:12] == bytes([0, 0, 0, 2, 0, 0, 0, 3])


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="shared MNIST copy not present")
def test_real_mnist_test_labels():
    raw = (SHARED_DATA / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    labels = parse_idx(maybe_gunzip(raw, "t10k-labels"), "t10k-labels")
    assert labels.shape == (10000,)
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(labels).tolist()[:3] == [980, 1135, 1032]


@pytest.mark.parametrize("data, problem", [
    (b"\x00\x00", "too short"),
    (b"\x01\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x05", "bad IDX magic"),
    (b"\x00\x00\x07\x01" + b"\x00\x00\x00\x01" + b"\x05", "bad IDX magic"),
    (b"\x00\x00\x08\x02" + b"\x00\x00\x00\x01", "truncated IDX header"),
    (b"\x00\x00\x08\x01" + b"\x00\x00\x00\x03" + b"\x05\x06", "need 3 data bytes, file has 2"),
    (b"\x00\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x05\x06", "need 1 data bytes, file has 2"),
])
def test_bad_input_names_file_and_problem(data, problem):
    with pytest.raises(ValueError) as err:
        parse_idx(data, "some-file-idx1")
    assert "some-file-idx1" in str(err.value) and problem in str(err.value)


def test_gzip_detection_and_corruption():
    payload = encode_idx(np.arange(5, dtype=np.uint8))
    assert maybe_gunzip(payload, "f") == payload
    assert maybe_gunzip(gzip.compress(payload), "f") == payload
    with pytest.raises(ValueError, match="f.gz: corrupt or truncated gzip"):
        maybe_gunzip(gzip.compress(payload)[:-6], "f.gz")
