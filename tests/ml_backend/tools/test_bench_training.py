"""bench-training: a round's time, and with --unlabeled the same round with a pool beside it."""

from ml_backend.tools.bench_training import bench_round


def test_a_round_with_an_unlabeled_pool_is_timed_beside_the_plain_one():
    row = bench_round("tiny-vit", 10, 1, unlabeled=6)
    assert row["labels"] == 10 and row["unlabeled"] == 6
    assert row["pool_read"] == 6  # the pooled round really read the pool
    assert row["pseudo_labels"] == 0  # tiny-vit is random: no probe, so nothing to self-train
    assert row["round_s"] > 0 and row["round_unlabeled_s"] > 0
    assert row["ratio"] > 0
    assert "unlabeled" not in bench_round("tiny-vit", 10, 1)
