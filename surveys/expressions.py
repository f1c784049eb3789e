"""Evaluator for the XLSForm expression subset used by `relevant` and `constraint`.

See docs/questionnaire-format.md, section "Expressions". Semantics follow XPath 1.0 as ODK applies
it, with these decisions:

- Numbers are `decimal.Decimal` evaluated in a 50-digit context with every trap off, so integers and
  decimal literals compare exactly (`0.1 + 0.2 = 0.3` is true) and division by zero gives
  Infinity/NaN instead of raising. Float answers are converted through `repr` (0.1 stays 0.1).
  `div` rounds to 50 significant digits (`1 div 3 * 3 = 1` is false), and `mod` whose integer
  quotient would need more than 50 digits gives NaN.
- Text becomes a number only when it is XPath's `-?digits[.digits]` surrounded by whitespace;
  anything else ('' included) is NaN.
- `round(x[, digits])` rounds half away from zero (ODK's behaviour); `int(x)` truncates toward zero;
  both leave NaN and Infinity unchanged.
- `string-length()`, `string()` and `number()` without argument apply to `.`.
- `regex(s, pattern)` is `re.search` semantics, run by the `regex` package (mrab's engine, compatible
  with `re`), which avoids most catastrophic backtracking and gives up after REGEX_TIMEOUT_SECONDS
  (ExpressionError): an officer's answer must not hold a web process for minutes. A literal pattern
  is checked at parse time.
- `string-length` counts code points. There are no XPath paths: a bare word such as `yes` is a
  syntax error (it is nearly always a missing `${}` or quotes).
- Chains of `and` / `or` are flattened into one node; nesting depth counts operators, function
  calls and parentheses, and is limited to MAX_DEPTH so that evaluation never exhausts the stack.

The grammar (GRAMMAR) and the functions with their arity (FUNCTIONS) are module constants so that
a browser twin can be generated from, or checked against, the same definition.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, ROUND_HALF_UP, Context, Decimal
from types import MappingProxyType
from typing import Any, Final, TypeAlias, cast

import regex as regex_engine
from lark import Lark, Token, Transformer
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

__all__ = [
    "FUNCTIONS",
    "GRAMMAR",
    "MAX_DEPTH",
    "MAX_SOURCE_LENGTH",
    "REGEX_TIMEOUT_SECONDS",
    "Expression",
    "ExpressionError",
    "has_computed_regex_pattern",
    "numeric_bounds",
    "parse",
]

MAX_SOURCE_LENGTH: Final = 2000
# A pattern that still backtracks past this on one answer (e.g. ^(a|aa)+$) makes regex() an error.
REGEX_TIMEOUT_SECONDS: Final = 0.25
# Each operator, function call and pair of parentheses is one level; an and/or chain is one level.
MAX_DEPTH: Final = 100

# Lark grammar, LALR(1). Operator precedence from loosest to tightest: or, and, = !=,
# < <= > >=, + -, * div mod, unary minus. Binary operators are left-associative.
GRAMMAR: Final = r"""
?start: or_expr

?or_expr: and_expr
        | or_expr "or" and_expr                              -> logical
?and_expr: equality
         | and_expr "and" equality                           -> logical
?equality: relational
         | equality ("=" | "!=") relational                  -> binary
?relational: additive
           | relational ("<" | "<=" | ">" | ">=") additive   -> binary
?additive: multiplicative
         | additive ("+" | "-") multiplicative               -> binary
?multiplicative: unary
               | multiplicative ("*" | "div" | "mod") unary  -> binary
?unary: primary
      | "-" unary                                            -> negate
?primary: NUMBER                                             -> number
        | STRING                                             -> string
        | REF                                                -> reference
        | "."                                                -> current
        | "(" or_expr ")"                                    -> group
        | NAME "(" ")"                                       -> call
        | NAME "(" or_expr ("," or_expr)* ")"                -> call

