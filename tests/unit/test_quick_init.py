"""`quick_init` (streams/rules/_quick.py): a frozen dataclass made by it is the one the
dataclass's own `__init__` makes (fields, equality, hash, repr, defaults and default factories,
positional or keyword arguments), and it refuses what it cannot make so."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.rules._policies import Obligation
from streams.rules._quick import _Once, once, quick_init
from streams.rules._thresholds import Indication, MetThreshold, Run, _RunsSoFar
from streams.rules.calendar import DueTime
from streams.rules.engine import Assessment
from streams.rules_runner import Transition

QUICK = [Obligation, Indication, MetThreshold, Run, _RunsSoFar, DueTime, Assessment, Transition]
VALUES = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.booleans(),
                   st.datetimes(timezones=st.just(UTC)), st.tuples(st.integers()))


def _reference(cls: type[Any]) -> type[Any]:
    """The same class with the `__init__` dataclasses writes."""
    fields = [(f.name, f.type, f) for f in dataclasses.fields(cls)]
    return dataclasses.make_dataclass(cls.__name__, [
        (n, t, field(default=f.default) if f.default is not dataclasses.MISSING else
         field(default_factory=f.default_factory)
         if f.default_factory is not dataclasses.MISSING else field())
        for n, t, f in fields], frozen=True)


def _state(value: object) -> tuple[object, ...]:
    return tuple(getattr(value, f.name) for f in dataclasses.fields(value))  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", QUICK, ids=lambda c: c.__name__)
@given(data=st.data())
def test_instances_are_what_the_dataclass_init_makes(cls: type[Any], data: st.DataObject) -> None:
    reference = _reference(cls)
    fields = dataclasses.fields(cls)
    required = [f for f in fields if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING]
    optional = [f for f in fields if f not in required]
    given_optional = data.draw(st.lists(st.sampled_from(optional), unique=True)) if optional \
        else []
    positional = [data.draw(VALUES) for _ in required]
    keywords = {f.name: data.draw(VALUES) for f in given_optional}
    quick, slow = cls(*positional, **keywords), reference(*positional, **keywords)
    assert _state(quick) == _state(slow)
    by_name = cls(**{f.name: v for f, v in zip(required, positional, strict=True)}, **keywords)
    assert by_name == quick
    try:
        expected = hash(slow)
    except TypeError:  # a dict among the values: unhashable either way
        with pytest.raises(TypeError):
            hash(quick)
    else:
        assert hash(quick) == hash(by_name) and hash(quick) == expected
    assert repr(quick) == repr(slow).replace(reference.__qualname__, cls.__qualname__)
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.x = 1
    with pytest.raises(TypeError):
        cls(*positional, *[None] * (len(fields) - len(required) + 1))


def test_a_default_factory_makes_a_new_value_each_time() -> None:
    first, second = Obligation("t", "r", "zh", "en"), Obligation("t", "r", "zh", "en")
    assert first.facts == {} and first.facts is not second.facts
    assert DueTime(datetime(2026, 1, 1, tzinfo=UTC)).unverified_years == ()


def test_what_it_cannot_make_is_refused() -> None:
    @dataclass
    class Mutable:
        a: int

    @dataclass(frozen=True)
    class Later:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True)
    class NotInit:
        a: int = field(init=False, default=0)

    @dataclass(frozen=True, slots=True)
    class Slotted:
        a: int

    @dataclass(frozen=True, kw_only=True)
    class KeywordOnly:
        a: int

    for cls in (Mutable, Later, NotInit, Slotted, KeywordOnly, int):
        with pytest.raises(TypeError, match="quick_init"):
            quick_init(cls)


class _Counted:
    def __init__(self) -> None:
        self.calls = 0

    @once
    def value(self) -> list[int]:
        """The docstring."""
        self.calls += 1
        return [self.calls]


def test_once_computes_on_the_first_read_and_stores_in_the_instance() -> None:
    assert isinstance(_Counted.__dict__["value"], _Once)
    assert _Counted.__dict__["value"].__doc__ == "The docstring."
    first, second = _Counted(), _Counted()
    assert first.value is first.value and first.value == [1] and first.calls == 1
    assert first.__dict__["value"] == [1]
    assert second.value == [1] and second.value is not first.value


def test_once_propagates_an_error_and_tries_again_on_the_next_read() -> None:
    class Failing:
        tries = 0

        @once
        def value(self) -> int:
            type(self).tries += 1
            if Failing.tries == 1:
                raise ValueError("first")
            return Failing.tries

    failing = Failing()
    with pytest.raises(ValueError, match="first"):
        _ = failing.value
    assert "value" not in failing.__dict__
    assert failing.value == 2 and failing.value == 2
