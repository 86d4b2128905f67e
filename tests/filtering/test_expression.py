"""`q`, the boolean expression over the filter language's atoms (contract, section 8): how it is read, what one
spelling it has, and how every mistake is reported with its character position. No database involved."""

import pytest

from devices.filters import DEVICE_FILTER_FIELDS
from devmanager.api.filtering import FilterError, parse_filter
from devmanager.api.filtering.expression import (
    Atom,
    Both,
    ExpressionError,
    Not,
    compile_expression,
    normalise_expression,
    parse_expression,
)

A, B, C = "id[eq]:a", "id[eq]:b", "id[eq]:c"


def shape(node):
    """The tree as nested tuples: ("and" | "or", operands...), ("not", operand), or the atom's filter text."""
    if isinstance(node, Atom):
        return node.text
    if isinstance(node, Not):
        return ("not", shape(node.operand))
    assert isinstance(node, Both)
    return ("and" if node.conjunction else "or", *(shape(operand) for operand in node.operands))


def parsed(text: str):
    return shape(parse_expression(text))


def values(text: str) -> list[str]:
    """The value of every atom of an expression, as the filter language reads it, left to right."""
    found = []

    def walk(node):
        if isinstance(node, Atom):
            found.append(parse_filter(node.text).value)
        elif isinstance(node, Not):
            walk(node.operand)
        else:
            for operand in node.operands:
                walk(operand)

    walk(parse_expression(text))
    return found


def normal(text: str) -> str:
    return normalise_expression(text, DEVICE_FILTER_FIELDS)


def error_of(text: str) -> str:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text, DEVICE_FILTER_FIELDS)
    return str(caught.value)


# --- Precedence and keywords --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (A, A),
        (f"{A} or {B} and {C}", ("or", A, ("and", B, C))),
        (f"{A} and {B} or {C}", ("or", ("and", A, B), C)),
        (f"{A} and ({B} or {C})", ("and", A, ("or", B, C))),
        (f"not {A} and {B}", ("and", ("not", A), B)),
        (f"not {A} or {B}", ("or", ("not", A), B)),
        (f"{A} or not {B} and {C}", ("or", A, ("and", ("not", B), C))),
        (f"not ({A} or {B}) and {C}", ("and", ("not", ("or", A, B)), C)),
        (f"not ({A} and {B})", ("not", ("and", A, B))),
        (f"{A} or {B} or {C}", ("or", A, B, C)),
        (f"{A} and {B} and {C}", ("and", A, B, C)),
        (f"(({A}))", A),
        (f"not not {A}", A),
        (f"not not not {A}", ("not", A)),
        (f"not (not {A})", A),
        (f"{A} and not not {B}", ("and", A, B)),
    ],
)
def test_not_binds_tighter_than_and_and_and_than_or(text, expected):
    assert parsed(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        f"{A} AND {B} OR NOT {C}",
        f"{A} And {B} oR nOt {C}",
        f"{A} and {B} or not {C}",
        f"{A}\tand\n{B}  or\r\nnot   {C}",
        f"({A})and({B})or not({C})",
    ],
)
def test_keywords_in_any_case_and_any_white_space(text):
    assert parsed(text) == ("or", ("and", A, B), ("not", C))


@pytest.mark.parametrize("word", ["and", "OR", "Not", "android", "notice"])
def test_keyword_inside_a_value_is_part_of_the_value(word):
    assert values(f"alias[eq]:{word} and id[eq]:{word}x") == [word, f"{word}x"]


# --- Values: quoting, escapes, the characters a value may hold --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('alias[eq]:"Temp Sensor"', "Temp Sensor"),
        ("alias[eq]:'Temp Sensor'", "Temp Sensor"),
        ('alias[eq]:"say \\"hi\\""', 'say "hi"'),
        ("alias[eq]:'it\\'s'", "it's"),
        ('alias[eq]:"back\\\\slash"', "back\\slash"),
        ("alias[eq]:'\"'", '"'),
        ('alias[eq]:"\'"', "'"),
        ('alias[eq]:"(not) and or"', "(not) and or"),
        ('alias[eq]:""', ""),
        ("alias[eq]:''", ""),
        ('alias[eq]="x y"', "x y"),
        ('alias[eq]"x y"', "x y"),
        ('alias[eq]:"[ne]:x"', "[ne]:x"),  # quoted, a value may start with [ even without a separator
        ('alias[eq]"[ne]:x"', "[ne]:x"),
        ('alias[eq]:"Ärger im Kühlraum"', "Ärger im Kühlraum"),
        ("id[eq]:urn:dev:imei:490154203237518", "urn:dev:imei:490154203237518"),
        ("id[eq]::x", ":x"),
        ("id[eq]=:x", ":x"),
        ("id[eq]:=x", "=x"),
        ("status[in]:EXPIRED,REVOKED", "EXPIRED,REVOKED"),
        ("tags[ct]:a:b,c", "a:b,c"),
        ("id[in]:a:1,b:2", "a:1,b:2"),
        ("alias[ct]:50%_x", "50%_x"),
        ("alias[eq]:back\\slash", "back\\slash"),  # unquoted, a backslash is an ordinary character
    ],
)
def test_value_is_read_whole(text, value):
    assert values(text) == [value]


