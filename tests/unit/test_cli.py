"""The command line without servers: arguments, error messages, hub-home refusal, --json."""

from __future__ import annotations

import argparse
import inspect
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, Field, ValidationError

from hub import cli
from hub.commands import common, schema_cmds


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for action in subs:
        for name, child in action.choices.items():
            yield from _leaves(child, (*path, name))


def test_every_command_that_prints_json_accepts_json() -> None:
    leaves = list(_leaves(cli.build_parser()))
    assert len(leaves) > 20
    printing = []
    for path, parser in leaves:
        handler = parser.get_default("handler")
        if "print_json(" in inspect.getsource(handler):
            printing.append(" ".join(path))
            options = {o for a in parser._actions for o in a.option_strings}
            assert "--json" in options, f"`linkage-hub {' '.join(path)}` prints JSON"
    assert {"ledger list", "ledger prove", "ledger consistency", "agency list",
            "alerts list"} <= set(printing)


@pytest.fixture
def outside_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """LINKAGE_HOME pointing at an empty directory; no database or broker configured."""
    home = tmp_path / "not-a-hub"
    monkeypatch.setenv("LINKAGE_HOME", str(home))
    monkeypatch.delenv("LINKAGE_DATABASE_URL", raising=False)
    monkeypatch.delenv("LINKAGE_KAFKA", raising=False)
    return home


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("错误 / error: "), err
    return lines[0]


@pytest.mark.parametrize(("argv", "words"), [
    (["ledger", "list", "--limit", "-5"], ["--limit", "必须为正整数", "positive integer"]),
    (["ledger", "list", "--limit", "ten"], ["--limit", "不是整数", "not an integer"]),
    (["ledger", "list", "--start", "-1"], ["--start", "不能为负数", "must not be negative"]),
    (["ledger", "consistency", "-3", "4"], ["FIRST", "不能为负数", "must not be negative"]),
    (["agency", "add", "Bad ID!", "--role", "police", "--name", "x"],
     ["机关编号无效", "invalid agency id", "'Bad ID!'"]),
    (["keys", "generate", "X", "--out", "keys"], ["机关编号无效", "invalid agency id"]),
    (["up", "--accelerate", "0"], ["--accelerate", "必须为正数", "positive number"]),
    (["ledger", "nonsense"], ["invalid choice"]),
])
def test_bad_arguments_are_one_zh_en_line_and_exit_2(
        argv: list[str], words: list[str], outside_home: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    line = _one_line_error(capsys)
    for word in words:
        assert word in line
    assert not outside_home.exists()


def test_unwritable_key_directory_is_one_line(tmp_path: Path, outside_home: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert cli.main(["keys", "generate", "zs-aic", "--out", str(blocker / "keys")]) == 1
    line = _one_line_error(capsys)
    assert f"无法访问 {blocker / 'keys'}" in line and "cannot access" in line
    assert cli.main(["ledger", "export", "--out", str(blocker / "export")]) == 1
    line = _one_line_error(capsys)  # not "database unavailable"
    assert f"无法访问 {blocker / 'export'}" in line and "cannot access" in line


def test_missing_export_directory_is_one_line(tmp_path: Path, outside_home: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ledger", "verify", "--export", str(tmp_path / "missing")]) == 1
    line = _one_line_error(capsys)
    assert "不是账本导出目录" in line and "not a ledger export directory" in line


@pytest.mark.parametrize("argv", [["keys", "hub"], ["ledger", "list"], ["ledger", "checkpoint"],
                                  ["agency", "list", "--json"], ["alerts", "list"]])
def test_outside_a_hub_home_commands_refuse_and_create_nothing(
        argv: list[str], outside_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    line = _one_line_error(capsys)
    assert "不是已初始化的枢纽目录" in line and "not an initialised hub home" in line
    assert "linkage-hub init" in line
    assert capsys.readouterr().out == ""
    assert not outside_home.exists()  # no hub key minted, no empty database created


class _Seed(BaseModel):
    id: str = Field(pattern=r"^[a-z]+$")


def test_hub_errors_become_one_line() -> None:
    with pytest.raises(ValidationError) as caught:
        _Seed(id="Bad ID!")
    described = cli.describe_error(caught.value)
    assert described is not None
    message, code = described
    assert code == 1 and "\n" not in message
    assert message.startswith("输入无效 / invalid input: id: ")
    assert "https://" not in message
    missing = cli.describe_error(FileNotFoundError(2, "No such file or directory", "/x"))
    assert missing == ("无法访问 /x：文件或目录不存在 / cannot access /x: "
                       "No such file or directory", 1)
    assert cli.describe_error(RuntimeError("a bug")) is None


def test_unexpected_errors_are_one_line_unless_verbose(
        monkeypatch: pytest.MonkeyPatch, outside_home: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    def broken(settings: object, args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(schema_cmds, "export", broken)
    assert cli.main(["schemas", "export", "x"]) == 70
    line = _one_line_error(capsys)
    assert "内部错误 / internal error: RuntimeError: boom" in line and "-v" in line
    with pytest.raises(RuntimeError):
        cli.main(["-v", "schemas", "export", "x"])


def test_tables_show_shanghai_time_and_json_keeps_the_offset() -> None:
    from datetime import UTC, datetime

    moment = datetime(2026, 3, 1, 23, 30, 5, tzinfo=UTC)
    assert common.local_time(moment) == "2026-03-02 07:30"
    assert common.local_time(moment, seconds=True) == "2026-03-02 07:30:05"
    assert common.local_time(None) == "-"
    assert common._json_default(moment) == "2026-03-01T23:30:05+00:00"


def test_rejections_read_in_zh_and_en() -> None:
    from connectors.outbox import describe_outcome

    assert describe_outcome("rejected", "UNKNOWN_KEY", "keyid ab") == (
        "拒收 rejected UNKNOWN_KEY: 签名密钥未登记 / the signing key is not registered (keyid ab)")
    assert describe_outcome("accepted", None, None, 7) == "接收 accepted #7"
    assert describe_outcome("duplicate", None, "已于账本序号 7 接收 / already accepted at "
                            "ledger index 7").startswith("重复 duplicate: 已于账本序号 7")


def test_import_without_a_broker_is_one_line(tmp_path: Path, outside_home: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from schemas.signing import SigningKey

    csv = Path(__file__).resolve().parents[1] / "fixtures" / "penalty" / "bad_rows.csv"
    key_path, _ = SigningKey.generate().write_pair(tmp_path, "zs-aic")
    with pytest.raises(SystemExit) as exited:
        cli.main(["import", str(csv), "--agency", "zs-aic", "--key", str(key_path)])
    assert "\n" not in str(exited.value.code)
    assert str(exited.value.code).startswith("错误 / error: 未配置 Kafka")


def test_an_interrupted_command_ignores_a_second_ctrl_c_while_it_exits(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A child of `up` gets Ctrl-C twice (terminal and `up`); the second one, arriving in the
    interpreter's exit handlers, used to print a KeyboardInterrupt traceback."""

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.Settings, "from_env", staticmethod(interrupted))
    saved = signal.getsignal(signal.SIGINT)
    try:
        assert cli.main(["agency", "list"]) == 130
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, saved)
    assert capsys.readouterr().err == "已中断 / interrupted\n"
