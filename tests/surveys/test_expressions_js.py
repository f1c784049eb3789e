"""static/js/expressions.js gives the same results as surveys/expressions.py.

The portal applies skip logic in the browser with the JavaScript twin and the server checks it again
with the Python evaluator, so the two must agree: on which sources parse, on the value (type and XPath
string) and on `is_true`. One node process serves every case of this module over a line protocol.
"""

from __future__ import annotations

import ast
import itertools
import json
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surveys.definition import iter_items
from surveys.expressions import FUNCTIONS, MAX_DEPTH, ExpressionError, parse
from surveys.reference import REFERENCE_DIR
from surveys.services import definition_from_upload

ROOT = Path(__file__).resolve().parents[2]
EXPRESSIONS_JS = ROOT / "static" / "js" / "expressions.js"
NODE = shutil.which("node")

# Reads one JSON case per line, answers one JSON result per line. Decimals travel as {"$dec": text}.
HARNESS = r"""
const E = require(process.argv[1]);
const readline = require('readline');
const isDec = (v) => v && typeof v === 'object' && !Array.isArray(v) && '$dec' in v;
const decode = (v) => (isDec(v) ? E.decimal(v.$dec) : v);
const rl = readline.createInterface({input: process.stdin, crlfDelay: Infinity});
rl.on('line', (line) => {
  const c = JSON.parse(line);
  const values = {};
  for (const [k, v] of Object.entries(c.values || {})) values[k] = decode(v);
  const current = decode(c.current);
  let out;
  let expr;
  try {
    expr = E.parse(c.source);
  } catch (e) {
    const error = e.name === 'ExpressionError' ? 'ExpressionError' : String(e);
    out = {ok: false, stage: 'parse', error};
  }
  if (!out) {
    try {
      const value = expr.evaluate(values, current);
      out = {ok: true, type: E.typeOf(value), text: E.toText(value), true: expr.isTrue(values, current)};
    } catch (e) {
      const error = e.name === 'ExpressionError' ? 'ExpressionError' : String(e);
      out = {ok: false, stage: 'evaluate', error};
    }
  }
  process.stdout.write(JSON.stringify(out) + '\n');
});
"""

pytestmark = pytest.mark.skipif(
    NODE is None, reason="node is not installed: the JavaScript evaluator is not checked"
)


