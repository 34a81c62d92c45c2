import json
import os

import pytest

from model_zoo.storage.model_store import META_FILE, ModelStore, StoreError


def writer(payload: str):
    def write(tmp):
        (tmp / "weights.bin").write_text(payload)

    return write


def test_versions_go_live_atomically_and_are_listed(tmp_path):
    store = ModelStore(tmp_path, keep=5)
    assert store.live_version("p1") is None and store.next_version("p1", "p1-v") == "p1-v1"
    info = store.add_version("p1", "p1-v1", writer("a"), {"metrics": {"accuracy": 0.5}})
    assert info.live and store.live_version("p1") == "p1-v1"
    store.add_version("p1", "p1-v2", writer("b"), {"parent": "p1-v1"})
    assert store.live_version("p1") == "p1-v2"
    assert store.next_version("p1", "p1-v") == "p1-v3"
    versions = store.versions("p1")
    assert [v.version for v in versions] == ["p1-v1", "p1-v2"]
    assert versions[1].meta["parent"] == "p1-v1" and versions[0].meta["metrics"]["accuracy"] == 0.5
    assert (store.live_path("p1") / "weights.bin").read_text() == "b"
    assert store.scopes() == ["p1"]


def test_rollback_and_unknown_versions(tmp_path):
    store = ModelStore(tmp_path)
    store.add_version("p", "v1", writer("a"), {})
    store.add_version("p", "v2", writer("b"), {})
    store.set_live("p", "v1")
    assert store.live_version("p") == "v1"
    with pytest.raises(StoreError, match="v9"):
        store.set_live("p", "v9")
    with pytest.raises(StoreError, match="already exists"):
        store.add_version("p", "v1", writer("c"), {})
    with pytest.raises(StoreError, match="invalid"):
        store.add_version("p", "../evil", writer("c"), {})


def test_a_crash_while_writing_leaves_no_version(tmp_path):
    store = ModelStore(tmp_path)
    store.add_version("p", "v1", writer("a"), {})

    def crash(tmp):
        (tmp / "weights.bin").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        store.add_version("p", "v2", crash, {})
    assert [v.version for v in store.versions("p")] == ["v1"] and store.live_version("p") == "v1"
    assert not list((tmp_path / "p").glob(".tmp-*"))


def test_a_killed_writer_leaves_only_an_ignored_temp_dir(tmp_path):
    store = ModelStore(tmp_path)
    store.add_version("p", "v1", writer("a"), {})
    # what a process killed between writing and renaming leaves behind
    leftover = tmp_path / "p" / ".tmp-abc123"
    leftover.mkdir()
    (leftover / "weights.bin").write_text("partial")
    # and a version folder without metadata (killed before the meta file was complete)
    (tmp_path / "p" / "versions" / "v2").mkdir()
    assert [v.version for v in store.versions("p")] == ["v1"]
    assert store.clean_partial() == 1 and not leftover.exists()
    # a live pointer to an incomplete version is not trusted
    (tmp_path / "p" / "live").write_text("v2\n")
    assert store.live_version("p") is None


def test_prune_keeps_the_newest_and_the_live_one(tmp_path):
    store = ModelStore(tmp_path, keep=2)
    for i in range(1, 5):
        store.add_version("p", f"v{i}", writer(str(i)), {"created_at": i}, make_live=(i == 1))
    names = [v.version for v in store.versions("p")]
    assert "v1" in names and len(names) == 2 and names[-1] == "v4"


def test_meta_file_is_complete_json(tmp_path):
    store = ModelStore(tmp_path)
    info = store.add_version("p", "v1", writer("a"), {"labels": ["a", "b"]})
    meta = json.loads((info.path / META_FILE).read_text())
    assert meta["version"] == "v1" and meta["scope"] == "p" and meta["labels"] == ["a", "b"]
    assert not [n for n in os.listdir(info.path) if n.startswith(".")]


def test_set_live_refuses_a_version_with_missing_files(tmp_path):
    store = ModelStore(tmp_path)
    store.add_version("p", "v1", writer("a"), {})
    store.add_version("p", "v2", writer("b"), {})
    (store.version_dir("p", "v1") / "weights.bin").unlink()
    with pytest.raises(StoreError, match="incomplete"):
        store.set_live("p", "v1")
    assert store.live_version("p") == "v2"


_PRUNE = """
import sys
from model_zoo.storage.model_store import ModelStore
store = ModelStore(sys.argv[1], keep=1)
print("ready", flush=True)
sys.stdin.readline()
store.prune("p")
"""


def _many_files(tmp):
    for i in range(400):
        (tmp / f"part-{i:03d}.bin").write_bytes(b"x" * 2048)


def test_killed_prunes_never_leave_a_listed_but_broken_version(tmp_path):
    """20 prunes SIGKILLed at different moments: every version still listed is whole and can
    go live; the leftovers are cleaned up."""
    import signal
    import subprocess
    import sys
    import time

    broken = 0
    for trial in range(20):
        root = tmp_path / f"trial-{trial}"
        store = ModelStore(root, keep=50)
        for v in range(4):
            store.add_version("p", f"v{v}", _many_files, {}, make_live=(v == 3))
        proc = subprocess.Popen(
            [sys.executable, "-c", _PRUNE, str(root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "ready"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        time.sleep(0.001 * trial)  # 0-19 ms into the prune of 3 versions x 400 files
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for info in store.versions("p"):
            if store.missing_files(info.path):
                broken += 1
            else:
                store.set_live("p", info.version)
        store.clean_partial()
        assert not list((root / "p").glob(".trash-*"))
    assert broken == 0
