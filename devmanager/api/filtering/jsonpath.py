"""JSONPath filters: read with jsonpath-ng, run by PostgreSQL as SQL/JSON path, mirrored in Python for SQLite.

A value is compiled to a small program of *alternatives*, each a list of steps in PostgreSQL's strict mode.
jsonpath-ng's `*` and `[?(...)]` apply to arrays and objects alike, while SQL/JSON spells them `[*]` for an
array and `.*` for an object, so each such step becomes two alternatives and a device matches when one of them
does. PostgreSQL evaluates the program with `@?` / `@@` (both served by a GIN `jsonb_path_ops` index); on
SQLite a Python function registered on each connection evaluates the same program with the same strict
semantics: a step that does not apply (a missing key, an index out of range, a member of an array) makes its
whole path select nothing, and comparing values of different types is false.
"""

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.db import NotSupportedError
from django.db.models import BooleanField, F, Func
from jsonpath_ng import jsonpath as jp
from jsonpath_ng.ext import filter as jpf
from jsonpath_ng.ext import parse as jsonpath_parse

from devmanager.strictjson import refuse_constant

from .parser import FilterError

MAX_ALTERNATIVES = 16
COMPARISON = re.compile(r"==|!=|<=|>=|<|>")

# --- The program -----------------------------------------------------------------------------------------------------
# A step is a tuple: ("key", name) | ("index", (i, ...)) | ("slice", start, end) | ("array",) | ("object",)
# | ("array_filter", condition) | ("object_filter", condition).
# A condition is: ("cmp", relative steps, op, literal) | ("exists", relative steps) | ("and"|"or", [conditions])
# | ("not", condition).


@dataclass(frozen=True)
class CompiledJsonPath:
    source: str
    prefix: tuple[str, ...]
    alternatives: tuple[tuple, ...]
    comparison: tuple[str, object] | None  # (op, literal) for the predicate form

    @property
    def sql_operator(self) -> str:
        return "@?" if len(self.alternatives) == 1 else "@@"

    @property
    def sql_path(self) -> str:
        paths = ["$" + "".join(_sql_step(step) for step in steps) for steps in self.alternatives]
        if self.comparison is not None:
            # Not `path op literal`, which strict mode makes unknown as soon as one selected value has another
            # type than the literal: a filter on the selected values drops those, so the predicate is existential.
            op, literal = self.comparison
            paths = [f"{path} ? (@ {op} {_sql_literal(literal)})" for path in paths]
        if len(paths) == 1:
            return f"strict {paths[0]}"
        return "strict " + " || ".join(f"exists({path})" for path in paths)

    def matches(self, document) -> bool:
        return self.evaluate(document) is True

    def evaluate(self, document) -> bool | None:
        """True, False, or None for SQL/JSON's "unknown" (an error in strict mode), as PostgreSQL would answer."""
        results = []
        for steps in self.alternatives:
            try:
                items = _select(document, steps)
            except _PathError:
                results.append(None)
                continue
            if self.comparison is None:
                results.append(bool(items))
            else:
                results.append(_compare_any(items, *self.comparison))
        return _or(results)


def compile_jsonpath(value: str, prefix: tuple[str, ...] = ()) -> CompiledJsonPath:
    """Compile a filter value (a JSONPath query, or `<path> <op> <literal>`); raises FilterError."""
    return _compile(value, tuple(prefix))


@lru_cache(maxsize=1024)
def _compile(value: str, prefix: tuple[str, ...]) -> CompiledJsonPath:
    if len(value) > settings.DEVMANAGER_MAX_JSONPATH_LENGTH:
        raise FilterError(f"the JSONPath is longer than {settings.DEVMANAGER_MAX_JSONPATH_LENGTH} characters")
    path_text, comparison = _split_predicate(value)
    try:
        tree = jsonpath_parse(path_text)
    except Exception as exc:  # jsonpath-ng raises several exception types for bad input
        raise FilterError(f"invalid JSONPath {path_text!r}: {exc}") from exc
    steps = [("key", name) for name in prefix] + _steps(tree, root=True)
    alternatives = _expand(steps)
    if len(alternatives) > MAX_ALTERNATIVES:
        raise FilterError("the JSONPath has too many wildcards and filters")
    return CompiledJsonPath(value, prefix, tuple(alternatives), comparison)


