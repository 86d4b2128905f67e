"""`q`: one boolean expression over the filter language's atoms (contract, section 8).

    expr   := term  { "or"  term }
    term   := factor { "and" factor }
    factor := "not" factor | "(" expr ")" | atom
    atom   := field "[" operator "]" [":" | "="] value
    value  := a run of characters other than white space, "(", ")", quote
            | "..." or '...' (a backslash escapes the quote or itself)

`and`, `or` and `not` in any case; `not` binds tighter than `and`, `and` than `or`. A recursive-descent parser makes
one tree; each atom is one filter of the filter language (fields.compile_filter), and the tree compiles to one `Q`.
Negations are pushed down to the atoms, each of which knows its own complement (`FieldSpec.compile_not`): the
complement of an atom that is unknown for a device (a JSONPath whose path is absent) holds for it.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.db.models import Q

from .fields import FieldSpec, normalise_filter, parse_atom
from .parser import FilterError

MAX_LENGTH = 4096
MAX_ATOMS = 64
MAX_DEPTH = 16
ATOM_START = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\[[A-Za-z_]+\][:=]?")
UNQUOTED = re.compile(r"[^\s()\"']*")
WORD = re.compile(r"[A-Za-z]+")
KEYWORDS = ("and", "or", "not")


class ExpressionError(FilterError):
    """A `q` that cannot be applied; the message gives the character position (from 1)."""


@dataclass(frozen=True)
class Atom:
    text: str  # the filter, as the filter language reads it: field[operator]:value
    position: int


@dataclass(frozen=True)
class Not:
    operand: "Node"


@dataclass(frozen=True)
class Both:
    """`and` (conjunction) or `or` (disjunction) of two or more operands."""

    conjunction: bool
    operands: tuple["Node", ...]


Node = Atom | Not | Both


@dataclass(frozen=True)
class Token:
    kind: str  # "(", ")", "and", "or", "not", "atom", "end"
    position: int  # from 1
    text: str = ""


def parse_expression(text: str) -> Node:
    """The tree of a `q`; raises ExpressionError."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"at character {MAX_LENGTH + 1}: the expression is longer than {MAX_LENGTH} characters")
    if "\x00" in text:
        raise ExpressionError(f"at character {text.index(chr(0)) + 1}: must not contain the character U+0000 (NUL)")
    parser = _Parser(_tokens(text))
    tree = parser.expression(depth=0)
    if parser.peek().kind != "end":
        raise _unexpected(parser.peek())
    return tree


def compile_expression(text: str, fields: Mapping[str, FieldSpec]) -> Q:
    """The `Q` of a `q`, every atom compiled against the resource's fields; raises ExpressionError."""
    return _compile(parse_expression(text), fields, negated=False)


def normalise_expression(text: str, fields: Mapping[str, FieldSpec]) -> str:
    """One spelling of a `q`: keywords in lower case, atoms normalised (normalise_filter), parentheses only where the
    precedence needs them; raises ExpressionError."""
    return _written(parse_expression(text), fields, parent=None)


def _tokens(text: str) -> list[Token]:
    tokens, index = [], 0
    while index < len(text):
        char = text[index]
        if char.isspace():
            index += 1
        elif char in "()":
            tokens.append(Token(char, index + 1))
            index += 1
        elif match := ATOM_START.match(text, index):
            value, end = _value(text, match.end())
            head = text[index : match.end()]
            if end > match.end() and text[match.end()] in "\"'":
                head = head.rstrip(":=") + ":"  # a quoted value is the value, whatever it starts with
            # Unquoted, the atom is the filter as written: `id[eq][ne]:x` is refused here as it is in `filter`.
            tokens.append(Token("atom", index + 1, head + value))
            index = end
        elif match := WORD.match(text, index):
            word = match.group().lower()
            if word not in KEYWORDS:
                raise ExpressionError(
                    f"at character {index + 1}: expected a filter such as status[eq]:ACTIVE, or and, or, not, "
                    f"a parenthesis; found {match.group()[:40]!r}"
                )
            tokens.append(Token(word, index + 1))
            index = match.end()
        else:
            raise ExpressionError(f"at character {index + 1}: unexpected {char!r}")
    tokens.append(Token("end", len(text) + 1))
    return tokens


