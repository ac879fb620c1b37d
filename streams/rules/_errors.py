"""The errors of the rules layer: a bad configuration file, a bad case event.

ValueError
├── ConfigError      rule file, override file or calendar override is unusable;
│                    carries one Problem per bad field (TOML path + zh/en message)
└── CaseEventError   an event cannot be applied to a case state
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True)
class Problem:
    """One bad field: where it is (file and TOML path) and what is wrong, in Chinese and English."""

    path: str
    message_zh: str
    message_en: str
    file: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}{self.path or '(root)'}: {self.message_zh} / {self.message_en}"


class ConfigError(ValueError):
    """A rule file, override file or calendar override is unusable; `problems` says where and why."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(
            "规则配置无效 / invalid rule configuration:\n"
            + "\n".join(f"  - {problem}" for problem in self.problems)
        )

    def diagnostics(self) -> str:
        """The message an operator reads: one line per bad field."""
        return str(self)


class CaseEventError(ValueError):
    """An event that cannot be applied to a case state (unknown type, invalid data, wrong case)."""


# zh for the pydantic error types a hand-edited TOML file typically produces.
_ZH_BY_ERROR_TYPE: Mapping[str, str] = {
    "missing": "缺少必填项",
    "extra_forbidden": "未知字段（拼写错误？）",
    "int_type": "必须为整数",
    "int_parsing": "必须为整数",
    "int_from_float": "必须为整数",
    "string_type": "必须为字符串",
    "bool_type": "必须为 true 或 false",
    "bool_parsing": "必须为 true 或 false",
    "literal_error": "取值不在允许范围内",
    "enum": "取值不在允许范围内",
    "greater_than": "数值过小",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "string_too_short": "不能为空",
    "too_short": "不能为空",
    "dict_type": "必须为表（table）",
    "model_type": "必须为表（table）",
    "list_type": "必须为数组",
    "tuple_type": "必须为数组",
    "date_type": "必须为日期，例如 2027-01-01",
    "date_parsing": "必须为日期，例如 2027-01-01",
    "date_from_datetime_inexact": "必须为日期，例如 2027-01-01",
    "decimal_parsing": "必须为金额",
}


def toml_path(loc: Iterable[Any]) -> str:
    """A pydantic error location as a TOML path: `rules.X.deadlines.general.amount`, `a.b[2]`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part == "[key]":
            continue
        else:
            text += ("." if text else "") + str(part)
    return text


def problems_from_validation(exc: ValidationError, prefix: Sequence[str] = ()) -> list[Problem]:
    """Translate a pydantic ValidationError into bilingual problems with TOML paths."""
    problems: list[Problem] = []
    for error in exc.errors(include_url=False):
        message = str(error["msg"])
        if error["type"] == "value_error":
            # Our validators raise "zh / en"; strip pydantic's prefix and split.
            message = message.removeprefix("Value error, ")
            zh, sep, en = message.partition(" / ")
            if not sep:
                zh, en = "取值无效", message
        else:
            zh = _ZH_BY_ERROR_TYPE.get(error["type"], "取值无效")
            en = message
            if error["type"] in {"literal_error", "enum"}:
                zh = f"{zh}（{message.removeprefix('Input should be ')}）"
        problems.append(Problem(toml_path([*prefix, *error["loc"]]), zh, en))
    return problems
