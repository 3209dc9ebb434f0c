"""The strategies file: which strategies run, as what, with which parameters.

TOML, one ``[[strategy]]`` table per instance::

    # modules = ["my_package.strategies"]   # optional: imported first, so @register runs

    [[strategy]]
    name = "sma_aapl"          # instance name: unique; stamped on its orders and fills
    kind = "sma_crossover"     # a registered kind, or "my_package.my_module:MyStrategy"
    enabled = true             # optional, default true
    [strategy.params]          # validated by the kind's Params model
    symbols = ["AAPL", "MSFT"]
    fast = 10
    slow = 30
    qty = "1"                  # amounts as text are exact; numbers work too

Every problem in the file is reported at once, each line naming the entry and the field and
saying what is expected; a module named by a kind is imported from ``sys.path`` or from the
file's own folder. Disabled entries are validated too (a typo should not wait until the day
the entry is switched on) but not run.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from pulsetrader.domain.money import decimal_str
from pulsetrader.strategy.base import Strategy, StrategyParams
from pulsetrader.strategy.errors import StrategyConfigError
from pulsetrader.strategy.registry import Registry, StrategyClass, registry

_ENTRY_KEYS = ("name", "kind", "enabled", "params")
_TOP_KEYS = ("strategy", "modules")
_INSTANCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TYPE_WORDS: dict[Any, str] = {
    int: "an integer",
    float: "a number",
    str: "text",
    bool: "true or false",
}


@dataclass(frozen=True, slots=True)
class StrategySpec:
    """One validated ``[[strategy]]`` entry."""

    name: str
    kind: str
    cls: StrategyClass
    params: StrategyParams
    enabled: bool = True

    def build(self) -> Strategy[Any]:
        """A fresh strategy instance with these parameters."""
        return self.cls(self.params)


def load_strategies(path: str | Path, *, reg: Registry | None = None) -> list[StrategySpec]:
    """Read and validate the strategies file at ``path``; every entry, enabled or not.

    Raises StrategyConfigError naming the file and listing every problem.
    """
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StrategyConfigError(["file not found"], str(file)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StrategyConfigError([f"cannot read the file: {exc}"], str(file)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise StrategyConfigError([f"not valid TOML: {exc}"], str(file)) from exc
    return parse_strategies(data, source=str(file), search_path=file.parent, reg=reg)


def parse_strategies(
    data: Mapping[str, Any],
    *,
    source: str | None = None,
    search_path: Path | None = None,
    reg: Registry | None = None,
) -> list[StrategySpec]:
    """Validate already-parsed TOML (see the module docstring); the entries in file order."""
    reg = reg or registry
    problems: list[str] = []
    for key in data:
        if key not in _TOP_KEYS:
            problems.append(f"unknown top-level key {key!r}; expected [[strategy]] tables")
    _import_modules(data.get("modules", []), reg, search_path, problems)
    entries = data.get("strategy", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        problems.append("'strategy' must be an array of tables: write each as [[strategy]]")
        entries = []
    specs: list[StrategySpec] = []
    first_use: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        name = entry.get("name")
        label = f"strategy #{number}" + (f" {name!r}" if isinstance(name, str) else "")
        if isinstance(name, str) and name in first_use:
            problems.append(f"{label}: name is already used by strategy #{first_use[name]}")
        elif isinstance(name, str):
            first_use[name] = number
        spec = _parse_entry(entry, label, reg, search_path, problems)
        if spec is not None:
            specs.append(spec)
    if problems:
        raise StrategyConfigError(problems, source)
    return specs


def _import_modules(
    modules: Any, reg: Registry, search_path: Path | None, problems: list[str]
) -> None:
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        problems.append("'modules' must be a list of module names, e.g. ['my_package.strategies']")
        return
    for module in modules:
        try:
            reg.import_module(module, search_path=search_path)
        except StrategyConfigError as exc:
            problems.extend(f"modules: {line}" for line in exc.problems)


def _parse_entry(
    entry: Mapping[str, Any],
    label: str,
    reg: Registry,
    search_path: Path | None,
    problems: list[str],
) -> StrategySpec | None:
    before = len(problems)
    for key in entry:
        if key not in _ENTRY_KEYS:
            problems.append(f"{label}: unknown key {key!r}; expected {', '.join(_ENTRY_KEYS)}")
    name = entry.get("name")
    if name is None:
        problems.append(f"{label}: name is required (a unique instance name, e.g. 'sma_aapl')")
    elif not isinstance(name, str) or not _INSTANCE_RE.match(name):
        problems.append(
            f"{label}: name must be 1-64 letters, digits, '_', '.' or '-', got {name!r}"
        )
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(f"{label}: enabled must be true or false, got {enabled!r}")
    params = entry.get("params", {})
    if not isinstance(params, dict):
        problems.append(f"{label}: params must be a table: write [strategy.params] under it")
        params = None
    kind = entry.get("kind")
    cls: StrategyClass | None = None
    if kind is None:
        known = ", ".join(reg.known())
        problems.append(f"{label}: kind is required; known kinds: {known}")
    elif not isinstance(kind, str):
        problems.append(f"{label}: kind must be text, got {kind!r}")
    else:
        try:
            cls = reg.resolve(kind, search_path=search_path)
        except StrategyConfigError as exc:
            problems.extend(f"{label}: {line}" for line in exc.problems)
    if cls is None or params is None:
        return None
    try:
        validated = cls.Params.model_validate(params)
    except ValidationError as exc:
        problems.extend(f"{label}: {line}" for line in describe_errors(exc, cls.Params))
        return None
    if len(problems) > before:
        return None
    assert isinstance(name, str)
    assert isinstance(kind, str)
    return StrategySpec(name=name, kind=kind, cls=cls, params=validated, enabled=enabled)


def describe_errors(exc: ValidationError, model: type[BaseModel]) -> list[str]:
    """A pydantic error as lines a person can act on: ``params.<field>: <what is wrong>
    (got <value>); expected <what the field takes>``."""
    lines: list[str] = []
    fields = model.model_fields
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        where = "params" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
        )
        field = fields.get(loc[0]) if loc else None
        expected = f"; expected {_expected(field)}" if field is not None else ""
        kind = error["type"]
        if kind == "extra_forbidden":
            lines.append(f"{where}: unknown parameter; {model.__name__} takes {', '.join(fields)}")
        elif kind == "missing":
            lines.append(f"{where}: required{expected}")
        else:
            # Tuples are how the models keep lists immutable; the file has lists.
            message = str(error["msg"]).removeprefix("Value error, ").replace("Tuple", "List")
            got = "" if not loc else f" (got {_short(error.get('input'))})"
            lines.append(f"{where}: {message}{got}{expected}")
    return lines


def _expected(field: FieldInfo) -> str:
    notes = [field.description] if field.description else []
    if not field.is_required() and field.default is not None:
        default = field.default
        shown = decimal_str(default) if isinstance(default, Decimal) else _short(default)
        notes.append(f"default {shown}")
    words = _type_words(field.annotation)
    return f"{words} ({'; '.join(notes)})" if notes else words


def _type_words(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type_words(args[0])
    if annotation in _TYPE_WORDS:
        return _TYPE_WORDS[annotation]
    if annotation is Decimal:
        return 'a number (text such as "1.5" is exact)'
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple):
        inner = _type_words(args[0]) if args else "values"
        return f"a list of {inner.removeprefix('an ').removeprefix('a ')}"
    if args and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return " or ".join(_type_words(a) for a in rest)
    return str(getattr(annotation, "__name__", annotation))


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