NUMBER: /[0-9]+(\.[0-9]*)?|\.[0-9]+/
STRING: /'[^']*'|"[^"]*"/
REF: /\$\{[^}]*\}/
NAME: /[A-Za-z_][A-Za-z0-9_-]*/
%ignore /[ \t\r\n]+/
"""

# Function name -> (minimum, maximum) number of arguments; None means no maximum.
FUNCTIONS: Final[Mapping[str, tuple[int, int | None]]] = MappingProxyType(
    {
        "selected": (2, 2),
        "count-selected": (1, 1),
        "string-length": (0, 1),
        "number": (0, 1),
        "string": (0, 1),
        "if": (3, 3),
        "true": (0, 0),
        "false": (0, 0),
        "not": (1, 1),
        "regex": (2, 2),
        "coalesce": (2, 2),
        "concat": (0, None),
        "int": (1, 1),
        "round": (1, 2),
    }
)

_CODE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# XPath 1.0 Number production, with XPath whitespace around it.
_NUMBER_TEXT = re.compile(r"[ \t\r\n]*(-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))[ \t\r\n]*")
# Traps off: division by zero and invalid operations yield Infinity / NaN as in XPath.
_CONTEXT: Final = Context(prec=50, traps=[])
_NAN: Final = Decimal("NaN")
_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)
_ARITHMETIC: Final = {
    "+": _CONTEXT.add,
    "-": _CONTEXT.subtract,
    "*": _CONTEXT.multiply,
    "div": _CONTEXT.divide,
    "mod": _CONTEXT.remainder,
}
_RELATIONAL: Final = {
    "<": Decimal.__lt__,
    "<=": Decimal.__le__,
    ">": Decimal.__gt__,
    ">=": Decimal.__ge__,
}
_CURRENT_BY_DEFAULT: Final = frozenset({"string-length", "string", "number"})

# Internal value of an evaluated expression: XPath string, boolean or number.
_Value: TypeAlias = str | bool | Decimal


class ExpressionError(ValueError):
    """Syntax error or unknown function; message says what and at which character position.

    `position` is the 0-based index into the source (None when not tied to one place); the
    message states it 1-based, as "at character N".
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


def _error(message: str, position: int, detail: str = "") -> ExpressionError:
    return ExpressionError(f"{message} at character {position + 1}{detail}", position)


# --- syntax tree -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Literal:
    value: str | Decimal
    pos: int
    depth: int = 1


@dataclass(frozen=True, slots=True)
class _Reference:
    code: str
    pos: int
    depth: int = 1


@dataclass(frozen=True, slots=True)
class _Current:
    pos: int
    depth: int = 1


@dataclass(frozen=True, slots=True)
class _Negate:
    operand: _Node
    pos: int
    depth: int


@dataclass(frozen=True, slots=True)
class _Binary:
    op: str
    left: _Node
    right: _Node
    pos: int
    depth: int


@dataclass(frozen=True, slots=True)
class _Logical:
    op: str  # "and" or "or"
    operands: tuple[_Node, ...]
    pos: int
    depth: int


@dataclass(frozen=True, slots=True)
class _Call:
    name: str
    args: tuple[_Node, ...]
    pos: int
    depth: int


_Node: TypeAlias = _Literal | _Reference | _Current | _Negate | _Binary | _Logical | _Call


def _checked_depth(children: list[_Node] | tuple[_Node, ...], pos: int) -> int:
    depth = 1 + max((child.depth for child in children), default=0)
    if depth > MAX_DEPTH:
        raise _error(f"expression is nested more than {MAX_DEPTH} levels deep", pos)
    return depth


def _start(token: Token) -> int:
    # Lark types start_pos as optional; the basic lexer always sets it.
    return token.start_pos or 0


def _nodes(children: list[Any]) -> list[_Node]:
    return [child for child in children if not isinstance(child, Token)]


