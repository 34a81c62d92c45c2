"""Queue rounds in Label Studio, without a server: round numbers and pruning.

Applying a round (predictions, model_version switch, /next/, half-applied rounds) is tested
against a real server in tests/integration/test_queue_order.py.
"""

from __future__ import annotations

from ml_backend.queue import rounds
from ml_backend.queue.rounds import round_number


def test_round_numbers():
    assert round_number("queue-order-12") == 12
    assert round_number("al-7") == 7  # rounds named before the rename are still recognised
    assert (
        round_number("p3-v1") is None and round_number("") is None and round_number("al-x") is None
    )


def test_pruning_never_deletes_the_round_in_force_or_a_newer_one(monkeypatch):
    deleted = []
    monkeypatch.setattr(rounds, "delete_version", lambda c, p, v: deleted.append(v))
    versions = ["al-1", "queue-order-2", "queue-order-3", "queue-order-4", "p1-v1", "tiny-vit"]
    assert rounds.delete_rounds(None, 1, "queue-order-3", versions) == ["al-1", "queue-order-2"]
    assert deleted == ["al-1", "queue-order-2"]