def _value(text: str, start: int) -> tuple[str, int]:
    """An atom's value from `start`: quoted (backslash escapes) or a run of ordinary characters; and where it ends."""
    if start < len(text) and text[start] in "\"'":
        quote, index, value = text[start], start + 1, []
        while index < len(text):
            char = text[index]
            if char == "\\" and index + 1 < len(text):
                value.append(text[index + 1])
                index += 2
            elif char == quote:
                return "".join(value), index + 1
            else:
                value.append(char)
                index += 1
        raise ExpressionError(f"at character {start + 1}: the quoted value is not closed")
    match = UNQUOTED.match(text, start)
    return match.group(), match.end()


def _unexpected(token: Token) -> ExpressionError:
    found = "end of the expression" if token.kind == "end" else repr(token.text or token.kind)
    return ExpressionError(f"at character {token.position}: unexpected {found}")


class _Parser:
    def __init__(self, tokens: list[Token]):
        self.tokens, self.index, self.atoms = tokens, 0, 0

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expression(self, depth: int) -> Node:
        operands = [self.term(depth)]
        while self.peek().kind == "or":
            self.take()
            operands.append(self.term(depth))
        return operands[0] if len(operands) == 1 else Both(False, tuple(operands))

    def term(self, depth: int) -> Node:
        operands = [self.factor(depth)]
        while self.peek().kind == "and":
            self.take()
            operands.append(self.factor(depth))
        return operands[0] if len(operands) == 1 else Both(True, tuple(operands))

    def factor(self, depth: int) -> Node:
        # A run of `not`s is counted in a loop, not parsed by recursion: a thousand of them fit in the length limit
        # and must not exhaust the stack. `not not A` and `not (not A)` are A.
        negated = False
        while self.peek().kind == "not":
            self.take()
            negated = not negated
        operand = self.operand(depth)
        if not negated:
            return operand
        return operand.operand if isinstance(operand, Not) else Not(operand)

    def operand(self, depth: int) -> Node:
        """A parenthesised expression (`depth` is the number of parentheses around it) or an atom."""
        token = self.take()
        if token.kind == "(":
            if depth >= MAX_DEPTH:
                raise ExpressionError(f"at character {token.position}: nests deeper than {MAX_DEPTH} levels")
            inner = self.expression(depth + 1)
            if self.peek().kind != ")":
                raise ExpressionError(f"at character {self.peek().position}: expected ')' for the '(' at "
                                      f"character {token.position}")  # fmt: skip
            self.take()
            return inner
        if token.kind == "atom":
            self.atoms += 1
            if self.atoms > MAX_ATOMS:
                raise ExpressionError(f"at character {token.position}: the expression has more than {MAX_ATOMS} atoms")
            return Atom(token.text, token.position)
        raise _unexpected(token)


def _compile(node: Node, fields: Mapping[str, FieldSpec], negated: bool) -> Q:
    if isinstance(node, Not):
        return _compile(node.operand, fields, not negated)
    if isinstance(node, Both):
        # De Morgan: a negated `and` is the `or` of the negated operands, and the other way round.
        conjunction = node.conjunction != negated
        combined = Q()
        for operand in node.operands:
            condition = _compile(operand, fields, negated)
            combined = combined & condition if conjunction else combined | condition
        return combined
    try:
        parsed, spec = parse_atom(node.text, fields)
        return (
            spec.compile_not(parsed.operator, parsed.value) if negated else spec.compile(parsed.operator, parsed.value)
        )
    except FilterError as exc:
        raise ExpressionError(f"at character {node.position}: {node.text!r}: {exc}") from exc


def _written(node: Node, fields: Mapping[str, FieldSpec], parent: Both | None) -> str:
    if isinstance(node, Not):
        return f"not {_written(node.operand, fields, None if isinstance(node.operand, Atom) else _NOT)}"
    if isinstance(node, Both):
        joiner = " and " if node.conjunction else " or "
        text = joiner.join(_written(operand, fields, node) for operand in node.operands)
        # Parentheses where the parent binds tighter: an `or` inside an `and`, anything under a `not`.
        needed = parent is _NOT or (parent is not None and parent.conjunction and not node.conjunction)
        return f"({text})" if needed else text
    try:
        filter_text = normalise_filter(node.text, fields)
    except FilterError as exc:
        raise ExpressionError(f"at character {node.position}: {node.text!r}: {exc}") from exc
    field_and_operator, _, value = filter_text.partition("]:")
    return f"{field_and_operator}]:{quoted_value(value)}"


_NOT = Both(True, ())  # stands for a `not` parent in `_written`


def quoted_value(value: str) -> str:
    """An atom's value as an expression writes it: bare when it can be, else quoted."""
    if value and UNQUOTED.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
