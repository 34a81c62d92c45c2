"""The queue round's hand-over: stored with task ids, read back with the labels they got."""

from __future__ import annotations

from ml_backend.queue.history import (
    context_history,
    history_path,
    load_history,
    save_history,
    stored_report,
)


def test_a_report_is_stored_by_task_id_and_read_back_with_labels(tmp_path):
    report = {"split": 0.4, "found": 0.7, "minority_picks": [2, 0]}
    saved = stored_report(report, pool_ids=[101, 102, 103])
    assert saved == {"split": 0.4, "found": 0.7, "picked_ids": [103, 101]}
    save_history(tmp_path, "7", saved)
    assert load_history(tmp_path, "7") == saved
    history = context_history(load_history(tmp_path, "7"), {101: "Rust", 555: "No defect"})
    assert history == {"split": 0.4, "found": 0.7, "picked_labels": ["Rust"]}  # 103: unlabeled


def test_no_or_a_broken_history_is_a_fresh_start(tmp_path):
    assert load_history(tmp_path, "1") == {}
    history_path(tmp_path, "1").parent.mkdir(parents=True)
    history_path(tmp_path, "1").write_text("{not json")
    assert load_history(tmp_path, "1") == {}
    save_history(tmp_path, "2", {"split": 0.5, "picked_ids": [1]})
    save_history(tmp_path, "2", {})  # a round that hands nothing on: the old report is stale
    assert load_history(tmp_path, "2") == {}
    assert context_history({}, {1: "a"}) == {}
