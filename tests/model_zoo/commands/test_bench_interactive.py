from model_zoo.commands.cli import main


def test_bench_prints_first_and_later_click_times(capsys):
    argv = ["bench-interactive", "--size", "96", "--images", "1", "--clicks", "2"]
    assert main(argv + ["--sources", "fallback"]) == 0
    out = capsys.readouterr().out
    assert "fallback" in out and "later / first" in out
    assert "%" in out.splitlines()[-1]
