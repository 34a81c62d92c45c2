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
