"""Frozen dataclasses whose `__init__` sets the instance's fields at once (`quick_init`), and
a cached property without a lock (`once`).

A frozen dataclass's generated `__init__` sets each field through `object.__setattr__`
(its own `__setattr__` refuses): ~0.1 µs a field, ~1.5 µs for an `Obligation` of eleven
against ~0.8 this way. An evaluation makes a dozen such values a case (obligations, grounds,
runs, deadlines: issue 14, session 7), nearly all only read once.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

T = TypeVar("T")

_MISSING = object()


def quick_init(cls: type[T]) -> type[T]:
    """`cls` (a frozen dataclass) with an `__init__` taking the same arguments as the one
    `dataclasses` wrote (positional or by keyword, the same defaults and default factories)
    that sets the instance's `__dict__` in one assignment. Instances are equal, hash and
    print alike (tests/unit/test_quick_init.py). Only for what it can make so: a frozen
    dataclass without slots, `__post_init__`, init-only, keyword-only or non-init fields."""
    params = getattr(cls, "__dataclass_params__", None)
    fields = dataclasses.fields(cls) if params is not None else ()  # type: ignore[arg-type]
    if (params is None or not params.frozen or not params.init
            or "__slots__" in cls.__dict__ or hasattr(cls, "__post_init__")
            or any(not f.init or f.kw_only is True for f in fields)
            or any(isinstance(v, dataclasses.InitVar) for v in cls.__annotations__.values())):
        raise TypeError(f"quick_init cannot make {cls.__name__}")
    namespace: dict[str, Any] = {"_set": object.__setattr__, "_MISSING": _MISSING}
    arguments: list[str] = []
    values: list[str] = []
    for f in fields:
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{f.name}"] = f.default
            arguments.append(f"{f.name}=_default_{f.name}")
            values.append(f"{f.name!r}: {f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            arguments.append(f"{f.name}=_MISSING")
            values.append(f"{f.name!r}: _factory_{f.name}() if {f.name} is _MISSING else {f.name}")
        else:
            arguments.append(f.name)
            values.append(f"{f.name!r}: {f.name}")
    source = (f"def __init__(self, {', '.join(arguments)}):\n"
              f"    _set(self, '__dict__', {{{', '.join(values)}}})\n")
    exec(source, namespace)  # the dataclasses module writes __init__ alike
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


class _Once(Generic[T]):
    """What `functools.cached_property` does, without its lock: the value computed on the
    first read is stored in the instance's `__dict__`, where every later read finds it (the
    descriptor, not being a data descriptor, is not asked again).

    Python 3.11's `cached_property` takes an `RLock` for each first read (and its re-check of
    the `__dict__` under it): ~1 µs a read, for the 3-4 derived facts of each `CaseView` an
    evaluation reads (issue 14, session 8). A `CaseView` lives within one evaluation on one
    thread, so no two threads can race to fill it (and a race would only compute the same
    value twice). tests/unit/test_quick_init.py."""

    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value


if TYPE_CHECKING:  # typed as what it does the work of
    once = functools.cached_property
else:
    once = _Once
