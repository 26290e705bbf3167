import numpy as np
import pytest

from edgepipe.pipeline.runner import decode_output, encode_input


def test_encode_input_float_normalizes():
    images = np.array([[[[0, 255]]]], dtype=np.uint8)
    spec = {"shape": [1, 1, 1, 2], "dtype": "float32", "layout": "NCHW", "quantization": None}
    x = encode_input(images, spec, mean=0.5, std=0.25)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x.ravel(), [-2.0, 2.0], rtol=1e-6)


def test_encode_input_int8_quantizes_and_clips():
    images = np.array([[[[0, 128, 255]]]], dtype=np.uint8)
    spec = {"shape": [1, 1, 1, 3], "dtype": "int8", "layout": "NCHW",
            "quantization": {"scale": 0.01, "zero_point": -10}}
    x = encode_input(images, spec, mean=0.0, std=1.0)
    # 0.0 -> -10; 128/255 = 0.50196 -> round(50.196) - 10 = 40; 1.0 -> 100 - 10 = 90.
    assert x.dtype == np.int8
    assert x.ravel().tolist() == [-10, 40, 90]
    spec["quantization"] = {"scale": 0.001, "zero_point": 0}
    assert encode_input(images, spec, 0.0, 1.0).ravel().tolist() == [0, 127, 127]


def test_encode_input_nhwc_moves_channels_last():
    images = np.arange(12, dtype=np.uint8).reshape(1, 3, 2, 2)
    spec = {"shape": [1, 2, 2, 3], "dtype": "float32", "layout": "NHWC", "quantization": None}
    x = encode_input(images, spec, mean=0.0, std=1 / 255)
    assert x.shape == (1, 2, 2, 3)
    assert x[0, 0, 1].tolist() == pytest.approx([1.0, 5.0, 9.0])


def test_decode_output_dequantizes_int8():
    spec = {"shape": [1, 3], "dtype": "int8", "quantization": {"scale": 0.5, "zero_point": 2}}
    out = decode_output(np.array([[2, 4, -2]], dtype=np.int8), spec)
    assert out.tolist() == [[0.0, 1.0, -2.0]]


def test_decode_output_float_passes_through():
    spec = {"shape": [1, 2], "dtype": "float32", "quantization": None}
    out = decode_output(np.array([[0.25, -1.5]], dtype=np.float32), spec)
    assert out.tolist() == [[0.25, -1.5]]
