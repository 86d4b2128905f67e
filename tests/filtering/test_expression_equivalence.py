"""A property of `q`, on either database: over a random fleet, a random expression selects exactly the devices that a
brute-force evaluation in Python selects, atom by atom as the contract (sections 2 and 8) defines them, combined with
Python's own `and`, `or` and `not`. The evaluation here is written from the contract, not from the compiler.

Each example creates its fleet in a savepoint rolled back afterwards; the exploration is bounded and derandomized
(repeatable), and its answer must come the same through `GET /devices`, `/stats` and the ORM (on the normal form).
"""

import operator
import re

import hypothesis
import pytest
from django.db import transaction
from hypothesis import strategies as st

from devices.filters import DEVICE_FILTER_FIELDS
from devices.models import Device
from devmanager.api.filtering.expression import compile_expression, normalise_expression
from tests.conftest import API
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

ABSENT = object()  # a metadata key the device does not have
OPERATORS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
             ">=": operator.ge}  # fmt: skip


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):  # before numbers: in JSON a boolean is no number
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "container"


def compares(value, op: str, literal) -> bool:
    """`value op literal` for one selected JSON value: values of different types never compare true, but null differs
    from every other value; numbers compare as numbers; arrays and objects compare with nothing."""
    if value is ABSENT:
        return False
    kind = _kind(value)
    if kind != _kind(literal):
        return op == "!=" and "null" in (kind, _kind(literal))
    if kind == "container":
        return False
    if kind == "null":
        return op in ("==", "<=", ">=")
    return OPERATORS[op](value, literal)


def key(device: dict, name: str):
    return device["metadata"].get(name, ABSENT)


# Each atom as `q` spells it, and what it means for one device.
ATOMS = [
    ("status[eq]:ACTIVE", lambda d: d["status"] == "ACTIVE"),
    ("status[EQ]=expired", lambda d: d["status"] == "EXPIRED"),
    ("status[in]:EXPIRED,REVOKED", lambda d: d["status"] in ("EXPIRED", "REVOKED")),
    ("status[ne]:NO_IDENTITY", lambda d: d["status"] != "NO_IDENTITY"),
    ("status[nin]:active,revoked", lambda d: d["status"] not in ("ACTIVE", "REVOKED")),
    ("id[in]:d00,d03,d07", lambda d: d["id"] in ("d00", "d03", "d07")),
    ("id[ct]:1", lambda d: "1" in d["id"]),
    ("dms_owner[eq]:lab", lambda d: d["dms_owner"] == "lab"),
    ("dms_owner[ne]:lab", lambda d: d["dms_owner"] != "lab"),
    ("dms_owner[eq]:''", lambda d: d["dms_owner"] == ""),
    ("dms_owner[eq_ic]:LAB", lambda d: d["dms_owner"].lower() == "lab"),
    ("tags[ct]:x", lambda d: "x" in d["tags"]),
    ("tags[nc]:critical", lambda d: "critical" not in d["tags"]),
    ("tags[ct_ic]:X", lambda d: any(tag.lower() == "x" for tag in d["tags"])),
    ("alias[ct]:gate", lambda d: "gate" in d["alias"]),
    ("alias[ct_ic]:ärger", lambda d: "ärger" in d["alias"].lower()),
    ('alias[eq]:""', lambda d: d["alias"] == ""),
    ("metadata[jsonpath]:$.a", lambda d: key(d, "a") is not ABSENT),
    ("metadata[jsonpath]:'$.a == 1'", lambda d: compares(key(d, "a"), "==", 1)),
    ("metadata[jsonpath]:'$.a != 1'", lambda d: compares(key(d, "a"), "!=", 1)),
    ("metadata[jsonpath]:'$.a > 2'", lambda d: compares(key(d, "a"), ">", 2)),
    ("metadata[jsonpath]:'$.a <= 0'", lambda d: compares(key(d, "a"), "<=", 0)),
    ("metadata[jsonpath]:'$.a == true'", lambda d: compares(key(d, "a"), "==", True)),
    ("metadata[jsonpath]:'$.a == \"1\"'", lambda d: compares(key(d, "a"), "==", "1")),
    ("metadata[jsonpath]:'$.a[*] == 2'", lambda d: isinstance(key(d, "a"), list) and 2 in key(d, "a")),
    ('metadata[jsonpath]:"$.b == \\"x\\""', lambda d: compares(key(d, "b"), "==", "x")),
    ("metadata[jsonpath]:'$.b == null'", lambda d: compares(key(d, "b"), "==", None)),
    ("metadata[jsonpath]:'$.b != null'", lambda d: compares(key(d, "b"), "!=", None)),
    ("identity[jsonpath]:$.type", lambda d: d["identity"] is not None),
    ("identity[jsonpath]:'$.type == \"X509\"'", lambda d: d["identity"] == "X509"),
]

