"""The strategies file: parsing, defaults, and every error message."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from pulsetrader.domain import ConfigError
from pulsetrader.sim.assets import DEFAULT_SYMBOLS
from pulsetrader.strategy import (
    CryptoBreakout,
    RsiMeanReversion,
    SmaCrossover,
    StrategyConfigError,
    load_strategies,
)
from pulsetrader.strategy.config import StrategySpec
from pulsetrader.strategy.examples import STRATEGIES_TOML

EXAMPLE = STRATEGIES_TOML


def write(tmp_path: Path, text: str, name: str = "strategies.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(StrategyConfigError) as caught:
        load_strategies(write(tmp_path, text))
    return caught.value.problems


def one_problem(tmp_path: Path, text: str) -> str:
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    return found[0]


SMA_ENTRY = """
[[strategy]]
name = "sma_aapl"
kind = "sma_crossover"
[strategy.params]
symbols = ["aapl", "MSFT", "AAPL"]
fast = 5
slow = 20
qty = "2.5"
"""


def test_an_entry_is_validated_into_a_spec_with_its_class_and_params(tmp_path: Path) -> None:
    (spec,) = load_strategies(write(tmp_path, SMA_ENTRY))
    assert isinstance(spec, StrategySpec)
    assert (spec.name, spec.kind, spec.cls, spec.enabled) == (
        "sma_aapl",
        "sma_crossover",
        SmaCrossover,
        True,
    )
    assert spec.params.symbols == ("AAPL", "MSFT")  # normalised and de-duplicated
    assert spec.params.qty == Decimal("2.5")
    strategy = spec.build()
    assert isinstance(strategy, SmaCrossover)
    assert strategy.params.fast == 5
    assert strategy.warmup_bars == 21


def test_defaults_fill_what_the_file_leaves_out(tmp_path: Path) -> None:
    (spec,) = load_strategies(
        write(
            tmp_path,
            """
            [[strategy]]
            name = "rsi"
            kind = "rsi_mean_reversion"
            enabled = false
            params = { symbols = ["SPY"] }
            """,
        )
    )
    assert spec.enabled is False
    p = spec.params
    assert (p.timeframe, p.qty, p.notional) == ("1Min", Decimal(1), None)
    assert spec.cls is RsiMeanReversion


def test_a_float_amount_is_taken_by_its_text(tmp_path: Path) -> None:
    (spec,) = load_strategies(
        write(
            tmp_path,
            """
            [[strategy]]
            name = "btc"
            kind = "crypto_breakout"
            params = { symbols = ["BTCUSD"], qty = 0.1 }
            """,
        )
    )
    assert spec.params.qty == Decimal("0.1")
    assert spec.params.notional is None  # the given qty replaces the default notional
    assert spec.params.symbols == ("BTC/USD",)


def test_notional_replaces_a_default_qty_but_both_given_is_refused(tmp_path: Path) -> None:
    (spec,) = load_strategies(
        write(
            tmp_path,
            """
            [[strategy]]
            name = "sma"
            kind = "sma_crossover"
            params = { symbols = ["SPY"], notional = "500" }
            """,
        )
    )
    assert (spec.params.qty, spec.params.notional) == (None, Decimal(500))
    message = one_problem(
        tmp_path,
        """
        [[strategy]]
        name = "sma"
        kind = "sma_crossover"
        params = { symbols = ["SPY"], notional = "500", qty = "1" }
        """,
    )
    assert message == "strategy #1 'sma': params: give qty or notional, not both"


def test_an_empty_file_has_no_strategies(tmp_path: Path) -> None:
    assert load_strategies(write(tmp_path, "")) == []


def test_the_error_names_the_file_and_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[[strategy]]\nname = 'x'\n")
    with pytest.raises(ConfigError) as caught:
        load_strategies(path)
    assert str(path) in str(caught.value)
    assert "strategy #1 'x': kind is required" in str(caught.value)


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(StrategyConfigError) as caught:
        load_strategies(tmp_path / "nope.toml")
    assert caught.value.problems == ["file not found"]
    assert "nope.toml" in str(caught.value)


def test_invalid_toml_says_where(tmp_path: Path) -> None:
    (message,) = problems(tmp_path, "[[strategy]]\nname = \n")
    assert message.startswith("not valid TOML: ")
    assert "line 2" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("strategies = []", "unknown top-level key 'strategies'; expected [[strategy]] tables"),
        (
            "[strategy]\nname = 'a'",
            "'strategy' must be an array of tables: write each as [[strategy]]",
        ),
        (
            "modules = 'x'",
            "'modules' must be a list of module names, e.g. ['my_package.strategies']",
        ),
        (
            "modules = ['no_such_module_xyz']",
            "modules: cannot import module 'no_such_module_xyz': "
            "ModuleNotFoundError: No module named 'no_such_module_xyz'",
        ),
        (
            "[[strategy]]\nkind = 'sma_crossover'\nparams = {symbols = ['SPY']}",
            "strategy #1: name is required (a unique instance name, e.g. 'sma_aapl')",
        ),
        (
            "[[strategy]]\nname = 'has space'\nkind = 'sma_crossover'\nparams = {symbols = ['A']}",
            "strategy #1 'has space': name must be 1-64 letters, digits, '_', '.' or '-', "
            "got 'has space'",
        ),
        (
            "[[strategy]]\nname = 'a'\nkind = 'sma_crossover'\nenabled = 'yes'\n"
            "params = {symbols = ['SPY']}",
            "strategy #1 'a': enabled must be true or false, got 'yes'",
        ),
        (
            "[[strategy]]\nname = 'a'\nkind = 'sma_crossover'\nparams = 3",
            "strategy #1 'a': params must be a table: write [strategy.params] under it",
        ),
        (
            "[[strategy]]\nname = 'a'\nkind = 'sma_crossover'\nparms = {}\n"
            "params = {symbols = ['SPY']}",
            "strategy #1 'a': unknown key 'parms'; expected name, kind, enabled, params",
        ),
        (
            "[[strategy]]\nname = 'a'\nparams = {symbols = ['SPY']}",
            "strategy #1 'a': kind is required; known kinds: "
            "crypto_breakout, rsi_mean_reversion, sma_crossover",
        ),
        (
            "[[strategy]]\nname = 'a'\nkind = 3\nparams = {symbols = ['SPY']}",
            "strategy #1 'a': kind must be text, got 3",
        ),
        (
            "[[strategy]]\nname = 'a'\nkind = 'sma_crosover'",
            "strategy #1 'a': unknown kind 'sma_crosover' (did you mean 'sma_crossover'?); "
            "known kinds: crypto_breakout, rsi_mean_reversion, sma_crossover, "
            "or 'package.module:ClassName' for your own strategy",
        ),
        (
            "[[strategy]]\nname = 'a'\nkind = 'my_pkg.nope:Thing'",
            "strategy #1 'a': cannot import module 'my_pkg.nope': "
            "ModuleNotFoundError: No module named 'my_pkg'",
        ),
        (
            "[[strategy]]\nname = 'a'\nkind = 'a:b:c'",
            "strategy #1 'a': kind 'a:b:c' is not 'package.module:ClassName' "
            "(one colon, Python names)",
        ),
    ],
)
def test_each_structural_problem_has_its_own_message(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert one_problem(tmp_path, text) == expected


def params_problem(tmp_path: Path, kind: str, params: str) -> str:
    return one_problem(
        tmp_path, f"[[strategy]]\nname = 's'\nkind = '{kind}'\n[strategy.params]\n{params}\n"
    )


@pytest.mark.parametrize(
    ("kind", "params", "expected"),
    [
        (
            "sma_crossover",
            "fast = 3",
            "params.symbols: required; expected a list of text "
            "(the symbols to trade, e.g. AAPL or BTC/USD)",
        ),
        (
            "sma_crossover",
            "symbols = ['SPY']\nfastt = 3",
            "params.fastt: unknown parameter; SmaCrossoverParams takes "
            "symbols, timeframe, qty, notional, fast, slow",
        ),
        (
            "sma_crossover",
            "symbols = ['SPY']\nfast = 'ten'",
            "params.fast: Input should be a valid integer, unable to parse string as an integer "
            "(got 'ten'); expected an integer (fast SMA period, in bars; default 10)",
        ),
        (
            "sma_crossover",
            "symbols = ['SPY', 'not a symbol']",
            "params.symbols[1]: invalid symbol 'not a symbol': expected a ticker such as AAPL "
            "or BRK.B, or a crypto pair such as BTC/USD (got 'not a symbol'); expected a list "
            "of text (the symbols to trade, e.g. AAPL or BTC/USD)",
        ),
        (
            "sma_crossover",
            "symbols = []",
            "params.symbols: List should have at least 1 item after validation, not 0 (got []); "
            "expected a list of text (the symbols to trade, e.g. AAPL or BTC/USD)",
        ),
        (
            "sma_crossover",
            "symbols = ['SPY']\ntimeframe = '1Day'",
            "params.timeframe: 1Day is not supported: live bars are built from minute bars, so "
            "use minutes or hours (1Min-59Min, 1Hour-23Hour) (got '1Day'); expected text "
            "(bar size: 1Min-59Min or 1Hour-23Hour; default '1Min')",
        ),
        (
            "sma_crossover",
            "symbols = ['SPY']\ntimeframe = '5 minutes'",
            "params.timeframe: invalid timeframe '5 minutes': expected a number followed by Min, "
            "Hour, Day, Week or Month, such as 5Min or 1Day (got '5 minutes'); expected text "
            "(bar size: 1Min-59Min or 1Hour-23Hour; default '1Min')",
        ),
        (
            "sma_crossover",
            "symbols = ['SPY']\nqty = '-1'",
            "params.qty: Input should be greater than 0 (got '-1'); expected a number (text such "
            'as "1.5" is exact) (shares per entry; one of qty and notional; default 1)',
        ),
        (
            "sma_crossover",
            "symbols = ['SPY']\nqty = true",
            "params.qty: expected a number, not true/false (got True); expected a number (text "
            'such as "1.5" is exact) (shares per entry; one of qty and notional; default 1)',
        ),
        (
            "sma_crossover",
            "symbols = ['SPY']\nfast = 30\nslow = 10",
            "params: fast (30) must be below slow (10)",
        ),
        (
            "rsi_mean_reversion",
            "symbols = ['SPY']\noversold = 60",
            "params: oversold (60) must be below exit_level (50)",
        ),
        (
            "crypto_breakout",
            "symbols = ['BTC/USD', 'AAPL']",
            "params.symbols: crypto pairs only, such as BTC/USD; not AAPL (got ['BTC/USD', "
            "'AAPL']); expected a list of text (the symbols to trade, e.g. AAPL or BTC/USD)",
        ),
    ],
)
def test_parameter_errors_name_the_field_and_what_is_expected(
    tmp_path: Path, kind: str, params: str, expected: str
) -> None:
    assert params_problem(tmp_path, kind, params) == f"strategy #1 's': {expected}"


def test_duplicate_names_are_refused_naming_the_first_use(tmp_path: Path) -> None:
    text = SMA_ENTRY + SMA_ENTRY.replace("sma_crossover", "rsi_mean_reversion").replace(
        "fast = 5\nslow = 20\n", ""
    )
    assert (
        one_problem(tmp_path, text) == "strategy #2 'sma_aapl': name is already used by strategy #1"
    )


def test_every_problem_in_the_file_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [[strategy]]
        name = "a"
        kind = "nope"

        [[strategy]]
        name = "b"
        kind = "sma_crossover"
        [strategy.params]
        symbols = ["SPY"]
        fast = "x"
        slow = "y"

        [[strategy]]
        name = "c"
        kind = "crypto_breakout"
        enabled = false
        [strategy.params]
        symbols = ["SPY"]
        """,
    )
    assert [line.split(":")[0] for line in found] == [
        "strategy #1 'a'",
        "strategy #2 'b'",
        "strategy #2 'b'",
        "strategy #3 'c'",  # disabled entries are validated too
    ]


def test_the_example_file_runs_the_three_built_ins_on_the_simulators_symbols() -> None:
    specs = load_strategies(EXAMPLE)
    enabled = [s for s in specs if s.enabled]
    assert {s.cls for s in enabled} == {SmaCrossover, RsiMeanReversion, CryptoBreakout}
    symbols = [sym for s in enabled for sym in s.params.symbols]
    assert set(symbols) <= set(DEFAULT_SYMBOLS)
    assert len(symbols) == len(set(symbols))  # one strategy per symbol
    crypto = next(s for s in enabled if s.cls is CryptoBreakout)
    assert all("/" in sym for sym in crypto.params.symbols)
