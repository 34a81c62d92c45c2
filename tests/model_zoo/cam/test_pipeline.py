import numpy as np
import pytest
from PIL import Image, ImageDraw

from model_zoo.cam.pipeline import CamConfig, class_proposals, classify_and_segment
from model_zoo.cam.proposals import working_size
from model_zoo.cam.refinements import REFINEMENTS, ImageContext, parse_refine
from model_zoo.cam.refinements.ridge import RIDGE_FILTERS, RidgeFilter
from model_zoo.cam.refinements.superpixel import SuperpixelSnap
from model_zoo.classifier.model import load_classifier
from tests.images import random_image


@pytest.fixture(scope="module")
def classifier():
    return load_classifier("tiny-vit", ["crack", "rust", "no_defect"], device="cpu")


def crack_scene(side=128, width=3):
    """Grey concrete-like noise with one dark diagonal line; its mask; a blob map around it."""
    rng = np.random.default_rng(0)
    grey = np.clip(150 + rng.normal(0, 6, (side, side)), 0, 255).astype(np.uint8)
    image = Image.fromarray(grey).convert("RGB")
    ImageDraw.Draw(image).line([(20, 30), (100, 90)], fill=(60, 60, 60), width=width)
    truth = np.asarray(image.convert("L")) < 100
    yy, xx = np.mgrid[0:side, 0:side]
    cam = np.exp(-((yy - 60) ** 2 + (xx - 60) ** 2) / (2 * 30.0**2)).astype(np.float32)
    return image, truth, cam


def iou(a, b):
    return (a & b).sum() / max(1, (a | b).sum())


def test_refinement_names_are_parsed_and_checked():
    assert parse_refine("superpixel+ridge") == ("superpixel", "ridge")
    assert parse_refine("none") == () and parse_refine(None) == ()
    assert set(REFINEMENTS) >= {"tta", "advcam", "superpixel", "ridge", "sam"}
    with pytest.raises(ValueError, match="superpixel"):
        parse_refine("crf")


@pytest.mark.parametrize("kind", RIDGE_FILTERS)
def test_the_ridge_filter_delineates_a_thin_crack_inside_the_cam_region(kind):
    image, truth, cam = crack_scene()
    context = ImageContext(image, image.size)
    plain = CamConfig(refine=(), ridge_filter=kind)
    ridged = CamConfig(refine=("ridge",), ridge_filter=kind)
    without = class_proposals(cam, image, "crack", 0.9, plain, [], context)
    with_ridge = class_proposals(cam, image, "crack", 0.9, ridged, [RidgeFilter()], context)
    union = lambda props: np.any([p.full_mask() for p in props], axis=0)  # noqa: E731
    assert iou(union(without), truth) < 0.2  # the blob is far wider than the crack
    assert iou(union(with_ridge), truth) > 0.4
    assert len(with_ridge) == 1  # the segments of one region form one proposal


def test_the_ridge_filter_leaves_other_classes_alone():
    image, _, cam = crack_scene()
    context = ImageContext(image, image.size)
    config = CamConfig(refine=("ridge",))
    rust = class_proposals(cam, image, "rust", 0.9, config, [RidgeFilter()], context)
    plain = class_proposals(cam, image, "rust", 0.9, CamConfig(refine=()), [], context)
    assert [p.area for p in rust] == [p.area for p in plain]


def test_superpixel_snapping_follows_image_edges():
    image = Image.new("RGB", (96, 96), (200, 200, 200))
    ImageDraw.Draw(image).rectangle([30, 30, 65, 65], fill=(40, 40, 40))
    yy, xx = np.mgrid[0:96, 0:96]
    cam = np.exp(-((yy - 48) ** 2 + (xx - 48) ** 2) / (2 * 16.0**2)).astype(np.float32)
    snapped = SuperpixelSnap(area=64).refine_map(cam, ImageContext(image, (96, 96)), None)
    square = np.zeros((96, 96), bool)
    square[30:66, 30:66] = True
    assert iou(snapped >= 0.5 * snapped.max(), square) > iou(cam >= 0.5, square)
    assert snapped.min() >= 0 and snapped.max() <= 1


def test_all_zero_maps_give_no_mask_and_no_error():
    image, _, _ = crack_scene()
    context = ImageContext(image, image.size)
    for refinements in ([], [RidgeFilter()], [SuperpixelSnap()]):
        config = CamConfig(refine=tuple(r.name for r in refinements))
        zero = np.zeros((14, 14), np.float32)
        assert class_proposals(zero, image, "crack", 0.9, config, refinements, context) == []


@pytest.mark.parametrize("refine", ["none", "ridge", "superpixel+ridge", "tta", "advcam"])
def test_one_pass_gives_probabilities_and_original_size_masks(classifier, refine):
    images = [random_image(130, 90, seed=1), random_image(50, 70, seed=2)]
    config = CamConfig(refine=refine, score_threshold=0.0, min_area=0)
    result = classify_and_segment(classifier, images, config)
    np.testing.assert_allclose(result.probabilities, classifier.predict_proba(images), atol=1e-3)
    for image, per_image in zip(images, result.masks, strict=True):
        assert sorted(m.class_index for m in per_image) == [0, 1, 2]  # every class explained
        for masks in per_image:
            for p in masks.proposals:
                assert p.full_mask().shape == (image.height, image.width)


def test_bad_input_blank_tiny_and_large_images(classifier):
    images = [
        Image.new("RGB", (60, 40)),
        Image.new("RGB", (30, 30), (120, 118, 110)),
        random_image(2, 3, seed=4),
        random_image(1, 1, seed=5),
        random_image(3000, 2000, seed=6),
    ]
    config = CamConfig(score_threshold=0.0, min_area=0, refine=("superpixel", "ridge"))
    result = classify_and_segment(classifier, images, config)
    assert result.masks[0] == [] and result.masks[1] == []  # uniform: no maps at all
    for image, per_image in zip(images[2:], result.masks[2:], strict=True):
        for masks in per_image:
            for p in masks.proposals:
                assert p.full_mask().shape == (image.height, image.width)
    big = working_size(3000, 2000)
    assert max(big) == 512  # refinements work at the bounded working size


def test_forced_classes_and_no_images(classifier):
    images = [random_image(64, 64, seed=7)]
    result = classify_and_segment(classifier, images, CamConfig(), forced=[[2]])
    assert [m.class_index for m in result.masks[0]] == [2]
    empty = classify_and_segment(classifier, [], CamConfig())
    assert empty.masks == [] and empty.probabilities.shape == (0, 3)


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"method": "smoothgrad"}, "gradcam"),
        ({"layers": "every"}, "last, multi"),
        ({"refine": "crf"}, "ridge"),
        ({"ridge_filter": "canny"}, "blackhat"),
        ({"input_size": 8}, "32..2048"),
    ],
)
def test_bad_options_are_refused(kwargs, needle):
    with pytest.raises((ValueError, KeyError), match=needle):
        CamConfig(**kwargs)