# --- Random fleets ----------------------------------------------------------------------------------------------------

JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1, 4),
    st.sampled_from([2.5, 1.0, -0.5]),
    st.sampled_from(["x", "X", "1", ""]),
    st.lists(st.integers(0, 3), max_size=3),
)
DEVICES = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["ACTIVE", "EXPIRED", "REVOKED", "NO_IDENTITY"]),
        "dms_owner": st.sampled_from(["", "lab", "Lab", "prod"]),
        "tags": st.lists(st.sampled_from(["x", "X", "critical", "y"]), max_size=3, unique=True),
        "alias": st.one_of(
            st.sampled_from(["", "Gateway", "gate 2", "ÄRGER", "ärger im lab", "Sensor"]),
            st.text(alphabet="gateäÄrxX ", max_size=6),
        ),
        "metadata": st.fixed_dictionaries({}, optional={"a": JSON_VALUES, "b": JSON_VALUES}),
        "identity": st.sampled_from([None, "X509", "PSK"]),
    }
)
FLEETS = st.lists(DEVICES, min_size=4, max_size=12).map(
    lambda devices: [{"id": f"d{index:02d}", **device} for index, device in enumerate(devices)]
)


def create(fleet: list[dict]) -> None:
    for device in fleet:
        identity = device["identity"]
        DeviceFactory(
            id=device["id"],
            status=device["status"],
            dms_owner=device["dms_owner"],
            tags=device["tags"],
            alias=device["alias"],
            metadata=device["metadata"],
            slots={"default": {"status": "ACTIVE", "active_version": 1, "type": identity, "versions": {}}}
            if identity
            else {},
        )


# --- Random expressions: a tree, written with as few parentheses as the precedence needs (plus random extra ones) ---
# A tree is an atom's index, ("not", tree), ("and" | "or", [trees]) or ("()", tree); keywords in random case.

RANKS = {"or": 1, "and": 2, "not": 3}  # an atom or a parenthesised expression: 4


def _branches(children):
    return st.one_of(
        st.tuples(st.sampled_from(["not", "NOT", "Not"]), children),
        st.tuples(st.sampled_from(["and", "AND", "or", "Or", "OR"]), st.lists(children, min_size=2, max_size=3)),
        st.tuples(st.just("()"), children),
    )


EXPRESSIONS = st.recursive(st.integers(0, len(ATOMS) - 1), _branches, max_leaves=8)
COMPOUND_EXPRESSIONS = _branches(EXPRESSIONS)  # a lone atom now and then, but mostly and, or, not


def written(tree) -> tuple[str, int]:
    """The text of a tree, and the rank of its outermost operator."""
    if isinstance(tree, int):
        return ATOMS[tree][0], 4
    word, operand = tree
    if word == "()":
        return f"({written(operand)[0]})", 4
    rank = RANKS[word.lower()]
    if rank == 3:
        return f"{word} {_operand(operand, rank)}", rank
    return f" {word} ".join(_operand(child, rank) for child in operand), rank


def _operand(tree, rank: int) -> str:
    """A tree under an operator of `rank`: in parentheses when its own operator binds more loosely."""
    text, own = written(tree)
    return text if own >= rank else f"({text})"


