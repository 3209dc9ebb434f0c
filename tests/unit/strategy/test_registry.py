"""The registry: built-ins, registration rules, and users' own strategy modules."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pulsetrader.strategy import (
    CryptoBreakout,
    Registry,
    RsiMeanReversion,
    SmaCrossover,
    Strategy,
    StrategyConfigError,
    StrategyParams,
    get,
    known,
    load_strategies,
    resolve,
)

USER_MODULE = """
from pulsetrader.strategy import Strategy, StrategyParams, register

class BandParams(StrategyParams):
    width: int = 3

class Band(Strategy[BandParams]):
    name = "band"
    Params = BandParams

@register
class Registered(Strategy[StrategyParams]):
    name = "user_registered_kind"

NOT_A_STRATEGY = 42
"""


@pytest.fixture
def user_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder with user modules; the modules it imports are forgotten afterwards."""
    folder = tmp_path / "user_code"
    folder.mkdir()
    (folder / "user_strats.py").write_text(textwrap.dedent(USER_MODULE), encoding="utf-8")
    (folder / "broken_strats.py").write_text("raise RuntimeError('boom at import')\n")
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:
        if name.split(".")[0] in {"user_strats", "broken_strats"}:
            del sys.modules[name]
    from pulsetrader.strategy import registry

    registry.unregister("user_registered_kind")


def test_the_built_ins_are_known_by_their_names() -> None:
    assert known() == {
        "crypto_breakout": CryptoBreakout,
        "rsi_mean_reversion": RsiMeanReversion,
        "sma_crossover": SmaCrossover,
    }
    assert get("sma_crossover") is SmaCrossover
    assert resolve("rsi_mean_reversion") is RsiMeanReversion


def test_a_fresh_registry_loads_the_built_ins_on_first_lookup_unless_told_not_to() -> None:
    assert set(Registry().known()) == {"crypto_breakout", "rsi_mean_reversion", "sma_crossover"}
    assert Registry(builtins=False).known() == {}


def test_an_unknown_kind_lists_the_known_ones_and_the_closest() -> None:
    with pytest.raises(StrategyConfigError) as caught:
        get("rsi_mean_reverson")
    (message,) = caught.value.problems
    assert "unknown kind 'rsi_mean_reverson' (did you mean 'rsi_mean_reversion'?)" in message
    assert "crypto_breakout, rsi_mean_reversion, sma_crossover" in message


def test_register_refuses_what_is_not_a_strategy_or_has_no_valid_name() -> None:
    reg = Registry(builtins=False)
    with pytest.raises(TypeError, match="is not a Strategy subclass"):
        reg.register(int)  # type: ignore[type-var]

    class Nameless(Strategy[StrategyParams]):
        pass

    with pytest.raises(TypeError, match="must be lower_snake_case"):
        reg.register(Nameless)

    class Shouting(Strategy[StrategyParams]):
        name = "Shouting-Name"

    with pytest.raises(TypeError, match="must be lower_snake_case"):
        reg.register(Shouting)


def test_a_name_taken_by_another_class_is_refused_but_the_same_class_may_re_register() -> None:
    reg = Registry(builtins=False)

    class First(Strategy[StrategyParams]):
        name = "mine"

    class Second(Strategy[StrategyParams]):
        name = "mine"

    assert reg.register(First) is First
    assert reg.register(First) is First
    with pytest.raises(ValueError, match="strategy name 'mine' is taken by"):
        reg.register(Second)
    reg.unregister("mine")
    assert reg.register(Second) is Second


def test_params_that_are_not_strategy_params_are_refused_when_the_class_is_made() -> None:
    with pytest.raises(TypeError, match="Params must subclass StrategyParams"):

        class Bad(Strategy[StrategyParams]):
            Params = dict  # type: ignore[assignment]


def test_a_user_class_is_imported_by_module_and_class_name(
    user_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(user_dir))
    cls = resolve("user_strats:Band")
    assert cls.__name__ == "Band"
    assert issubclass(cls, Strategy)
    strategy = cls.configure(symbols=["SPY"], width=5)
    assert strategy.params.width == 5


def test_a_module_next_to_the_strategies_file_is_found_without_sys_path(user_dir: Path) -> None:
    path = user_dir / "strategies.toml"
    path.write_text(
        textwrap.dedent(
            """
            [[strategy]]
            name = "mine"
            kind = "user_strats:Band"
            params = { symbols = ["SPY"], width = 7 }
            """
        )
    )
    (spec,) = load_strategies(path)
    assert spec.cls.__name__ == "Band"
    assert spec.params.width == 7  # type: ignore[attr-defined]
    assert str(user_dir) not in sys.path


def test_modules_listed_in_the_file_register_their_kinds(user_dir: Path) -> None:
    path = user_dir / "strategies.toml"
    path.write_text(
        textwrap.dedent(
            """
            modules = ["user_strats"]
            [[strategy]]
            name = "mine"
            kind = "user_registered_kind"
            params = { symbols = ["SPY"] }
            """
        )
    )
    (spec,) = load_strategies(path)
    assert spec.cls.__name__ == "Registered"


def test_a_user_module_that_fails_to_import_says_so_with_its_error(user_dir: Path) -> None:
    with pytest.raises(StrategyConfigError) as caught:
        resolve("broken_strats:Anything", search_path=user_dir)
    assert caught.value.problems == [
        "cannot import module 'broken_strats': RuntimeError: boom at import"
    ]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "user_strats:Missing",
            "module 'user_strats' has no 'Missing' (kind 'user_strats:Missing')",
        ),
        (
            "user_strats:NOT_A_STRATEGY",
            "'user_strats:NOT_A_STRATEGY' is not a Strategy subclass (it is int 42)",
        ),
        (
            "user_strats:StrategyParams",
            "'user_strats:StrategyParams' is not a Strategy subclass",
        ),
    ],
)
def test_a_user_kind_must_name_a_strategy_class(user_dir: Path, kind: str, expected: str) -> None:
    with pytest.raises(StrategyConfigError) as caught:
        resolve(kind, search_path=user_dir)
    assert caught.value.problems[0].startswith(expected)