def test_quoted_values_beside_keywords_and_parentheses():
    text = "(alias[eq]:'a b' or alias[eq]:\"c) d\")and not metadata[jsonpath]:'$.env == \"prod\"'"

    assert values(text) == ["a b", "c) d", '$.env == "prod"']
    assert parsed(text)[0] == "and"


def test_unquoted_value_ends_at_white_space_and_parentheses():
    assert parsed("(id[eq]:a)or(id[eq]:b)") == ("or", A, B)
    with pytest.raises(ExpressionError, match=r"at character 23: .*found 'c'"):
        parse_expression("(id[eq]:a)or(id[eq]:b c)")


# --- One spelling ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spellings", "normal_form"),
    [
        (
            [
                "status[eq]:ACTIVE and not tags[ct]:x",
                "status[EQ]=active AND NOT tags[contains]:x",
                "(status[equal]active) and (not (tags[ct]:'x'))",
                'status[eq]:"Active" And Not tags[CT]:"x"',
            ],
            "status[eq]:ACTIVE and not tags[ct]:x",
        ),
        ([f"{A} and ({B} and {C})", f"({A} and {B}) and {C}", f"{A} and {B} and {C}"], f"{A} and {B} and {C}"),
        ([f"{A} or ({B} and {C})", f"{A} or {B} and {C}", f"(({A})) or ({B} and ({C}))"], f"{A} or {B} and {C}"),
        ([f"({A} or {B}) and {C}", f"(({A} or {B})) and ({C})"], f"({A} or {B}) and {C}"),
        ([f"not ({A} or {B})", f"NOT({A} OR {B})", f"not not not ({A} or {B})"], f"not ({A} or {B})"),
        ([f"not not {A}", f"({A})", A], A),
        (["alias[eq]:x", 'alias[eq]:"x"', "alias[eq]:'x'", "alias[equal]=x"], "alias[eq]:x"),
        (["alias[eq]:'a b'", 'alias[eq]:"a b"', 'alias[eq]"a b"'], 'alias[eq]:"a b"'),
        (["alias[eq]:'say \"hi\" (now)'", 'alias[eq]:"say \\"hi\\" (now)"'], 'alias[eq]:"say \\"hi\\" (now)"'),
        (["alias[eq]:''", 'alias[eq]:""'], 'alias[eq]:""'),
        (["status[in]:REVOKED,EXPIRED", "status[in]:expired,revoked"], "status[in]:EXPIRED,REVOKED"),
        (["identity_slot[jsonpath]:$.type", "identity[jsonpath]:$.type"], "identity[jsonpath]:$.type"),
        (
            ["metadata[jsonpath]:'$.env == \"prod\"'", 'metadata[jsonpath]:"$.env == \\"prod\\""'],
            'metadata[jsonpath]:"$.env == \\"prod\\""',
        ),
    ],
)
def test_normalise_expression_gives_one_spelling(spellings, normal_form):
    assert {normal(text) for text in spellings} == {normal_form}
    assert normal(normal_form) == normal_form  # the normal form is itself an expression, already normal


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (f"{A} and {B} or {C}", f"{A} and ({B} or {C})"),
        (f"not {A} and {B}", f"not ({A} and {B})"),
        (f"not {A}", A),
        ("alias[eq]:'x y'", "alias[eq]:x"),
        ("tags[ct]:x", "tags[ct_ic]:x"),
        ("alias[eq]:x", "alias[eq]:X"),
    ],
)
def test_normalise_expression_keeps_different_expressions_apart(left, right):
    assert normal(left) != normal(right)


