"""Named parts that researchers extend (scorers, solvers, providers): a built-in is found by
its registered name, anything else by a dotted path to an importable object, `package.module:name`
(or `package.module.name`), with no edit to this package.

    from evalsweep.registry import Registry
    SCORERS: Registry[Scorer] = Registry("scorer")

    @SCORERS.register("exact")
    def exact_match(output, sample): ...

    SCORERS.get("exact"); SCORERS.get("mylab.scorers:refusal")
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

from evalsweep.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, *, option: str) -> None:
        self.kind = kind
        self.option = option  # the config key that names one, for error lines
        self._items: dict[str, T] = {}
        self._paths: dict[str, str] = {}  # built-ins imported on first use (register_path)

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            self._claim(name)
            self._items[name] = obj
            return obj

        return add

    def register_path(self, name: str, path: str) -> None:
        """A built-in that lives in a module of its own, imported when a job first asks for it (so
        the registry's module does not import it, and it may import the registry's module)."""
        self._claim(name)
        self._paths[name] = path

    def _claim(self, name: str) -> None:
        if name in self._items or name in self._paths:
            raise ValueError(f"{self.kind} {name!r} is registered twice")

    def names(self) -> list[str]:
        return sorted([*self._items, *self._paths])

    def __contains__(self, name: str) -> bool:
        return name in self._items or name in self._paths

    def unknown(self, name: str) -> str | None:
        """The one-line error for a name that is neither registered nor a dotted path, else None
        (without importing anything: a config schema checks names with it)."""
        if name in self or "." in name or ":" in name:
            return None
        return (f"unknown {self.kind} {self.option}={name}: one of {', '.join(self.names())}, "
                f"or a dotted path to your own, e.g. {self.option}=mylab.{self.kind}s:my_{self.kind}")

    def get(self, name: str) -> T:
        """The registered object, else the object a dotted path names; ConfigError when neither."""
        if name in self._items:
            return self._items[name]
        if name in self._paths:
            self._items[name] = resolve(self._paths.pop(name), what=f"{self.option}={name}")  # type: ignore[assignment]
            return self._items[name]
        problem = self.unknown(name)
        if problem is not None:
            raise ConfigError(problem)
        obj = resolve(name, what=f"{self.option}={name}")
        return obj  # type: ignore[no-any-return]


def resolve(path: str, *, what: str) -> object:
    """Import `package.module:attr` or `package.module.attr`."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ConfigError(f"{what}: not a dotted path; write package.module:name")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"{what}: cannot import module {module_name!r} ({exc.msg}); check the name and that it "
                          f"is on PYTHONPATH (or installed)") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{what}: module {module_name!r} has no {attr!r}") from None
