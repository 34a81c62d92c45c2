import pytest

from model_zoo.interactive.prompts import PromptError, Prompts, prompt_groups


def test_points_need_one_flag_each():
    with pytest.raises(PromptError, match="is_positive"):
        Prompts(points=((1, 1), (2, 2)), positive=(True,))


@pytest.mark.parametrize(
    "prompts, message",
    [
        (Prompts(points=((120.5, 10),), positive=(True,)), "outside the 100x50 image"),
        (Prompts(points=((10, -1),), positive=(True,)), "outside"),
        (Prompts(boxes=((10, 10, 10, 40),)), "no area"),
        (Prompts(boxes=((10, 10, 30, 10.5),)), "no area"),
        (Prompts(boxes=((200, 10, 230, 40),)), "outside"),
        (Prompts(points=((10, 10),), positive=(False,)), "at least one positive point or a box"),
        (Prompts(), "at least one positive point or a box"),
    ],
)
def test_check_rejects_with_a_clear_message(prompts, message):
    with pytest.raises(PromptError, match=message):
        prompts.check(100, 50)


def test_check_accepts_the_image_border_and_partly_outside_boxes():
    Prompts(points=((100, 50), (0, 0)), positive=(True, False), boxes=((-5, -5, 20, 20),)).check(
        100, 50
    )


def test_groups_one_per_box_plus_loose_clicks_with_negatives_everywhere():
    prompts = Prompts(
        points=((5, 5), (50, 40), (8, 8)),
        positive=(True, True, False),
        boxes=((0, 0, 20, 20), (-10, 60, 30, 200)),
    )
    groups = prompt_groups(prompts, 100, 100)
    assert groups[0] == ([(5, 5), (8, 8)], [1, 0], (0, 0, 20, 20))
    assert groups[1] == ([(8, 8)], [0], (0.0, 60, 30, 100.0))  # clipped to the image
    assert groups[2] == ([(50, 40), (8, 8)], [1, 0], None)
    assert len(groups) == 3