def holds(tree, device: dict) -> bool:
    if isinstance(tree, int):
        return ATOMS[tree][1](device)
    word, operand = tree[0].lower(), tree[1]
    if word == "()":
        return holds(operand, device)
    if word == "not":
        return not holds(operand, device)
    results = [holds(child, device) for child in operand]
    return all(results) if word == "and" else any(results)


def nesting(text: str) -> int:
    """The deepest parenthesis of an expression, those in quoted values left out (none of our atoms has one)."""
    depth = deepest = 0
    for char in re.sub(r"'[^']*'|\"(?:\\.|[^\"\\])*\"", "", text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        deepest = max(deepest, depth)
    return deepest


# --- The property -------------------------------------------------------------------------------------------------


@hypothesis.settings(
    max_examples=100,
    deadline=None,  # a request's time depends on the machine, not on the input
    derandomize=True,  # the same examples on every run (CI); a failure prints its fleet and expression
    database=None,  # nothing written into the working tree
    # The function-scoped client is safe to share: each example's fleet is rolled back with its savepoint.
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture, hypothesis.HealthCheck.too_slow],
)
@hypothesis.given(fleet=FLEETS, trees=st.lists(st.one_of(EXPRESSIONS, COMPOUND_EXPRESSIONS), min_size=2, max_size=4))
def test_q_selects_what_the_contract_selects(api_client, fleet, trees):
    with transaction.atomic():
        create(fleet)
        for tree in trees:
            q = written(tree)[0]
            hypothesis.assume(nesting(q) <= 16)
            expected = {device["id"] for device in fleet if holds(tree, device)}

            response = api_client.get(f"{API}/devices", {"q": q, "page_size": 100})
            assert response.status_code == 200, (q, response.content)
            assert {device["id"] for device in response.json()["list"]} == expected, q
            stats = api_client.get(f"{API}/stats", {"q": q})
            assert stats.json()["total"] == len(expected), q
            # The normal form (what bookmarks compare) means the same.
            normal = normalise_expression(q, DEVICE_FILTER_FIELDS)
            selected = Device.objects.filter(compile_expression(normal, DEVICE_FILTER_FIELDS))
            assert set(selected.values_list("pk", flat=True)) == expected, (q, normal)
        transaction.set_rollback(True)


@pytest.mark.parametrize(
    ("tree", "text"),
    [
        (("and", [0, ("or", [1, 2])]), f"{ATOMS[0][0]} and ({ATOMS[1][0]} or {ATOMS[2][0]})"),
        (("or", [("and", [0, 1]), 2]), f"{ATOMS[0][0]} and {ATOMS[1][0]} or {ATOMS[2][0]}"),
        (("not", ("and", [0, 1])), f"not ({ATOMS[0][0]} and {ATOMS[1][0]})"),
        (("and", [("not", 0), 1]), f"not {ATOMS[0][0]} and {ATOMS[1][0]}"),
        (("not", ("not", 0)), f"not not {ATOMS[0][0]}"),
        (("()", ("or", [0, 1])), f"({ATOMS[0][0]} or {ATOMS[1][0]})"),
    ],
)
def test_expressions_are_written_with_the_parentheses_precedence_needs(tree, text):
    # The generator's own check: a tree written wrongly would test nothing.
    assert written(tree)[0] == text


@pytest.mark.parametrize(
    ("value", "op", "literal", "expected"),
    [
        (1, "==", 1, True),
        (1.0, "==", 1, True),
        (True, "==", 1, False),  # a boolean is no number
        ("1", "==", 1, False),
        ([1], "==", 1, False),  # strict: no unwrapping of arrays
        (None, "!=", 1, True),  # null differs from every other value...
        (None, "==", 1, False),
        (None, "<", 1, False),  # ...and is not ordered with it
        ("x", "!=", 1, False),  # other types never compare true
        (None, "==", None, True),
        (ABSENT, "!=", 1, False),
    ],
)
def test_the_reference_comparison(value, op, literal, expected):
    assert compares(value, op, literal) is expected
