"""The ridge refinement's OpenCV hysteresis and histogram Otsu agree with scikit-image's."""

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.filters import apply_hysteresis_threshold, threshold_otsu
from skimage.morphology import remove_small_objects

from model_zoo.cam.refinements.ridge import histogram, hysteresis


@pytest.mark.parametrize("seed", range(6))
def test_hysteresis_matches_skimage_hysteresis_then_small_object_removal(seed):
    rng = np.random.default_rng(seed)
    response = ndi.gaussian_filter(rng.random((120, 100)), 1.2)
    response /= response.max()
    gate = np.zeros(response.shape, dtype=bool)
    gate[10 : 10 + rng.integers(8, 90), 5 : 5 + rng.integers(8, 80)] = True
    high = float(np.quantile(response[gate], 0.8))
    expected = remove_small_objects(
        apply_hysteresis_threshold(np.where(gate, response, 0.0), 0.5 * high, high), max_size=12
    )
    found = hysteresis(response, gate, 0.5 * high, high, 12)
    assert found.any()
    np.testing.assert_array_equal(found, expected)


def test_hysteresis_keeps_nothing_outside_the_gate():
    response = np.ones((40, 40), dtype=np.float32)
    gate = np.zeros_like(response, dtype=bool)
    gate[5:25, 5:25] = True
    found = hysteresis(response, gate, 0.2, 0.5, 12)
    np.testing.assert_array_equal(found, gate)


def test_histogram_otsu_equals_skimage_otsu():
    values = (np.random.default_rng(3).random(5000) ** 3).astype(np.float32)
    assert threshold_otsu(hist=histogram(values)) == pytest.approx(threshold_otsu(values))