# --- Errors: each with the character position ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        # Syntax
        ("status[eq]:ACTIVE and", 22, "unexpected end"),
        ("and status[eq]:ACTIVE", 1, "unexpected"),
        ("status[eq]:ACTIVE or or tags[ct]:x", 22, "unexpected"),
        ("status[eq]:ACTIVE tags[ct]:x", 19, "unexpected"),
        ("status[eq]:ACTIVE && tags[ct]:x", 19, "unexpected '&'"),
        ("status[eq]:ACTIVE and xor tags[ct]:x", 23, "'xor'"),
        ("status", 1, "expected a filter"),
        ("status[eq", 1, "expected a filter"),
        ("not", 4, "unexpected end"),
        ("()", 2, "unexpected ')'"),
        ("   ", 4, "unexpected end"),
        # Unbalanced parentheses, either way
        ("(status[eq]:ACTIVE", 19, "expected ')' for the '(' at character 1"),
        ("((status[eq]:ACTIVE) or tags[ct]:x", 35, "expected ')' for the '(' at character 1"),
        ("(tags[ct]:x and (status[eq]:ACTIVE or id[eq]:a)", 48, "'(' at character 1"),
        ("status[eq]:ACTIVE)", 18, "unexpected ')'"),
        ("(status[eq]:ACTIVE))", 20, "unexpected ')'"),
        ("tags[ct]:x and status[eq]:ACTIVE) or (id[eq]:a", 33, "unexpected ')'"),
        # A mistake inside an atom: the filter language's message, at the atom's position
        ("color[eq]:red", 1, "unknown field 'color'"),
        ("tags[ct]:x and color[eq]:red", 16, "unknown field"),
        ("status[eq]:ACTIVE or status[gt]:x", 22, "does not apply"),
        ("tags[ct]:x or (tags[eq]:x)", 16, "does not apply"),
        ("not status[eq]:SLEEPING", 5, "not one of"),
        ("not metadata[eq]:x", 5, "does not apply"),  # a negated atom is checked as carefully
        ("status[in]:ACTIVE,,EXPIRED", 1, "list"),
        ("creation_timestamp[af]:yesterday", 1, "not a date"),
        ("tags[ct]:x and metadata[jsonpath]:'$.a =='", 16, "literal"),
        ("not metadata[jsonpath]:'$['", 5, "JSONPath"),
        ("identity[jsonpath]:$..x", 1, "not supported"),
        ("id[eq][ne]:x", 1, "second [operator]"),  # as in `filter`: a typo, not a value starting with [
        # An unclosed quote, at the quote
        ("id[eq]:'abc", 8, "not closed"),
        ('tags[ct]:x or id[eq]:"abc', 22, "not closed"),
        ('id[eq]:"abc\\"', 8, "not closed"),  # the escaped quote does not close it
        ("id[eq]:'abc\\", 8, "not closed"),
        # U+0000, wherever it is
        ("id[eq]:a\x00b", 9, "U+0000"),
        ("tags[ct]:x or alias[eq]:'a\x00'", 27, "U+0000"),
        ("\x00", 1, "U+0000"),
    ],
)
def test_error_gives_the_character_position(text, position, fragment):
    message = error_of(text)

    assert f"at character {position}:" in message
    assert fragment in message


def test_unknown_field_error_names_the_atom():
    message = error_of("tags[ct]:x and colour[eq]:red")

    assert "'colour[eq]:red'" in message


def test_expression_error_is_a_filter_error():
    # Callers that refuse bad filters (the export command, the group criteria) refuse bad expressions too.
    assert issubclass(ExpressionError, FilterError)


def test_error_position_counts_characters_not_bytes():
    assert "at character 19:" in error_of("alias[eq]:Äöü and colour[eq]:red")


# --- Limits: 4,096 characters, 64 atoms, 16 levels, each at its boundary --------------------------------------------


def long_expression(length: int) -> str:
    """`alias[eq]:xxx or alias[eq]:xxx ...` of exactly `length` characters (an atom holds at most 1,024)."""
    text = " or ".join(["alias[eq]:" + "x" * 800] * 5)
    return text + "x" * (length - len(text))


def test_expression_of_4096_characters_accepted():
    text = long_expression(4096)

    assert len(text) == 4096
    compile_expression(text, DEVICE_FILTER_FIELDS)


def test_expression_over_4096_characters_refused_at_character_4097():
    message = error_of(long_expression(4097))

    assert "at character 4097:" in message and "4096" in message


def test_64_atoms_accepted():
    text = " or ".join(f"id[eq]:d{index}" for index in range(64))

    assert len(parse_expression(text).operands) == 64


def test_65_atoms_refused_at_the_65th():
    atoms = [f"id[eq]:d{index:02d}" for index in range(65)]
    text = " or ".join(atoms)

    message = error_of(text)

    assert f"at character {text.index(atoms[64]) + 1}:" in message and "64" in message


def test_atoms_are_counted_wherever_they_are():
    atoms = [f"id[eq]:d{index:02d}" for index in range(65)]
    text = " or ".join(f"({' and '.join(atoms[i : i + 5])})" for i in range(0, 65, 5))

    assert "more than 64 atoms" in error_of(text)


def test_16_levels_of_parentheses_accepted():
    text = "(" * 16 + A + ")" * 16

    assert parsed(text) == A
    assert parsed("not (" * 16 + A + ")" * 16) == A


def test_17_levels_of_parentheses_refused_at_the_17th():
    message = error_of("(" * 17 + A + ")" * 17)

    assert "at character 17:" in message and "16 levels" in message


def test_nesting_counts_open_parentheses_not_siblings():
    # Many parenthesised operands side by side nest one level only.
    text = " and ".join(f"({A})" for _ in range(40))

    assert parsed(text) == ("and", *[A] * 40)


def test_nesting_error_inside_a_deep_operand():
    text = f"{B} or " + "(" * 10 + f"{A} and " + "(" * 7 + C + ")" * 17

    message = error_of(text)

    assert f"at character {len(f'{B} or ') + 10 + len(f'{A} and ') + 7}:" in message


@pytest.mark.parametrize("count", [999, 1000])
def test_a_long_run_of_not_neither_exhausts_the_stack_nor_loses_its_parity(count):
    text = "not " * count + A

    assert len(text) <= 4096
    assert parsed(text) == (("not", A) if count % 2 else A)
    compile_expression(text, DEVICE_FILTER_FIELDS)
    assert normal(text) == (f"not {A}" if count % 2 else A)
