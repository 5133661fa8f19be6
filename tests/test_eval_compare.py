"""The eval comparator: values decide, names and column order never do; order only for top-N."""

from __future__ import annotations

from datetime import date, datetime

from evals.compare import compare_results, is_ordered


def test_column_names_and_order_are_ignored() -> None:
    result = compare_results([[1, "a"], [2, "b"]], [["b", 2], ["a", 1]])
    assert (result.strict, result.relaxed, result.reasons) == (True, True, [])


def test_row_order_counts_only_when_asked() -> None:
    gold, agent = [[1, "a"], [2, "b"]], [[2, "b"], [1, "a"]]
    assert compare_results(gold, agent).strict
    ordered = compare_results(gold, agent, ordered=True)
    assert not ordered.strict and ordered.reasons == ["ROW_ORDER"]


def test_order_by_with_limit_means_ordered() -> None:
    assert is_ordered("SELECT a FROM t ORDER BY a DESC LIMIT 3")
    assert not is_ordered("SELECT a FROM t ORDER BY a")
    assert not is_ordered("SELECT a FROM t LIMIT 3")
    assert not is_ordered("SELECT a FROM (SELECT a FROM t ORDER BY a LIMIT 3)")


def test_duplicates_count() -> None:
    result = compare_results([[1], [1], [2]], [[1], [2], [2]])
    assert not result.relaxed and result.reasons == ["SINGLE_CELL_DIFFERENCE"]
    assert compare_results([[1], [1]], [[1]]).reasons == ["RESULT_MISSING_ROWS"]
    assert compare_results([[1]], [[1], [1]]).reasons == ["RESULT_EXTRA_ROWS"]


def test_relative_tolerance() -> None:
    assert compare_results([[1000.0]], [[1000.0005]]).strict  # 5e-7 relative
    assert not compare_results([[1000.0]], [[1000.01]]).strict
    assert compare_results([[3]], [[3.0]]).strict  # int and float alike
    assert compare_results([[0.0]], [[1e-12]]).strict


def test_extra_columns_are_relaxed_only() -> None:
    result = compare_results([["a", 1]], [["a", 1, 99]])
    assert (result.strict, result.relaxed, result.reasons) == (
        False,
        True,
        ["RESULT_EXTRA_COLUMNS"],
    )


def test_nulls_equal_nulls() -> None:
    assert compare_results([[None, 1]], [[1, None]]).strict
    assert compare_results([[float("nan")]], [[None]]).strict
    assert not compare_results([[None]], [[0]]).strict


def test_dates_and_iso_strings() -> None:
    gold = [[date(2025, 8, 25), 1.0], [datetime(2025, 9, 1), 2.0]]
    assert compare_results(gold, [["2025-08-25", 1], ["2025-09-01", 2]]).strict
    assert not compare_results(gold, [["2025-08-26", 1], ["2025-09-01", 2]]).strict


def test_empty_result() -> None:
    assert compare_results([[1]], []).reasons == ["EMPTY_RESULT"]
    assert compare_results([], [], gold_width=1, agent_width=1).strict


def test_missing_column() -> None:
    result = compare_results([["a", 1], ["b", 2]], [["a"], ["b"]])
    assert not result.relaxed and "RESULT_MISSING_COLUMNS" in result.reasons


def test_single_cell_difference() -> None:
    gold = [["a", 1.0], ["b", 2.0], ["c", 3.0]]
    result = compare_results(gold, [["a", 1.0], ["b", 2.5], ["c", 3.0]])
    assert result.reasons == ["SINGLE_CELL_DIFFERENCE"]
    assert compare_results([[5]], [[6]]).reasons == ["SINGLE_CELL_DIFFERENCE"]


def test_several_differences_name_missing_and_extra_rows() -> None:
    result = compare_results([["a", 1], ["b", 2]], [["c", 7], ["d", 8]])
    assert result.reasons == ["RESULT_MISSING_ROWS", "RESULT_EXTRA_ROWS"]