def xpath_string(value: object) -> str:
    """XPath string() of a Python evaluation result (what expressions.js `toText` returns)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    assert isinstance(value, Decimal)
    if value.is_nan():
        return "NaN"
    if value.is_infinite():
        return "-Infinity" if value.is_signed() else "Infinity"
    if value.is_zero():
        return "0"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def python_result(source: str, values: Mapping[str, object], current: object) -> dict[str, Any]:
    try:
        expr = parse(source)
    except ExpressionError:
        return {"ok": False, "stage": "parse", "error": "ExpressionError"}
    try:
        value = expr.evaluate(values, current)
    except ExpressionError:
        return {"ok": False, "stage": "evaluate", "error": "ExpressionError"}
    kind = {bool: "boolean", str: "string"}.get(type(value), "number")
    return {"ok": True, "type": kind, "text": xpath_string(value), "true": expr.is_true(values, current)}


def encode(value: object) -> object:
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int | Decimal):
        return {"$dec": str(value)}
    if isinstance(value, list | tuple):
        return list(value)
    raise TypeError(type(value))


class NodeEvaluator:
    def __init__(self) -> None:
        assert NODE is not None
        self.process = subprocess.Popen(
            [NODE, "-e", HARNESS, str(EXPRESSIONS_JS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )

    def run(self, cases: list[tuple[str, Mapping[str, object], object]]) -> list[dict[str, Any]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        payload = "".join(
            json.dumps(
                {"source": s, "values": {k: encode(v) for k, v in values.items()}, "current": encode(c)}
            )
            + "\n"
            for s, values, c in cases
        )
        self.process.stdin.write(payload)
        self.process.stdin.flush()
        results = []
        for _ in cases:
            line = self.process.stdout.readline()
            assert line, "node stopped answering"
            results.append(json.loads(line))
        return results

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def js() -> Iterator[NodeEvaluator]:
    evaluator = NodeEvaluator()
    yield evaluator
    evaluator.close()


def assert_same(js: NodeEvaluator, cases: list[tuple[str, Mapping[str, object], object]]) -> None:
    mismatches = []
    for case, got in zip(cases, js.run(cases), strict=True):
        expected = python_result(*case)
        if got != expected:
            mismatches.append(f"{case!r}: python {expected}, javascript {got}")
    assert not mismatches, f"{len(mismatches)} of {len(cases)} differ:\n" + "\n".join(mismatches[:20])


# --- the reference questionnaires ----------------------------------------------------------------


def reference_definition(label: str) -> dict[str, Any]:
    with (REFERENCE_DIR / f"netclean-{label}.xlsx").open("rb") as fh:
        return definition_from_upload(fileobj=fh, filename=fh.name)


def candidate_answers(item: Mapping[str, Any], lists: Mapping[str, list[dict[str, Any]]]) -> list[object]:
    codes = [c["code"] for c in lists.get(item.get("choice_list") or "", [])]
    kind = item["type"]
    if kind in {"select_one", "yes_no", "country"}:
        return [None, *codes[:6]]
    if kind == "select_multiple":
        return [None, [], codes[:1], codes[-1:], codes[:2], list(reversed(codes)), " ".join(codes[1:3])]
    if kind == "integer":
        return [None, 0, 1, 3000, 40000, 40001, -1, 100_000, 100_001, 1_000_000_000, 10_000_000_001, "12"]
    if kind == "decimal":
        return [None, Decimal("0"), Decimal("4.5"), Decimal("-0.1"), Decimal("10000.01"), Decimal("1E+5")]
    return [None, "", "some text", " 12 "]


def reference_cases() -> list[tuple[str, dict[str, object], object]]:
    cases: list[tuple[str, dict[str, object], object]] = []
    for label in ("2016", "2017"):
        definition = reference_definition(label)
        lists = definition["choice_lists"]
        items = {item["code"]: item for item, _ in iter_items(definition)}
        for item, groups in iter_items(definition):
            sources = [item["relevant"], item["constraint"], *(g.get("relevant", "") for g in groups)]
            for source in filter(None, sources):
                expr = parse(source)
                codes = sorted(expr.references)
                choices = [candidate_answers(items[code], lists) for code in codes]
                currents = candidate_answers(item, lists) if expr.uses_current else [None]
                for combination in itertools.product(*choices):
                    for current in currents:
                        cases.append((source, dict(zip(codes, combination, strict=True)), current))
    return cases


def test_every_reference_expression_gives_the_same_result_in_javascript(js: NodeEvaluator) -> None:
    cases = reference_cases()
    sources = {source for source, _, _ in cases}
    assert len(sources) >= 8 and len(cases) > 200  # both questionnaires, every expression, many answers
    assert_same(js, cases)


# --- every operator and function, with unanswered values -----------------------------------------

VALUES: dict[str, object] = {
    "empty": None,
    "blank": "",
    "yes": "yes",
    "text": "abc",
    "spaced": " 12 ",
    "numtext": "3",
    "multi": ["tools", "other"],
    "multitext": "  a  b\tc ",
    "none_chosen": [],
    "int": 40000,
    "zero": 0,
    "neg": -5,
    "dec": Decimal("4.50"),
    "tiny": Decimal("0.1"),
    "negzero": Decimal("-0"),
    "big": 10**60 + 1,
    "nan": Decimal("NaN"),
    "flag": True,
    "float": 0.1,
}

# fmt: off
FIXED = [
    # literals, references, current
    "1", "0", "-0", "007", "1.", ".5", "1.50", "'x'", '"y"', "''", "${empty}", "${text}", "${multi}", ".",
    "${missing_entirely}", "${int}", "${dec}", "${big}", "${nan}", "${flag}", "${float}", "${negzero}",
    # comparisons, including the unanswered value and NaN
    "${empty} = ''", "${empty} != ''", "${empty} = 0", "${empty} != 0", "${empty} < 1", "${empty} >= 0",
    "${blank} = ${empty}", "${text} = 'abc'", "${text} != 'abc'", "${text} > 1", "${spaced} = 12",
    "${numtext} = 3", "${numtext} = '3'", "${numtext} < 10", "'10' < '9'", "'abc' = 'ABC'",
    "${int} = 40000", "${int} = '40000'", "${int} >= 40000.0", "${dec} = 4.5", "${dec} = '4.5'",
    "${dec} = '4.50'", "${nan} = ${nan}", "${nan} != ${nan}", "${nan} < 1", "${flag} = 1", "${flag} = 'x'",
    "true() = 'false'", "false() = ''", "false() = 0", "true() != false()", "${negzero} = 0",
    "${big} > 1000000000000000000000000000000000000000000000000000000000000",
    "1 < 2 < 3", "3 > 2 > 1", "1 = 1 = 1", "'' < ''", "'' = ''",
    # arithmetic, division by zero, precision
    "1 + 2", "0.1 + 0.2 = 0.3", "0.1 + 0.2", "1 div 3", "2 div 3", "1 div 3 * 3 = 1", "10 div 4",
    "1 div 0", "-1 div 0", "0 div 0", "1 div -0", "1 div (0 - 0)", "1 div (-1 * 0)", "7 mod 3", "-7 mod 3",
    "7 mod -3", "7.5 mod 2", "1 mod 0", "${int} div ${zero}", "${big} * ${big}", "${big} + 1",
    "${big} div 7", "${big} mod 7", "100000000000000000000000000000000000000000000000000000 mod 3",
    # 51 nines: the integer quotient needs more than 50 digits, so mod is NaN
    f"{10**51 - 1} mod 2", f"{10**50 - 1} mod 2",
    # rounding to 50 digits: exact halves go to the even digit; a remainder breaks the tie upwards
    f"{12345678901234567890123456789012345678901234567890} + 0.5",
    f"{12345678901234567890123456789012345678901234567891} + 0.5",
    f"{12345678901234567890123456789012345678901234567890} + 0.50001",
    f"{199 * 10**49 + 100} div 199",
    "1 div 8 * 0.000000000000000000000000000000000000000000000000001",
    "1 div 3 * 0.00000000000000000000000000000000000000000000000000000000001",
    "${empty} + 1", "${text} * 2", "${spaced} + 1", "${flag} + ${flag}", "-${text}", "--1", "- - 2",
    "2 * -3", "2 - -3", "2 -3", "5 - 2 - 1", "2 * 3 + 4", "2 + 3 * 4", "(2 + 3) * 4", "1 - 0.9",
    "0.3 - 0.1 - 0.2", "123456789.123456789 * 987654321.987654321", "1 div 7 * 7", "${float} + 0.2",
    "${tiny} * 3 = 0.3", "99999999999999999999999999999999999999999999999999 + 1", "-(1 div 0)",
    # boolean logic and short-circuiting
    "true() and false()", "true() or false()", "${empty} or ${text}", "${empty} and 1 div 0",
    "${text} or regex(., concat('(', ''))", "regex('x', concat('(', ''))",
    "not(${empty})", "not(${multi})", "not(0)", "not('0')", "not(${nan})",
    "1 and 2 and 0", "0 or '' or ${none_chosen}", "(1 or 0) and (0 or 1)", "1 or 0 and 0", "(1 or 0) or 0",
    # choice functions
    "selected(${multi}, 'other')", "selected(${multi}, ' other ')", "selected(${multi}, 'oth')",
    "selected(${empty}, 'other')", "selected(${multitext}, 'b')", "selected(${yes}, 'yes')",
    "selected(${none_chosen}, '')", "selected(${multi}, '')", "count-selected(${multi})",
    "count-selected(${empty})", "count-selected(${multitext})", "count-selected(${none_chosen})",
    "count-selected(${int})", "count-selected(${multi}) >= 2",
    # string functions
    "string-length(${text})", "string-length(${empty})", "string-length()", "string-length('héllo')",
    "string-length('😀')", "string-length(${dec})", "string(${dec})", "string(${int})", "string(1 div 0)",
    "string(0 div 0)", "string(${flag})", "string()", "string(-0.0)", "string(1.10)", "string(${big})",
    "number('  12.50 ')", "number('1e3')", "number('')", "number('-.5')", "number('+1')", "number('- 1')",
    "number(${flag})", "number()", "number(${multi})", "concat()", "concat('a')", "concat('a', 1, true())",
    "concat(${empty}, ${multi}, ${dec})", "concat(1 div 3, '')",
    # if, coalesce
    "if(${empty}, 'a', 'b')", "if(${text}, 'a', 'b')", "if(1, 2, 1 div 0)", "if(0, 1 div 0, 'x')",
    "coalesce(${empty}, 'x')", "coalesce(${text}, 'x')", "coalesce(${empty}, ${blank})", "coalesce(0, 1)",
    "coalesce(${none_chosen}, 'none')",
    # int and round
    "int(3.7)", "int(-3.7)", "int(${empty})", "int('12.9')", "int(1 div 0)", "int(${big} div 3)",
    "round(2.5)", "round(-2.5)", "round(3.5)", "round(2.4999)", "round(1.2345, 2)", "round(1.235, 2)",
    "round(-1.235, 2)", "round(1234.5, -2)", "round(1250, -2)", "round(49, -2)", "round(50, -2)",
    "round(0.0004, 2)", "round(9.995, 2)", "round(${dec}, 1)", "round(${empty})", "round(1.5, ${empty})",
    "round(1.5, 1 div 0)", "round(1.5, -1 div 0)", "round(1 div 0)", "round(2.567, 1.9)", "round(5, 2)",
    "round(0.00, 1)", "round(-0.4)",
    # regular expressions
    "regex(${text}, '^[a-z]+$')", "regex(${empty}, '^$')", "regex(${spaced}, '^\\s*\\d+\\s*$')",
    "regex('abc\n', 'c$')", "regex('ab', '^a.b$')", "regex('a\nb', 'a.b')", "regex('AbC', '(?i)abc')",
    "regex('x-1', '^[a-z]-\\d$')", "regex('2017', '^(19|20)\\d{2}$')", "regex('aaa', 'a{2,}')",
    "regex('a{', 'a{')", "regex('ab', 'a{,1}b')", "regex('naïve', '^\\w+$')", "regex('٣', '^\\d$')",
    "regex('x y', '\\bx\\b')", "regex('éx', '\\bx')", "regex('abab', '(?P<p>ab)(?P=p)')",
    "regex('a]', 'a]')", "regex('a]', '[]a]+')", "regex('tab\there', '\\t')", "regex('A1', '\\AA1\\Z')",
    "regex('x', concat('[', 'x', ']'))", "regex(${multi}, 'other')",
]
# fmt: on


def fixed_cases() -> list[tuple[str, dict[str, object], object]]:
    cases: list[tuple[str, dict[str, object], object]] = []
    for source in FIXED:
        for current in (None, "", "abc", 5, Decimal("2.5"), ["a", "b"]):
            cases.append((source, VALUES, current))
    return cases


def test_every_operator_and_function_gives_the_same_result_in_javascript(js: NodeEvaluator) -> None:
    cases = fixed_cases()
    assert all(python_parses(s) for s in FIXED), "the fixed corpus should all parse"
    used = {name for source in FIXED for name in FUNCTIONS if f"{name}(" in source}
    assert used == set(FUNCTIONS)
    assert_same(js, cases)


# --- which sources parse -------------------------------------------------------------------------

# fmt: off
INVALID = [
    "", "   ", "yes", "${a} = yes", "${a} =", "= 1", "1 +", "(1", "1)", "()", "f()", "selected(${a})",
    "true(1)", "concat", "not 1", "${}", "${a b}", "${1a}", "${a", "'abc", '"abc', "1 2", "1..2", "1.2.3",
    "${a} == 1", "${a} <> 1", "a-b(1)", "and", "1 and", "or 1", "1 div", "div 2", "mod(1)", "-", "1 -",
    "regex(., '(')", "regex(., '[a')", "round()", "round(1, 2, 3)", "if(1, 2)", "coalesce(1)", "int()",
    "count-selected()", "selected(1, 2, 3)", "1 # 2", "1 = 1 ;", "${a} = 'x' )", "NOT(1)", "True()",
    "1\u00a0+ 1", "\u20281", ".5.", "..", ". .", "$", "{a}", "1 = = 1",
    "(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH, "-" * (MAX_DEPTH + 1) + "1", "1" + " + 1" * MAX_DEPTH,
    "x" * 2001,
]
VALID_EDGES = [
    "(" * (MAX_DEPTH - 1) + "1" + ")" * (MAX_DEPTH - 1), "-" * (MAX_DEPTH - 1) + "1",
    "1" + " + 1" * (MAX_DEPTH - 2), " or ".join(["1"] * 400), "((1 or 0)) or (0 or (1 or 0))",
    "\t${a}\r\n=\n'x' ", "1.", ".5", "selected (${a}, 'b')", "not  (1)", "string-length ( )",
]
# fmt: on


def python_parses(source: str) -> bool:
    try:
        parse(source)
    except ExpressionError:
        return False
    return True


def test_invalid_sources_are_refused_in_javascript_too(js: NodeEvaluator) -> None:
    assert not any(python_parses(s) for s in INVALID)
    assert all(python_parses(s) for s in VALID_EDGES)
    results = js.run([(s, {}, None) for s in INVALID + VALID_EDGES])
    accepted = {
        s: r["ok"] or r["stage"] != "parse" for s, r in zip(INVALID + VALID_EDGES, results, strict=True)
    }
    assert [s for s in INVALID if accepted[s]] == []
    assert [s for s in VALID_EDGES if not accepted[s]] == []


def strings_in_python_tests() -> list[str]:
    """Every string constant of tests/surveys/test_expressions.py: hundreds of edge cases, good and bad."""
    tree = ast.parse((ROOT / "tests" / "surveys" / "test_expressions.py").read_text(encoding="utf-8"))
    found = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) <= 2000
    }
    return sorted(found)


def test_the_python_test_suite_strings_parse_and_evaluate_alike(js: NodeEvaluator) -> None:
    sources = strings_in_python_tests()
    assert len(sources) > 100
    values = {"a": "yes", "b": ["x", "other"], "n": 7, "workload_change": "increased", "x": Decimal("0.5")}
    assert_same(js, [(s, values, current) for s in sources for current in (None, 3)])


# --- generated expressions ------------------------------------------------------------------------

CODES = ["a", "b", "c", "d"]
ANSWERS = st.one_of(
    st.none(),
    st.sampled_from(
        ["", "yes", "no", "other", "x other", " 12 ", "3", "-0", "0.1", "2.50", "NaN", "abc", "1e3"]
    ),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**6), max_value=10**6),
    st.sampled_from([Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("-0")]),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.lists(st.sampled_from(["x", "y", "other", "20_30"]), max_size=3),
    st.booleans(),
)
NUMBERS = st.sampled_from(["0", "1", "2", "3", "10", "0.1", "2.5", ".5", "1.", "007", "100000", "1000000000"])
STRINGS = st.sampled_from(["''", "'yes'", "'other'", "' 3 '", "'abc'", '"x y"', "'-2'", "'1.50'", "'NaN'"])
PATTERNS = st.sampled_from(
    ["'^$'", "'^[a-z]+$'", "'\\d'", "'^-?\\d+(\\.\\d+)?$'", "'other'", "'^\\s*$'", "'s$'"]
)
LEAVES = st.one_of(
    NUMBERS,
    STRINGS,
    st.sampled_from([f"${{{c}}}" for c in CODES]),
    st.just("."),
    st.sampled_from(["true()", "false()", "string()", "number()", "string-length()", "concat()"]),
)
BINARY_OPS = ["=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "div", "mod", "and", "or"]


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, st.sampled_from(BINARY_OPS), children).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        children.map(lambda s: f"({s})"),
        children.map(lambda s: f"-{s}"),
        st.tuples(children, STRINGS).map(lambda t: f"selected({t[0]}, {t[1]})"),
        st.sampled_from(
            ["count-selected", "string-length", "number", "string", "not", "int", "round"]
        ).flatmap(lambda name: children.map(lambda s: f"{name}({s})")),
        st.tuples(children, children).map(lambda t: f"round({t[0]}, {t[1]})"),
        st.tuples(children, children, children).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
        st.tuples(children, children).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
        st.lists(children, max_size=3).map(lambda xs: f"concat({', '.join(xs)})"),
        st.tuples(children, PATTERNS).map(lambda t: f"regex({t[0]}, {t[1]})"),
    )


EXPRESSIONS = st.recursive(LEAVES, _extend, max_leaves=12)


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=EXPRESSIONS,
    values=st.fixed_dictionaries(dict.fromkeys(CODES, ANSWERS)),
    current=ANSWERS,
)
def test_generated_expressions_give_the_same_result_in_javascript(
    js: NodeEvaluator, source: str, values: dict[str, object], current: object
) -> None:
    assert_same(js, [(source, values, current)])


# fmt: off
TOKENS = [
    "${a}", "${b}", ".", "1", "2.5", ".5", "'x'", '"y"', "(", ")", ",", "=", "!=", "<", "<=", ">", ">=", "+",
    "-", "*", " div ", " mod ", " and ", " or ", "and", "or", "div", "selected(", "not(", "if(", "true()",
    "count-selected(", "concat(", "round(", "foo(", "yes", " ", "$", "{", "}", "'", "${", "a-b", "_x",
]
# fmt: on


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map("".join))
def test_javascript_accepts_exactly_the_sources_python_accepts(js: NodeEvaluator, source: str) -> None:
    (got,) = js.run([(source, {"a": "x", "b": ["y"]}, "1")])
    assert (got["ok"] or got["stage"] != "parse") == python_parses(source), source
