import pytest

from model_zoo.registry import ZOO, resolve


def test_every_entry_documents_source_size_and_licence():
    for name, entry in ZOO.items():
        assert entry.name == name
        assert entry.input_size > 0
        assert entry.licence
        assert entry.is_random or entry.hub_id or entry.build_weights, name
    assert "tiny-vit" in ZOO and ZOO["tiny-vit"].is_random


def test_resolve_kinds(tmp_path):
    assert resolve("tiny-vit").kind == "random"
    hub = resolve("vit-base")
    assert hub.kind == "hub" and hub.hub_id == ZOO["vit-base"].hub_id
    assert resolve("org/some-model@abc123").revision == "abc123"
    (tmp_path / "config.json").write_text("{}")
    local = resolve(str(tmp_path))
    assert local.kind == "local" and local.path == tmp_path.resolve()


def test_zoo_copy_under_model_dir_wins(tmp_path):
    copy = tmp_path / "zoo" / "vit-base"
    copy.mkdir(parents=True)
    (copy / "config.json").write_text("{}")
    source = resolve("vit-base", tmp_path)
    assert source.kind == "local" and source.path == copy


def test_unknown_names_say_what_exists(tmp_path):
    with pytest.raises(KeyError, match="tiny-vit"):
        resolve("no-such-model")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve(str(tmp_path / "missing" / "dir"))
    with pytest.raises(ValueError):
        resolve("  ")


def test_list_command_prints_table(capsys):
    from model_zoo.commands.cli import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ZOO:
        assert name in out
