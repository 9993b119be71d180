import gzip
import struct

import numpy as np
import pytest

from pipeline.data.idx import encode_idx, maybe_gunzip, parse_idx


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


def mnist_file(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    """An MNIST-format file built byte by byte as the format's description gives it, gzipped like the mirrors'.

    Independent of ``encode_idx``: a 32-bit big-endian magic number (2049 labels, 2051 images),
    one 32-bit big-endian size per dimension, then unsigned bytes.
    """
    return gzip.compress(struct.pack(f">I{len(dims)}I", magic, *dims) + payload, mtime=0)


def test_mnist_test_files_in_the_distributed_format():
    """A t10k-shaped pair: 10000 labels with MNIST's first ten and its class counts, and 28x28 images."""
    first_ten = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the real t10k file's first labels
    counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # and its class counts
    rest = np.repeat(np.arange(10), counts).tolist()
    for label in first_ten:
        rest.remove(label)
    labels_payload = bytes(first_ten + rest)
    raw = mnist_file(2049, (10000,), labels_payload)
    labels = parse_idx(maybe_gunzip(raw, "t10k-labels"), "t10k-labels")
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == first_ten
    assert np.bincount(labels).tolist() == counts

    pixels = bytes(range(256)) * (3 * 28 * 28 // 256) + bytes(3 * 28 * 28 % 256)
    images = parse_idx(maybe_gunzip(mnist_file(2051, (3, 28, 28), pixels), "t10k-images"), "t10k-images")
    assert images.shape == (3, 28, 28) and images.dtype == np.uint8
    assert images[0, 0, :5].tolist() == [0, 1, 2, 3, 4] and images[0, 9, 4] == (9 * 28 + 4) % 256


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"\x00\x00", "too short"),
        (b"\x01\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x05", "bad IDX magic"),
        (b"\x00\x00\x07\x01" + b"\x00\x00\x00\x01" + b"\x05", "bad IDX magic"),
        (b"\x00\x00\x08\x02" + b"\x00\x00\x00\x01", "truncated IDX header"),
        (b"\x00\x00\x08\x01" + b"\x00\x00\x00\x03" + b"\x05\x06", "need 3 data bytes, file has 2"),
        (b"\x00\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x05\x06", "need 1 data bytes, file has 2"),
    ],
)
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
