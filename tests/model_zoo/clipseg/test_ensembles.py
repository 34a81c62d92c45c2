"""Combining prompt-ensemble members into foreground probability, decision and uncertainty."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model_zoo.clipseg.ensembles import (
    ENSEMBLES,
    Ensemble,
    combine_logits,
    get_ensemble,
    segment_foreground,
    split_prompts,
)
from model_zoo.clipseg.model import PromptError, load_clipseg
from tests.images import random_image


def test_presets_are_the_papers():
    assert ENSEMBLES["E1"].prompts == ("concrete", "water", "sky")
    assert ENSEMBLES["E2"].background == ("water", "sky", "forest")
    assert ENSEMBLES["E3"].background[-2:] == ("gravel", "natural stone wall")
    assert all(e.foreground == ("concrete",) for e in ENSEMBLES.values())
    assert get_ensemble("e2") is ENSEMBLES["E2"]
    with pytest.raises(KeyError, match="E1, E2, E3"):
        get_ensemble("E9")


def test_ensemble_checks_and_labels():
    assert Ensemble.of([" concrete "], ["water", "sky"]).label == "E1"
    custom = Ensemble.of(["bridge", "pillar"], ["sky"])
    assert custom.label.startswith("prompts-") and custom.prompts == ("bridge", "pillar", "sky")
    with pytest.raises(PromptError, match="foreground prompts: the list is empty"):
        Ensemble.of([], ["sky"])
    with pytest.raises(PromptError, match="background prompts"):
        Ensemble.of(["concrete"], ["  "])
    with pytest.raises(PromptError, match="both"):
        Ensemble.of(["sky"], ["sky"])
    assert split_prompts(" concrete; bridge ;;pillar ") == ["concrete", "bridge", "pillar"]


def _maps(*values):
    """Member logits (K, 1, len) from per-member rows of pixel values."""
    return np.array(values, dtype=np.float32)[:, None, :]


def test_softmax_rule_is_the_softmax_mass_of_foreground_prompts():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (5, 4, 6)).astype(np.float32)
    res = combine_logits(logits, n_fg=2, size=(4, 6))
    soft = torch.softmax(torch.from_numpy(logits), dim=0).numpy()
    assert np.allclose(res.probability, soft[:2].sum(0), atol=1e-5)
    assert np.array_equal(res.foreground, res.probability >= 0.5)
    p = res.probability
    entropy = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    assert np.allclose(res.uncertainty, entropy, atol=1e-4)


def test_mean_rule_differs_where_one_background_prompt_fires():
    # pixel 0: "water" fires, "sky" silent; concrete moderate
    logits = _maps([2.0], [6.0], [-8.0])
    soft = combine_logits(logits, 1, (1, 1), combine="softmax")
    mean = combine_logits(logits, 1, (1, 1), combine="mean")
    assert not soft.foreground[0, 0]  # one firing background prompt suffices
    assert mean.foreground[0, 0]  # the silent one dilutes the mean
    with pytest.raises(ValueError, match="combine"):
        combine_logits(logits, 1, (1, 1), combine="max")


def test_partition_and_original_size():
    logits = np.random.default_rng(1).normal(0, 2, (3, 8, 8)).astype(np.float32)
    res = combine_logits(logits, 1, (37, 53))
    assert res.foreground.shape == res.uncertainty.shape == res.probability.shape == (37, 53)
    assert not (res.foreground & res.background).any()
    assert (res.foreground | res.background).all()
    assert res.uncertainty.min() >= 0 and res.uncertainty.max() <= 1


def test_a_richer_ensemble_resolves_what_a_poorer_one_leaves_uncertain():
    # pixels: bridge, water, forest. Members: concrete, water, sky, forest.
    concrete = [6.0, -4.0, -1.0]
    water = [-6.0, 7.0, -3.0]
    sky = [-6.0, -5.0, -2.0]
    forest = [-5.0, -4.0, 6.0]
    e1 = combine_logits(_maps(concrete, water, sky), 1, (1, 3))
    e2 = combine_logits(_maps(concrete, water, sky, forest), 1, (1, 3))
    assert e1.foreground[0].tolist() == [True, False, True]  # forest taken for the asset
    assert e2.foreground[0].tolist() == [True, False, False]
    assert e1.uncertainty[0, 2] > 0.5 > e2.uncertainty[0, 2]
    assert e1.uncertainty[0, 2] > e1.uncertainty[0, 0]  # the error is where it is uncertain


def test_disagreement_counts_split_votes():
    concrete = [5.0, 5.0]
    water = [-5.0, 9.0]  # pixel 1: water beats concrete
    sky = [-5.0, -5.0]  # concrete beats sky everywhere
    res = combine_logits(_maps(concrete, water, sky), 1, (1, 2), uncertainty="disagreement")
    assert res.uncertainty[0].tolist() == pytest.approx([0.0, 1.0])
    one_pair = combine_logits(_maps(concrete, water), 1, (1, 2), uncertainty="disagreement")
    assert one_pair.uncertainty.max() == 0.0


def test_segment_foreground_with_a_model():
    model = load_clipseg("tiny-clipseg", device="cpu")
    images = [random_image(120, 80, seed=0), random_image(33, 200, seed=1, mode="L")]
    results = segment_foreground(model, images, ENSEMBLES["E3"], batch_size=1)
    assert [r.foreground.shape for r in results] == [(80, 120), (200, 33)]
    for r in results:
        assert r.foreground.dtype == bool and np.isfinite(r.uncertainty).all()
    assert model.stats["images_encoded"] == 2