class _Builder(Transformer[Token, _Node]):
    """Builds the syntax tree during the LALR parse (no recursion, so deep input is safe)."""

    def number(self, children: list[Token]) -> _Node:
        token = children[0]
        return _Literal(Decimal(str(token)), _start(token))

    def string(self, children: list[Token]) -> _Node:
        token = children[0]
        return _Literal(str(token)[1:-1], _start(token))

    def reference(self, children: list[Token]) -> _Node:
        token = children[0]
        code = str(token)[2:-1]
        if not _CODE.fullmatch(code):
            raise _error(
                f"invalid item code {code!r} in ${{...}} (expected letters, digits and _)",
                _start(token),
            )
        return _Reference(code, _start(token))

    def current(self, children: list[Token]) -> _Node:
        return _Current(_start(children[0]))

    def group(self, children: list[Any]) -> _Node:
        (inner,) = _nodes(children)
        pos = _start(children[0])
        return replace(inner, depth=_checked_depth([inner], pos))

    def negate(self, children: list[Any]) -> _Node:
        operand = _nodes(children)
        pos = _start(children[0])
        return _Negate(operand[0], pos, _checked_depth(operand, pos))

    def binary(self, children: list[Any]) -> _Node:
        left, operator, right = children
        return _Binary(str(operator), left, right, left.pos, _checked_depth([left, right], left.pos))

    def logical(self, children: list[Any]) -> _Node:
        left, operator, right = children
        op = str(operator)
        # Flattening keeps long `a or b or c ...` chains shallow; order (short-circuit) is kept.
        operands: list[_Node] = []
        for node in (left, right):
            if isinstance(node, _Logical) and node.op == op:
                operands.extend(node.operands)
            else:
                operands.append(node)
        return _Logical(op, tuple(operands), left.pos, _checked_depth(operands, left.pos))

    def call(self, children: list[Any]) -> _Node:
        name_token = children[0]
        name, pos = str(name_token), _start(name_token)
        args = _nodes(children[1:])
        if name not in FUNCTIONS:
            raise _error(f"unknown function {name}()", pos)
        low, high = FUNCTIONS[name]
        if len(args) < low or (high is not None and len(args) > high):
            expected = str(low) if low == high else f"{low} or more" if high is None else f"{low} to {high}"
            raise _error(f"{name}() takes {expected} argument(s), not {len(args)}", pos)
        if name == "regex" and isinstance(args[1], _Literal) and isinstance(args[1].value, str):
            _compile_regex(args[1].value, args[1].pos)
        return _Call(name, tuple(args), pos, _checked_depth(args, pos))


@functools.cache
def _parser() -> Lark:
    # Basic (not contextual) lexer: `andnot(x)` must be one name, never `and` + `not(x)`.
    return Lark(
        GRAMMAR,
        parser="lalr",
        lexer="basic",
        transformer=_Builder(),
        keep_all_tokens=True,
        maybe_placeholders=False,
    )


_VALUE_TERMINALS: Final = frozenset({"NUMBER", "STRING", "REF", "DOT", "NAME"})
_PUNCTUATION: Final = {"LPAR": "'('", "RPAR": "')'", "COMMA": "','", "$END": "the end of the expression"}
_BARE_NAME: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)[ \t\r\n]*$")


def _describe_expected(expected: set[str]) -> str:
    wanted: list[str] = []
    has_value = bool(expected & _VALUE_TERMINALS)
    if has_value:
        wanted.append("a value")  # also covers '(' and unary '-'
    if expected - _VALUE_TERMINALS - _PUNCTUATION.keys() - {"MINUS"} or (
        "MINUS" in expected and not has_value
    ):
        wanted.append("an operator")
    wanted.extend(
        text for name, text in _PUNCTUATION.items() if name in expected and not (has_value and name == "LPAR")
    )
    if not wanted:
        return ""
    listed = wanted[0] if len(wanted) == 1 else ", ".join(wanted[:-1]) + " or " + wanted[-1]
    return f"; expected {listed}"


