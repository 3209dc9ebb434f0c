"""The strategy registry: ``kind`` names in the strategies file, resolved to Strategy classes.

A kind is either a registered name (the built-ins, and any class decorated with
:func:`register`) or ``"package.module:ClassName"``, imported on demand, for a user's own
strategy that need not be registered::

    from pulsetrader.strategy import Strategy, StrategyParams, register

    @register
    class MyStrategy(Strategy[StrategyParams]):
        name = "my_strategy"
        ...

Both forms need the class to subclass :class:`~pulsetrader.strategy.base.Strategy`. The
built-ins register themselves when :mod:`pulsetrader.strategy.builtin` is imported, which the
registry does before its first lookup.
"""

from __future__ import annotations

import difflib
import importlib
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from pulsetrader.strategy.base import Strategy
from pulsetrader.strategy.errors import StrategyConfigError

StrategyClass = type[Strategy[Any]]
S = TypeVar("S", bound=StrategyClass)

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_IMPORT_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_MODULE_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class Registry:
    """Registered strategy classes by name. The module-level functions use :data:`registry`."""

    def __init__(self, *, builtins: bool = True) -> None:
        self._classes: dict[str, StrategyClass] = {}
        self._builtins_loaded = not builtins

    def register(self, cls: S) -> S:
        """Register ``cls`` under ``cls.name`` (a class decorator; returns ``cls``).

        Raises TypeError for a class that is not a Strategy or has no valid name, and ValueError
        when another class already has the name. Registering a class of the same module and
        name again (a reloaded module) replaces it.
        """
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise TypeError(f"{cls!r} is not a Strategy subclass")
        key = cls.name
        if not isinstance(key, str) or not _NAME_RE.match(key):
            raise TypeError(
                f"{cls.__qualname__}.name must be lower_snake_case (e.g. 'my_strategy'), "
                f"got {key!r}"
            )
        existing = self._classes.get(key)
        if existing is not None and _qualified(existing) != _qualified(cls):
            raise ValueError(
                f"strategy name {key!r} is taken by {_qualified(existing)}; "
                f"choose another name for {_qualified(cls)}"
            )
        self._classes[key] = cls
        return cls

    def unregister(self, key: str) -> None:
        """Forget ``key`` (no error if unknown)."""
        self._classes.pop(key, None)

    def known(self) -> dict[str, StrategyClass]:
        """Every registered kind and its class, sorted by kind."""
        self._load_builtins()
        return dict(sorted(self._classes.items()))

    def get(self, kind: str) -> StrategyClass:
        """The class for a registered name. Raises StrategyConfigError listing the known kinds
        (and the closest match, for a typo)."""
        self._load_builtins()
        cls = self._classes.get(kind)
        if cls is None:
            raise StrategyConfigError([self.unknown_kind_message(kind)])
        return cls

    def resolve(self, kind: str, *, search_path: Path | None = None) -> StrategyClass:
        """The class for ``kind``: a registered name or ``"package.module:ClassName"``.

        ``search_path`` (the strategies file's folder) is tried for the module as well as
        ``sys.path``. Raises StrategyConfigError saying what went wrong.
        """
        if ":" not in kind:
            return self.get(kind)
        if not _IMPORT_RE.match(kind):
            raise StrategyConfigError(
                [f"kind {kind!r} is not 'package.module:ClassName' (one colon, Python names)"]
            )
        module_name, class_name = kind.split(":")
        module = self.import_module(module_name, search_path=search_path)
        cls = getattr(module, class_name, None)
        if cls is None:
            raise StrategyConfigError(
                [f"module {module_name!r} has no {class_name!r} (kind {kind!r})"]
            )
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise StrategyConfigError(
                [f"{kind!r} is not a Strategy subclass (it is {type(cls).__name__} {cls!r})"]
            )
        return cls

    def import_module(self, name: str, *, search_path: Path | None = None) -> ModuleType:
        """Import a user's module (from ``sys.path`` or ``search_path``); its ``@register``
        decorators run. Raises StrategyConfigError with the module's own error."""
        if not _MODULE_RE.match(name):
            raise StrategyConfigError([f"{name!r} is not a module name such as 'package.module'"])
        try:
            with _importable_from(search_path):
                return importlib.import_module(name)
        except Exception as exc:  # a user's module may fail any way it likes: report how
            raise StrategyConfigError(
                [f"cannot import module {name!r}: {type(exc).__name__}: {exc}"]
            ) from exc

    def unknown_kind_message(self, kind: str) -> str:
        """``unknown kind 'x'; ...`` with the known kinds and the closest one."""
        names = list(self.known())
        close = difflib.get_close_matches(kind, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        listed = ", ".join(names) or "none registered"
        return (
            f"unknown kind {kind!r}{hint}; known kinds: {listed}, "
            "or 'package.module:ClassName' for your own strategy"
        )

    def _load_builtins(self) -> None:
        if not self._builtins_loaded:
            self._builtins_loaded = True
            from pulsetrader.strategy import builtin  # registers itself; imported late: a cycle

            for cls in builtin.BUILTINS:
                self.register(cls)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@contextmanager
def _importable_from(folder: Path | None) -> Iterator[None]:
    """``folder`` on ``sys.path`` for the duration (a module next to the strategies file)."""
    if folder is None or str(folder) in sys.path:
        yield
        return
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        with suppress(ValueError):  # the module may have removed it itself
            sys.path.remove(str(folder))


#: The registry the strategies file uses unless given another.
registry = Registry()


def register(cls: S) -> S:
    """Register a strategy class in the default registry (a class decorator)."""
    return registry.register(cls)


def get(kind: str) -> StrategyClass:
    """The registered class named ``kind``."""
    return registry.get(kind)


def known() -> dict[str, StrategyClass]:
    """Every registered kind and its class."""
    return registry.known()


def resolve(kind: str, *, search_path: Path | None = None) -> StrategyClass:
    """A registered name or ``"package.module:ClassName"`` resolved to its class."""
    return registry.resolve(kind, search_path=search_path)
