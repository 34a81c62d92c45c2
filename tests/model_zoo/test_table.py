from model_zoo.table import format_table


def test_columns_align_and_follow_the_given_order():
    rows = [{"name": "tiny-vit", "ms": 0.5}, {"name": "random-vit-base", "ms": 240.6}]
    lines = format_table(rows, ["ms", "name"]).splitlines()
    assert lines[0].split() == ["ms", "name"]
    assert [
        line.index(value)
        for line, value in zip(lines[1:], ["tiny-vit", "random-vit-base"], strict=True)
    ] == [lines[0].index("name")] * 2
    assert format_table([]) == ""


def test_numbers_are_right_aligned_with_fixed_decimals():
    rows = [{"name": "a", "s": 0.5, "n": 3}, {"name": "bb", "s": 12.25, "n": None}]
    lines = format_table(rows, digits={"s": 2}, headers={"s": "seconds"}).splitlines()
    assert lines[0].split() == ["name", "seconds", "n"]
    assert lines[1].endswith("0.50    3") and lines[2].endswith("12.25  n/a")