def _syntax_error(source: str, error: UnexpectedInput) -> ExpressionError:
    if isinstance(error, UnexpectedCharacters):
        pos = error.pos_in_stream or 0
        char = source[pos]
        if char in "'\"":
            return _error(f"string opened with {char} is not closed", pos)
        if source.startswith("${", pos):
            return _error("'${' is not closed with '}'", pos)
        return _error(f"unexpected character {char!r}", pos)
    if isinstance(error, UnexpectedToken):
        token = error.token
        expected = set(error.accepts or error.expected)
        pos = len(source) if token.type == "$END" else _start(token)
        bare = _BARE_NAME.search(source, 0, pos)
        if expected == {"LPAR"} and bare:
            # XPath would read a bare word as a path; here it is almost always a missing ${} or quote.
            name = bare.group(1)
            if name in FUNCTIONS:
                return _error(f"function {name}() must be followed by '('", bare.start(1))
            return _error(
                f"{name!r} is neither a function call nor a value",
                bare.start(1),
                f"; write ${{{name}}} for an item's answer or '{name}' for text",
            )
        what = "end of expression" if token.type == "$END" else repr(str(token))
        return _error(f"unexpected {what}", pos, _describe_expected(expected))
    pos = getattr(error, "pos_in_stream", None) or 0
    return _error("syntax error", pos)


# --- public API --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """A parsed expression; build it with `parse()`."""

    source: str
    references: frozenset[str]  # item codes named as ${code}
    uses_current: bool  # whether `.` appears (also implied by string-length() and friends)
    _root: _Node = field(repr=False, compare=False)

    def evaluate(self, values: Mapping[str, object], current: object = None) -> object:
        """Value of the expression: a str, a bool or a Decimal (possibly NaN or +/-Infinity).

        `values` maps item codes to answers (None = unanswered; missing codes are unanswered);
        `current` is the answer `.` stands for. Answers may be None, str, list/tuple of choice
        codes, int, Decimal, float or bool; any other type raises TypeError. Raises
        ExpressionError only for a regex() pattern computed at run time that is invalid.
        """
        return _evaluate(self._root, values, current)

    def is_true(self, values: Mapping[str, object], current: object = None) -> bool:
        """XPath boolean() of `evaluate()`: non-empty string, non-zero non-NaN number, true."""
        return _to_boolean(_evaluate(self._root, values, current))


@functools.lru_cache(maxsize=2048)
def parse(source: str) -> Expression:
    """Parse an expression; raises ExpressionError for empty, too long or invalid source."""
    if not isinstance(source, str):
        raise TypeError(f"expression source must be a str, not {type(source).__name__}")
    if not source.strip():
        raise ExpressionError("expression is empty", 0)
    if len(source) > MAX_SOURCE_LENGTH:
        raise ExpressionError(
            f"expression is {len(source)} characters long; at most {MAX_SOURCE_LENGTH} are allowed",
            MAX_SOURCE_LENGTH,
        )
    try:
        root = cast(_Node, _parser().parse(source))
    except UnexpectedInput as error:
        raise _syntax_error(source, error) from None
    except LarkError as error:  # any other parser failure is still the source's fault
        raise ExpressionError(f"syntax error: {error}", None) from None
    references: set[str] = set()
    uses_current = False
    for node in _walk(root):
        if isinstance(node, _Reference):
            references.add(node.code)
        elif isinstance(node, _Current) or (
            isinstance(node, _Call) and not node.args and node.name in _CURRENT_BY_DEFAULT
        ):
            uses_current = True
    return Expression(source, frozenset(references), uses_current, root)


def has_computed_regex_pattern(expr: Expression) -> bool:
    """Whether a regex() takes its pattern from anything but a string literal (e.g. from an answer).

    Such a pattern is only known at evaluation time: it can be invalid then, and a respondent who writes
    it can make the server run a catastrophically backtracking expression."""
    return any(
        isinstance(node, _Call)
        and node.name == "regex"
        and not (isinstance(node.args[1], _Literal) and isinstance(node.args[1].value, str))
        for node in _walk(expr._root)
    )


