"""JSONPath filters: translation to SQL/JSON, and the Python mirror agreeing with PostgreSQL item by item."""

import json

import pytest
from django.db import connection

from devmanager.api.filtering import FilterError
from devmanager.api.filtering.jsonpath import compile_jsonpath

DOCUMENTS = [
    {},
    {"location": "warehouse-a", "env": "prod", "temp": 21.5, "floor": "2"},
    {"location": None, "env": "dev", "temp": 19, "floor": 2},
    {"sensors": [{"type": "temp", "unit": "C"}, {"type": "humidity"}], "ports": [{"speed": 100}, {"speed": 10}]},
    {"sensors": [{"type": "temp"}, 5], "ports": {"eth0": {"speed": 1000}, "eth1": {"speed": 10}}},
    {"sensors": {"a": {"type": "temp"}, "b": {"type": "co2"}}, "flags": [True, False], "env": "prod"},
    {"a": [1, 2, 3], "b": {"c": {"d": [10, 20]}}, "temp": "hot", "nested": [[1, 2], [3]]},
    {"a": [], "env": ["prod"], "temp": None, "ok": True, "count": 3},
    # Paths that select values of mixed types: a predicate is existential, an incomparable pair simply false.
    {"mix": [1, "a", 3], "env": "prod"},
    {"mix": [None, {"x": 3}, [3], "3", True, 2.5], "env": {"name": "prod"}, "temp": [20, "hot", 25]},
]

PATHS = [
    "$.location",
    "$.env",
    "$.sensors[*].type",
    "$.sensors.type",
    '$.sensors[?(@.type == "temp")]',
    '$.sensors[?(@.type == "co2")]',
    "$.ports[?(@.speed >= 100)]",
    "$.ports[?(@.speed > 5000)]",
    "$.a[0]",
    "$.a[-1]",
    "$.a[5]",
    "$.a[1:3]",
    "$.b.c.d[1]",
    "$.*",
    "$.flags[?(@ == true)]",
    "$.nested[*][?(@ > 2)]",
    '$.sensors[?(@.type == "temp" && @.unit == "C")]',
    '$.sensors[?(@.type == "co2" || @.unit)]',
    "$.sensors[?(!@.unit)]",
    '$.env == "prod"',
    '$.env != "prod"',
    "$.temp > 20",
    "$.temp <= 19",
    '$.temp == "hot"',
    "$.temp == null",
    "$.temp != null",
    "$.floor == 2",
    '$.floor == "2"',
    "$.ok == true",
    "$.count >= 3",
    "$.a[*] > 2",
    "$.sensors[*].type == 'temp'",
    '$["location"]',
    "$.mix[*] == 3",
    "$.mix[*] != 3",
    "$.mix[*] > 2",
    "$.mix[*] == null",
    "$.mix[*] != null",
    '$.mix[*] == "a"',
    "$.mix[*] == true",
    '$.* == "prod"',
    "$.* == 3",
    "$.*[*] > 24",
    "$.temp[*] >= 25",
    '$.env.* == "prod"',
    "$.sensors[*] == 5",
]


def _postgres_answer(document, compiled) -> bool | None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT %s::jsonb {compiled.sql_operator} %s::jsonpath", [json.dumps(document), compiled.sql_path]
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="compares with PostgreSQL's own evaluation")
@pytest.mark.parametrize("path", PATHS)
def test_python_evaluation_agrees_with_postgresql(path):
    compiled = compile_jsonpath(path)
    for document in DOCUMENTS:
        postgres = _postgres_answer(document, compiled) is True
        assert compiled.matches(json.loads(json.dumps(document))) == postgres, (path, document, compiled.sql_path)


@pytest.mark.parametrize(
    ("path", "document", "expected"),
    [
        ("$.location", {"location": "x"}, True),
        ("$.location", {}, False),
        ("$.sensors.type", {"sensors": [{"type": "t"}]}, False),  # strict: no unwrapping of arrays
        ("$.sensors[*].type", {"sensors": [{"type": "t"}]}, True),
        ('$.sensors[?(@.type == "temp")]', {"sensors": [{"type": "temp"}]}, True),
        ('$.sensors[?(@.type == "temp")]', {"sensors": {"x": {"type": "temp"}}}, True),  # members of an object
        ("$.temp > 20", {"temp": 21}, True),
        ("$.temp > 20", {"temp": "25"}, False),  # different types never compare true
        ('$.env == "prod"', {"env": "prod"}, True),
        ("$.n == 10", {"n": 10.0}, True),  # numbers compare as numbers
        # Existential over mixed types: any selected value that compares true is enough.
        ("$.mix[*] == 3", {"mix": [1, "a", 3]}, True),
        ('$.* == "prod"', {"mix": [1, "a", 3], "env": "prod"}, True),
        ("$.mix[*] > 5", {"mix": [1, "a", 3]}, False),
        ("$.mix[*] != 1", {"mix": [1, "a"]}, False),  # "a" != 1 is not true: different types are never compared
        ("$.mix[*] != null", {"mix": [None, "a"]}, True),  # null is comparable with anything, and only equals null
    ],
)
def test_jsonpath_semantics(path, document, expected):
    assert compile_jsonpath(path).matches(document) is expected


@pytest.mark.parametrize(
    "path",
    [
        "location",
        "$.",
        "$[",
        "$..name",
        "$.a[?(@.x =~ 'a.*')]",
        "$.a[?(@.x == $.y)]",
        "$.a[?(@.x + 1 == 2)]",
        "$.a ==",
        "$.a == {}",
        "$.a == NaN",
        "$.a == bare",
        "@.x",
        "$.a[-1:]",
        "$.a.`len`",
        "$" + ".a" * 300,
    ],
)
def test_invalid_jsonpath_rejected(path):
    with pytest.raises(FilterError):
        compile_jsonpath(path)
