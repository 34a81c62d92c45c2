"""export-images: every task image of a project into a folder, bad ones counted."""

from __future__ import annotations

from types import SimpleNamespace

from ml_backend.images.fetcher import ImageFetcher
from ml_backend.tools.export_images import export_images, image_keys
from tests.images import data_url, random_image


class FakeTasks:
    def __init__(self, tasks):
        self._tasks = tasks
        self.calls = []

    def list(self, **kwargs):
        self.calls.append(kwargs)
        return iter(self._tasks)


def test_image_keys_from_the_label_config():
    xml = '<View><Image name="img" value="$photo"/><Choices name="c" toName="img"><Choice value="a"/></Choices></View>'
    assert image_keys(xml) == ["photo"]
    assert image_keys(None) == []


def test_export_writes_images_and_counts_failures(tmp_path):
    tasks = [
        SimpleNamespace(id=1, data={"photo": data_url(random_image(seed=1))}),
        {"id": 2, "data": {"photo": data_url(random_image(seed=2, mode="L"))}},
        SimpleNamespace(id=3, data={"photo": "data:image/png;base64,bm90IGFuIGltYWdl"}),
        SimpleNamespace(id=4, data={"text": "no image here"}),
    ]
    client = SimpleNamespace(tasks=FakeTasks(tasks))
    fetcher = ImageFetcher(None, None)
    counts = export_images(client, fetcher, 5, tmp_path / "out", keys=["photo"], progress=False)
    assert counts == {"written": 2, "existing": 0, "failed": 1, "without_image": 1}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["task-1.png", "task-2.png"]
    assert client.tasks.calls[0]["project"] == 5
    again = export_images(client, fetcher, 5, tmp_path / "out", keys=["photo"], progress=False)
    assert again["written"] == 0 and again["existing"] == 2


def test_export_needs_label_studio_settings(monkeypatch, capsys):
    from ml_backend.__main__ import main

    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_HOST", raising=False)
    assert main(["export-images", "--project", "1", "--out", "x"]) == 2
    assert "LABEL_STUDIO_URL" in capsys.readouterr().err