def numeric_bounds(expr: Expression) -> tuple[Decimal | None, Decimal | None]:
    """Inclusive (min, max) stated by the top-level conjuncts `. >= n`, `. <= n`, `. = n`.

    The expression may be one comparison or an `and` of several (other conjuncts are ignored);
    the literal may be on either side (`0 <= .`). Strict `<` / `>` give no bound, since the
    inclusive limit depends on the item type; anything under `or` or `not()` gives none.
    Contradictory bounds (min > max) are returned as stated.
    """
    root = expr._root
    conjuncts = root.operands if isinstance(root, _Logical) and root.op == "and" else (root,)
    lower: Decimal | None = None
    upper: Decimal | None = None
    flipped = {">=": "<=", "<=": ">=", "=": "="}
    for node in conjuncts:
        if not isinstance(node, _Binary) or node.op not in flipped:
            continue
        if isinstance(node.left, _Current):
            op, bound = node.op, _numeric_literal(node.right)
        elif isinstance(node.right, _Current):
            op, bound = flipped[node.op], _numeric_literal(node.left)
        else:
            continue
        if bound is None:
            continue
        if op in (">=", "="):
            lower = bound if lower is None else max(lower, bound)
        if op in ("<=", "="):
            upper = bound if upper is None else min(upper, bound)
    return lower, upper


# --- evaluation --------------------------------------------------------------------------------


def _walk(root: _Node) -> Iterator[_Node]:
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _Negate):
            stack.append(node.operand)
        elif isinstance(node, _Binary):
            stack.extend((node.left, node.right))
        elif isinstance(node, _Logical):
            stack.extend(node.operands)
        elif isinstance(node, _Call):
            stack.extend(node.args)


def _numeric_literal(node: _Node) -> Decimal | None:
    if isinstance(node, _Literal) and isinstance(node.value, Decimal):
        return node.value
    if isinstance(node, _Negate):
        inner = _numeric_literal(node.operand)
        return None if inner is None else -inner
    return None


def _from_answer(answer: object) -> _Value:
    if answer is None:
        return ""
    if isinstance(answer, bool | str):
        return answer
    if isinstance(answer, int):
        return Decimal(answer)
    if isinstance(answer, Decimal):
        return _NAN if answer.is_nan() else answer
    if isinstance(answer, float):
        # repr keeps what the float was written as (0.1, not 0.1000000000000000055...).
        return _NAN if math.isnan(answer) else Decimal(repr(answer))
    if isinstance(answer, list | tuple):
        return " ".join(str(code) for code in answer)
    raise TypeError(f"unsupported answer type {type(answer).__name__}")


