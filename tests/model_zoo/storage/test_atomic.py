import numpy as np
import pytest

from model_zoo.storage.atomic import write_atomic, write_dir_atomic, write_text_atomic


def test_replaces_the_target_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "sub" / "live"
    write_text_atomic(target, "v1\n")
    write_text_atomic(target, "v2\n")
    assert target.read_text() == "v2\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["live"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "features.npy"
    write_atomic(target, lambda tmp: np.save(tmp, np.arange(3)))

    def broken(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(target, broken)
    assert np.load(target).tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["features.npy"]


def test_a_folder_is_replaced_whole_and_a_failed_write_keeps_the_old_one(tmp_path):
    target = tmp_path / "zoo" / "entry"
    write_dir_atomic(target, lambda tmp: (tmp / "a.txt").write_text("v1"))
    write_dir_atomic(target, lambda tmp: (tmp / "b.txt").write_text("v2"))
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]  # nothing of v1 is left

    def broken(tmp):
        (tmp / "c.txt").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_dir_atomic(target, broken)
    assert (target / "b.txt").read_text() == "v2"
    assert [p.name for p in target.parent.iterdir()] == ["entry"]
