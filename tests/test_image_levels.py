"""benchmarks/image_levels.py's futures that learned nothing (its scores need a DAG: tests/test_pipeline_e2e.py)."""
import h5py
import numpy as np

from conftest import load_benchmark

levels = load_benchmark("image_levels")


def test_black_is_all_zeros_of_the_predictions_shape():
    predictions = np.full((2, 3, 4, 5, 5, 1), 9, np.uint8)
    out = levels.black(np.ones((2, 6, 5, 5, 1), np.uint8), predictions, 2)
    assert out.shape == predictions.shape and out.dtype == np.uint8 and not out.any()


def test_the_context_median_is_per_pixel_over_the_context_only_rounded_half_to_even_and_held():
    real = np.zeros((2, 5, 2, 2, 1), np.uint8)
    real[0, :3, 0, 0, 0] = [1, 5, 3]      # median 3
    real[0, 3:, 0, 0, 0] = [200, 200]     # future frames: never read
    real[1, :3, 1, 1, 0] = [2, 3, 250]    # median 3
    real[1, :3, 0, 1, 0] = [0, 255, 255]  # median 255
    out = levels.context_median(real, np.zeros((2, 2, 4, 2, 2, 1), np.uint8), 3)
    assert out.shape == (2, 2, 4, 2, 2, 1) and out.dtype == np.uint8
    assert (out[0, :, :, 0, 0, 0] == 3).all() and (out[1, :, :, 1, 1, 0] == 3).all()
    assert (out[1, :, :, 0, 1, 0] == 255).all() and (out[0, :, :, 1, 1, 0] == 0).all()
    even = levels.context_median(np.array([1, 2, 2, 3], np.uint8).reshape(1, 4, 1, 1, 1),
                                 np.zeros((1, 1, 1, 1, 1, 1), np.uint8), 2)
    assert even[0, 0, 0, 0, 0, 0] == 2  # the median of 1 and 2 is 1.5, rounded half to even


def test_a_level_replaces_the_predictions_of_a_copy_and_leaves_the_source(tmp_path):
    src = tmp_path / "src.h5"
    with h5py.File(src, "w") as f:
        f.attrs["context_frames"] = 2
        f["real"] = np.arange(4 * 4, dtype=np.uint8).reshape(1, 4, 2, 2, 1)
        f["predictions"] = np.full((1, 1, 2, 2, 2, 1), 7, np.uint8)
    dst = levels.replaced(src, tmp_path / "dst.h5", levels.black)
    with h5py.File(src, "r") as a, h5py.File(dst, "r") as b:
        assert (a["predictions"][...] == 7).all() and not b["predictions"][...].any()
        assert np.array_equal(a["real"][...], b["real"][...]) and b.attrs["context_frames"] == 2