def _split_predicate(value: str) -> tuple[str, tuple[str, object] | None]:
    """Find a comparison operator outside brackets and quotes: `$.temp > 20` is the predicate form."""
    depth, quote, index = 0, None, 0
    while index < len(value):
        char = value[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif depth == 0 and (match := COMPARISON.match(value, index)):
            op = match.group()
            return value[:index].strip(), (op, _parse_literal(value[match.end() :].strip()))
        index += 1
    return value.strip(), None


def _parse_literal(text: str):
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    try:
        literal = json.loads(text, parse_float=Decimal, parse_constant=refuse_constant)
    except ValueError as exc:
        raise FilterError(f"{text!r} is not a literal: use a string in quotes, a number, true, false or null") from exc
    if isinstance(literal, dict | list):
        raise FilterError("compare with a string, number, boolean or null, not an object or array")
    return Decimal(literal) if isinstance(literal, int) and not isinstance(literal, bool) else literal


# --- From jsonpath-ng's tree to steps -------------------------------------------------------------------------------


def _steps(node, root: bool) -> list:
    """Flatten a jsonpath-ng tree into steps; `root` says whether it must start at `$` (else at `@`)."""
    if isinstance(node, jp.Root):
        if not root:
            raise FilterError("a filter may only refer to the current item `@`, not to `$`")
        return []
    if isinstance(node, jp.This):
        if root:
            raise FilterError("the JSONPath must start at `$`")
        return []
    if isinstance(node, jp.Child):
        return _steps(node.left, root) + _steps(node.right, root=False) if _is_leaf(node.right) else _unsupported(node)
    if not _is_leaf(node):
        return _unsupported(node)
    if root:
        raise FilterError("the JSONPath must start at `$`")
    return [_leaf(node)]


def _is_leaf(node) -> bool:
    return isinstance(node, jp.Fields | jp.Index | jp.Slice | jp.Wildcard | jpf.Filter)


def _leaf(node):
    if isinstance(node, jp.Fields):
        if len(node.fields) != 1 or node.fields[0] == "*":
            return _unsupported(node) if len(node.fields) != 1 else ("wildcard",)
        return ("key", node.fields[0])
    if isinstance(node, jp.Index):
        return ("index", tuple(node.indices))
    if isinstance(node, jp.Wildcard):
        return ("wildcard",)
    if isinstance(node, jp.Slice):
        start, end = node.start or 0, node.end
        if node.step not in (None, 1) or start < 0 or (end is not None and end <= start):
            raise FilterError("slices must be [start:end] with 0 <= start < end")
        return ("slice", start, end)
    return ("filter", _condition_all(node.expressions))


def _unsupported(node):
    raise FilterError(f"the JSONPath construct {str(node)!r} is not supported")


def _condition_all(expressions) -> tuple:
    conditions = [_condition(expression) for expression in expressions]
    return conditions[0] if len(conditions) == 1 else ("and", conditions)


def _condition(expression) -> tuple:
    if isinstance(expression, jpf.And):
        return ("and", [_condition(operand) for operand in expression.operands])
    if isinstance(expression, jpf.Or):
        return ("or", [_condition(operand) for operand in expression.operands])
    if not isinstance(expression, jpf.Expression):
        return _unsupported(expression)
    target = _relative_steps(expression.target)
    if expression.op is None:
        return ("exists", target)
    if expression.op == "!":
        return ("not", ("exists", target))
    if expression.op not in ("==", "=", "!=", "<", "<=", ">", ">="):
        raise FilterError(f"the filter operator {expression.op!r} is not supported")
    if isinstance(expression.value, jp.JSONPath):
        raise FilterError("a filter must compare with a literal value")
    op = "==" if expression.op == "=" else expression.op
    return ("cmp", target, op, _normalise_literal(expression.value))


def _relative_steps(node) -> tuple:
    steps = _steps(node, root=False)
    if any(step[0] not in ("key", "index") for step in steps):
        raise FilterError("paths inside a filter may use only keys and indexes")
    return tuple(steps)


def _normalise_literal(value):
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    return _unsupported(value)


def _expand(steps: list) -> list[tuple]:
    """Every way of reading `*` and `[?()]` as an array step or an object step."""
    alternatives = [()]
    for step in steps:
        if step[0] == "wildcard":
            choices = [("array",), ("object",)]
        elif step[0] == "filter":
            choices = [("array_filter", step[1]), ("object_filter", step[1])]
        else:
            choices = [step]
        alternatives = [(*alternative, choice) for alternative in alternatives for choice in choices]
        if len(alternatives) > MAX_ALTERNATIVES:
            raise FilterError("the JSONPath has too many wildcards and filters")
    return alternatives


# --- SQL/JSON path text -----------------------------------------------------------------------------------------------


def _sql_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _sql_literal(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return _sql_string(value)


def _sql_index(index: int) -> str:
    return str(index) if index >= 0 else ("last" if index == -1 else f"last - {-index - 1}")


def _sql_step(step) -> str:
    kind = step[0]
    if kind == "key":
        return "." + _sql_string(step[1])
    if kind == "index":
        return "[" + ", ".join(_sql_index(index) for index in step[1]) + "]"
    if kind == "slice":
        end = "last" if step[2] is None else str(step[2] - 1)
        return f"[{step[1]} to {end}]"
    if kind == "array":
        return "[*]"
    if kind == "object":
        return ".*"
    if kind == "array_filter":
        return f"[*] ? ({_sql_condition(step[1])})"
    return f".* ? ({_sql_condition(step[1])})"  # object_filter


def _sql_condition(condition) -> str:
    kind = condition[0]
    if kind == "cmp":
        _, steps, op, literal = condition
        return f"@{''.join(_sql_step(step) for step in steps)} {op} {_sql_literal(literal)}"
    if kind == "exists":
        return f"exists(@{''.join(_sql_step(step) for step in condition[1])})"
    if kind == "not":
        return f"!({_sql_condition(condition[1])})"
    joiner = " && " if kind == "and" else " || "
    return "(" + joiner.join(_sql_condition(part) for part in condition[1]) + ")"


# --- Evaluation in Python, mirroring PostgreSQL's strict mode ---------------------------------------------------------


class _PathError(Exception):
    """A structural error: in strict mode it makes the whole path "unknown"."""


def _select(document, steps) -> list:
    items = [document]
    for step in steps:
        items = [child for item in items for child in _apply(item, step)]
    return items


def _apply(item, step) -> list:
    kind = step[0]
    if kind == "key":
        if not isinstance(item, dict) or step[1] not in item:
            raise _PathError
        return [item[step[1]]]
    if kind in ("index", "slice"):
        if not isinstance(item, list):
            raise _PathError
        positions = _positions(item, step)
        if any(not 0 <= position < len(item) for position in positions):
            raise _PathError
        return [item[position] for position in positions]
    if kind in ("array", "array_filter"):
        if not isinstance(item, list):
            raise _PathError
        children = item
    else:  # object, object_filter
        if not isinstance(item, dict):
            raise _PathError
        children = list(item.values())
    if kind.endswith("_filter"):
        return [child for child in children if _test(child, step[1]) is True]
    return children


def _positions(item: list, step) -> list[int]:
    if step[0] == "index":
        return [index if index >= 0 else len(item) + index for index in step[1]]
    end = len(item) if step[2] is None else step[2]
    return list(range(step[1], end))


def _test(item, condition) -> bool | None:
    kind = condition[0]
    if kind in ("cmp", "exists"):
        try:
            selected = _select(item, condition[1])
        except _PathError:
            return None
        return bool(selected) if kind == "exists" else _compare_all(selected, condition[2], condition[3])
    if kind == "not":
        result = _test(item, condition[1])
        return None if result is None else not result
    results = [_test(item, part) for part in condition[1]]
    return _and(results) if kind == "and" else _or(results)


def _compare_all(items, op, literal) -> bool | None:
    """A comparison inside a filter, in strict mode: any incomparable pair makes it unknown; otherwise any true pair
    makes it true."""
    results = [_compare(item, op, literal) for item in items]
    if any(result is None for result in results):
        return None
    return any(results)


def _compare_any(items, op, literal) -> bool:
    """The predicate form: existential, an incomparable pair is simply false (`$.mix[*] == 3` matches
    `{"mix": [1, "a", 3]}`)."""
    return any(_compare(item, op, literal) is True for item in items)


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    return "container"


def _compare(left, op, right) -> bool | None:
    left_kind, right_kind = _kind(left), _kind(right)
    if left_kind != right_kind:
        if "null" in (left_kind, right_kind):
            return op == "!="
        return None
    if left_kind == "container":
        return None
    order = 0 if left_kind == "null" else (left > right) - (left < right)
    return {
        "==": order == 0,
        "!=": order != 0,
        "<": order < 0,
        "<=": order <= 0,
        ">": order > 0,
        ">=": order >= 0,
    }[op]


def _and(results) -> bool | None:
    if any(result is False for result in results):
        return False
    return None if any(result is None for result in results) else True


def _or(results) -> bool | None:
    if any(result is True for result in results):
        return True
    return None if any(result is None for result in results) else False


# --- The database side ------------------------------------------------------------------------------------------------

SQLITE_FUNCTION = "devmanager_jsonpath_match"


class JsonPathMatch(Func):
    """`column` matches a compiled JSONPath: SQL/JSON path on PostgreSQL, a registered function on SQLite."""

    output_field = BooleanField()

    def __init__(self, column: str, compiled: CompiledJsonPath, negated: bool = False):
        super().__init__(F(column))
        self.compiled, self.negated = compiled, negated

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(f"JSONPath filters are not available on {connection.vendor}")

    def as_postgresql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        match = f"({column} {self.compiled.sql_operator} %s::jsonpath)"
        # Unknown (a path that does not apply) is no match, and its complement a match: IS NOT TRUE, not NOT.
        return (f"({match} IS NOT TRUE)" if self.negated else match), [*params, self.compiled.sql_path]

    def as_sqlite(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        program = json.dumps([self.compiled.source, list(self.compiled.prefix)])
        match = f"{SQLITE_FUNCTION}({column}, %s)"  # 0 or 1: unknown is 0 already
        return (f"(NOT {match})" if self.negated else match), [*params, program]


SQLITE_FIRST_SCALAR = "devmanager_jsonpath_first_scalar"
SCALAR_TYPES = "('string', 'number', 'boolean')"


def first_scalar_sql(compiled: CompiledJsonPath, column: str, vendor: str) -> tuple[str, tuple, str]:
    """SQL for the first value a path (one alternative, no comparison) selects in a JSON column, with its
    parameters, and SQL turning that value (`raw`) into JSON text when it is a string, number or boolean, else NULL
    (absent, null, an object or an array): a key to group by, the rows by `raw` and then the groups by the text. On
    PostgreSQL a path of keys only is `#>` (twice as fast over a million rows as the SQL/JSON path)."""
    if vendor != "postgresql":
        program = json.dumps([compiled.source, list(compiled.prefix)])
        return f"{SQLITE_FIRST_SCALAR}({column}, %s)", (program,), "raw"  # JSON text of a scalar already
    (steps,) = compiled.alternatives
    if all(step[0] == "key" for step in steps):
        first, params = f"({column} #> %s)", ([step[1] for step in steps],)
    else:
        first, params = f"jsonb_path_query_first({column}, %s::jsonpath, '{{}}', true)", (compiled.sql_path,)
    return first, params, f"CASE WHEN jsonb_typeof(raw) IN {SCALAR_TYPES} THEN raw::text END"


def _sqlite_first_scalar(document_text, program_text) -> str | None:
    if document_text is None:
        return None
    source, prefix = json.loads(program_text)
    (steps,) = compile_jsonpath(source, tuple(prefix)).alternatives
    try:
        items = _select(json.loads(document_text, parse_float=Decimal), steps)
    except _PathError:
        return None
    value = items[0] if items else None
    if isinstance(value, Decimal):
        return format(value, "f")  # as PostgreSQL writes a jsonb number: 1e3 is 1000
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str | bool | int) else None


def _sqlite_match(document_text, program_text) -> int:
    if document_text is None:
        return 0
    source, prefix = json.loads(program_text)
    document = json.loads(document_text, parse_float=Decimal)
    return int(compile_jsonpath(source, tuple(prefix)).matches(document))


def register_sqlite_functions(sender, connection, **kwargs):
    """`connection_created` receiver: give each SQLite connection the JSONPath functions."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(SQLITE_FUNCTION, 2, _sqlite_match, deterministic=True)
        connection.connection.create_function(SQLITE_FIRST_SCALAR, 2, _sqlite_first_scalar, deterministic=True)
