"""``[pytensor] device``: cpu runs; cuda without a GPU fails with one line; anything else is refused."""

import jax
import numpy as np
import pytest

from pipeline.compile import placement


def test_cpu_is_accepted_and_made_the_default_device():
    assert placement.check_device("CPU") == "cpu"
    try:
        placement.use_device("cpu")
        assert jax.config.jax_default_device.platform == "cpu"
        assert np.asarray(jax.numpy.ones(2) + 1).tolist() == [2.0, 2.0]
    finally:
        jax.config.update("jax_default_device", None)


@pytest.mark.skipif(bool([d for d in jax.devices() if d.platform == "gpu"]), reason="a GPU is present")
def test_cuda_without_a_gpu_fails_with_one_line():
    with pytest.raises(ValueError) as err:
        placement.check_device("cuda")
    assert "no CUDA GPU" in str(err.value) and "\n" not in str(err.value)


def test_an_unknown_device_is_refused():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        placement.check_device("tpu")