def _to_string(value: _Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if value.is_nan():
        return "NaN"
    if value.is_infinite():
        return "-Infinity" if value.is_signed() else "Infinity"
    if value.is_zero():
        return "0"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _to_number(value: _Value) -> Decimal:
    if isinstance(value, bool):
        return _ONE if value else _ZERO
    if isinstance(value, str):
        match = _NUMBER_TEXT.fullmatch(value)
        return Decimal(match.group(1)) if match else _NAN
    return value


def _to_boolean(value: _Value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value != ""
    return not (value.is_nan() or value.is_zero())


def _equals(left: _Value, right: _Value) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return _to_boolean(left) == _to_boolean(right)
    if isinstance(left, Decimal) or isinstance(right, Decimal):
        a, b = _to_number(left), _to_number(right)
        return not (a.is_nan() or b.is_nan()) and a == b
    return left == right


def _evaluate(node: _Node, values: Mapping[str, object], current: object) -> _Value:
    if isinstance(node, _Literal):
        return node.value
    if isinstance(node, _Reference):
        return _from_answer(values.get(node.code))
    if isinstance(node, _Current):
        return _from_answer(current)
    if isinstance(node, _Negate):
        return _CONTEXT.minus(_to_number(_evaluate(node.operand, values, current)))
    if isinstance(node, _Logical):
        # Short-circuit: `and` stops at the first false operand, `or` at the first true one.
        stop_at = node.op == "or"
        for operand in node.operands:
            if _to_boolean(_evaluate(operand, values, current)) == stop_at:
                return stop_at
        return not stop_at
    if isinstance(node, _Binary):
        left = _evaluate(node.left, values, current)
        right = _evaluate(node.right, values, current)
        if node.op == "=":
            return _equals(left, right)
        if node.op == "!=":
            return not _equals(left, right)
        a, b = _to_number(left), _to_number(right)
        if node.op in _RELATIONAL:
            return not (a.is_nan() or b.is_nan()) and _RELATIONAL[node.op](a, b)
        return _ARITHMETIC[node.op](a, b)
    return _call(node, values, current)


def _call(node: _Call, values: Mapping[str, object], current: object) -> _Value:
    name, args = node.name, node.args
    # if() and coalesce() evaluate only the argument they need.
    if name == "if":
        chosen = args[1] if _to_boolean(_evaluate(args[0], values, current)) else args[2]
        return _evaluate(chosen, values, current)
    if name == "coalesce":
        first = _evaluate(args[0], values, current)
        return first if _to_string(first) != "" else _evaluate(args[1], values, current)
    arguments = [_evaluate(arg, values, current) for arg in args]
    if not arguments and name in _CURRENT_BY_DEFAULT:
        arguments = [_from_answer(current)]
    if name == "true":
        return True
    if name == "false":
        return False
    if name == "not":
        return not _to_boolean(arguments[0])
    if name == "selected":
        return _to_string(arguments[1]).strip() in _to_string(arguments[0]).split()
    if name == "count-selected":
        return Decimal(len(_to_string(arguments[0]).split()))
    if name == "string-length":
        return Decimal(len(_to_string(arguments[0])))
    if name == "number":
        return _to_number(arguments[0])
    if name == "string":
        return _to_string(arguments[0])
    if name == "concat":
        return "".join(_to_string(argument) for argument in arguments)
    if name == "regex":
        pattern = _compile_regex(_to_string(arguments[1]), node.pos)
        try:
            return pattern.search(_to_string(arguments[0]), timeout=REGEX_TIMEOUT_SECONDS) is not None
        except TimeoutError:
            raise _error(
                f"regex() gave up after {REGEX_TIMEOUT_SECONDS} s: the pattern backtracks too much",
                node.pos,
            ) from None
    if name == "int":
        number = _to_number(arguments[0])
        return number if not number.is_finite() else number.to_integral_value(ROUND_DOWN, _CONTEXT)
    if name == "round":
        places = _to_number(arguments[1]) if len(arguments) > 1 else _ZERO
        return _round(_to_number(arguments[0]), places)
    raise AssertionError(f"function {name} is in FUNCTIONS but not implemented")  # unreachable


def _round(number: Decimal, places: Decimal) -> Decimal:
    if not number.is_finite():
        return number
    if places.is_nan():
        return _NAN
    if places.is_infinite():
        return number if places > 0 else _ZERO
    digits = int(places.to_integral_value(ROUND_DOWN))
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -digits:
        return number  # already has no more decimals than asked for
    if -digits > number.adjusted() + 1:
        return _ZERO  # |number| < a tenth of the rounding unit
    # One spare digit for a carry (9.5 -> 10) so quantize never runs out of precision.
    context = Context(prec=len(number.as_tuple().digits) + 2, traps=[])
    return number.quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP, context)


@functools.lru_cache(maxsize=256)
def _compile_regex(pattern: str, pos: int) -> regex_engine.Pattern:
    try:
        return regex_engine.compile(pattern)
    except regex_engine.error as error:
        raise _error(f"invalid regular expression {pattern!r} ({error})", pos) from None
