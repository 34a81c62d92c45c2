import numpy as np
import pytest

from model_zoo.classifier.decision import (
    ClassDecision,
    decision_for,
    decision_record,
    exclusive_indices,
    fit_thresholds,
)

CLASSES = ["crack", "rust", "no_defect"]


def decision(multi=False, known=(True, True, True), thresholds=(0.5, 0.5, 0.5), exclusive=(2,)):
    return ClassDecision(multi, tuple(known), tuple(thresholds), frozenset(exclusive))


def test_single_label_names_the_most_probable_learned_class():
    probs = np.array([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    assert decision().present(probs) == [[1], [0]]
    # rust was never labeled: never named, even when it is the most probable
    assert decision(known=(True, False, True)).present(probs) == [[0], [0]]


def test_multi_label_uses_each_class_threshold():
    probs = np.array([[0.55, 0.45, 0.1]])
    assert decision(multi=True).present(probs) == [[0]]
    assert decision(multi=True, thresholds=(0.5, 0.4, 0.5)).present(probs) == [[0, 1]]
    assert decision(multi=True, thresholds=(0.9, 0.9, 0.9)).present(probs) == [[]]
    assert decision(multi=True, thresholds=(0.9, 0.9, 0.9)).present(probs, keep_best=True) == [[0]]


def test_no_defect_stands_alone_or_not_at_all():
    multi = decision(multi=True, thresholds=(0.3, 0.3, 0.3))
    assert multi.present(np.array([[0.4, 0.35, 0.9]])) == [[2]]  # it wins: alone
    assert multi.present(np.array([[0.8, 0.35, 0.6]])) == [[0, 1]]  # a defect wins: dropped


def test_nothing_learned_names_nothing():
    assert decision(known=(False, False, False)).present(np.ones((2, 3)) / 3) == [[], []]


def test_decision_from_a_version_record_and_overrides():
    meta = {"decision": decision_record(CLASSES, [3, 0, 5], {"crack": 0.3})}
    made = decision_for(CLASSES, meta, multi_label=True, default_threshold=0.6)
    assert made.known == (True, False, True) and made.thresholds == (0.3, 0.6, 0.6)
    assert made.exclusive == frozenset({2})
    forced = decision_for(CLASSES, meta, multi_label=True, threshold_override=0.1)
    assert forced.thresholds == (0.1, 0.1, 0.1)
    legacy = decision_for(CLASSES, {}, multi_label=False, exclusive=())
    assert legacy.known == (True, True, True) and legacy.exclusive == frozenset()


def test_exclusive_names_match_by_canonical_name():
    assert exclusive_indices(["Crack", "No defect", "no-defect"], ["no_defect"]) == {1, 2}
    assert exclusive_indices(CLASSES, ["", " "]) == frozenset()


def test_fitted_thresholds_separate_the_validation_split_with_a_margin():
    probs = np.array([[0.9, 0.1], [0.7, 0.2], [0.4, 0.8], [0.3, 0.1]])
    targets = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    fitted = fit_thresholds(probs, targets, ["crack", "rust"])
    assert fitted["crack"] == pytest.approx(0.55)  # halfway between 0.7 (pos) and 0.4 (neg)
    assert fitted["rust"] == pytest.approx(0.5)  # between 0.8 and 0.2
    # no positive: no threshold; clipped to the bounds
    assert "crack" not in fit_thresholds(probs, np.zeros((4, 2)), ["crack", "rust"])
    low = fit_thresholds(np.array([[0.05], [0.01]]), np.array([[1], [0]]), ["crack"])
    assert low["crack"] == pytest.approx(0.2)
