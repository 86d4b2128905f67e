"""The import's fast validation path gives the API's verdicts: on every body it accepts, DeviceCreateSerializer
(POST /devices) accepts too and validates to the same data; everything else goes to the serializer itself."""

import json
import random

import pytest
from django.conf import settings

from adapters.api.serializers import NetworkAdapterWriteSerializer
from devices.api.serializers import DeviceCreateSerializer
from devmanager.strictjson import compact_json
from transfer.importing.validation import RowError, _adapter, device_fields_fast, device_row
from transfer.rowformats import InputRow

TEXTS = [
    "", " ", "a", "plain text", " padded ", "tab\there", "new\nline", "nul\x00", "ünïcode", "\u2028", "x" * 15,
    "x" * 16, "x" * 128, "x" * 129, "x" * 255, "x" * 256, "#FFF", "#ff5733", "#FF5733-#000000", "#GGG", "#FF573",
    "a/b", "dms", ".", "..", "\x7f", "\ud800", "emoji 🙂",
]  # fmt: skip
NON_TEXTS = [None, 0, 1.5, True, [], {}, ["a"]]


def random_tags(rng: random.Random):
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice([*NON_TEXTS, "a;b"])
    if kind == 1:
        return ["t"] * 2
    if kind == 2:
        return [f"t{n}" for n in range(rng.choice([50, 51]))]
    return [rng.choice(TEXTS + NON_TEXTS) for _ in range(rng.randrange(4))]


def random_metadata(rng: random.Random):
    kind = rng.randrange(8)
    limit = settings.DEVMANAGER_METADATA_MAX_BYTES
    if kind == 0:
        return rng.choice([*NON_TEXTS, "{}", [1]])
    if kind == 1:  # around the size limit: {"k":"..."} is 8 bytes plus the value
        return {"k": "v" * (limit - 8 + rng.choice([-1, 0, 1]))}
    if kind == 2:  # around the depth limit
        nested = {}
        for _ in range(rng.choice([98, 99, 100, 101])):
            nested = {"n": nested}
        return nested
    if kind == 3:  # many brackets inside strings, shallow
        return {"s": "[{" * 80}
    if kind == 4:
        return {"é": "ü" * (limit // 2 - 6 + rng.choice([-1, 0, 1]))}
    return {"location": rng.choice(TEXTS), "n": rng.choice([1, 2.5, None, True, 10**30]), "list": [1, {"a": []}]}


def random_body(rng: random.Random) -> dict:
    body = {}
    if rng.random() < 0.95:
        body["id"] = rng.choice(TEXTS + NON_TEXTS) if rng.random() < 0.4 else f"device-{rng.randrange(10**6)}"
    for name in ("alias", "dms_id", "dms_owner", "icon", "icon_color"):
        if rng.random() < 0.5:
            body[name] = rng.choice(TEXTS + NON_TEXTS)
    if rng.random() < 0.2:
        body["dms_owner"] = body.get("dms_id", "same")
    if rng.random() < 0.6:
        body["tags"] = random_tags(rng)
    if rng.random() < 0.6:
        body["metadata"] = random_metadata(rng)
    if rng.random() < 0.05:
        body["unknown"] = "x"
    return body


def compact_or_none(body):
    try:
        return compact_json(body["metadata"]) if type(body.get("metadata")) is dict else None
    except (ValueError, RecursionError):
        return None


def serializer_verdict(body) -> dict | None:
    serializer = DeviceCreateSerializer(data=body)
    try:
        return dict(serializer.validated_data) if serializer.is_valid() else None
    except UnicodeEncodeError:  # a lone surrogate in metadata: the size check cannot encode it
        return None


def test_fast_path_agrees_with_the_create_serializer():
    rng = random.Random(7)
    verdicts = {"fast": 0, "serializer": 0, "invalid": 0}
    for _ in range(4000):
        body = random_body(rng)
        fast = device_fields_fast(body, compact_or_none(body))
        validated = serializer_verdict(body)
        if fast is not None:
            assert fast == validated, body
        verdicts["fast" if fast is not None else "serializer" if validated is not None else "invalid"] += 1
    assert min(verdicts.values()) > 100, verdicts  # every path was exercised


@pytest.mark.parametrize(
    "body",
    [
        {"id": "ok", "alias": " trimmed "},  # DRF trims: the fast path leaves it to DRF
        {"id": "ok", "tags": ["ünï"]},
        {"id": "ok", "dms_id": "a", "dms_owner": "b"},
        {"id": "ok", "metadata": {"k": "v" * 70_000}},
    ],
)
def test_fast_path_defers_what_it_does_not_judge(body):
    assert device_fields_fast(body, compact_or_none(body)) is None


@pytest.mark.parametrize(
    "body",
    [
        {"type": "cellular", "imei": "490154203237518"},
        {"type": "cellular", "imei": "490154203237517"},  # bad Luhn digit
        {"type": "cellular", "imei": " 490154203237518"},
        {"type": "cellular", "imei": 490154203237518},
        {"type": "lora", "dev_eui": "0004A30B001C0530"},
        {"type": "lora", "dev_eui": "0004a30b001c053"},
        {"type": "generic", "dvn_uuid": "6F9619FF-8B86-D011-B42D-00C04FC964FF"},
        {"type": "generic", "dvn_uuid": "not-a-uuid"},
        {"type": "cellular", "dev_eui": "0004a30b001c0530"},
        {"type": "satellite", "imei": "490154203237518"},
    ],
)
def test_adapter_fast_path_agrees_with_the_adapter_serializer(body):
    serializer = NetworkAdapterWriteSerializer(data=body, context={"creating": True})
    try:
        adapter = _adapter("network_adapters[0]", body)
    except RowError:
        assert not serializer.is_valid()
    else:
        assert serializer.is_valid(), serializer.errors
        assert adapter.fields == dict(serializer.validated_data)


def test_row_errors_name_fields_as_the_api_does():
    item = InputRow(3, "", {"id": "x/y", "tags": ["a", "a"], "imei": "123", "status": "SLEEPING", "extra": 1})
    with pytest.raises(RowError) as raised:
        device_row(item)
    names = {field["name"] for field in raised.value.fields}
    assert names == {"id", "tags[1]", "extra", "imei", "status"}


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "b": [1.5, -0.0, null, true, "é"], "a": 2}',
        '{"big": 18446744073709551616, "neg": -9223372036854775809, "huge": 1' + "0" * 40 + "}",
        '{"small": 9223372036854775807, "digits": "1234567890123456789012"}',
        '"\\ud800"',  # orjson refuses a lone surrogate; the json module reads it (validation refuses it later)
        "[1e400, -1e400, 1e308]",
    ],
)
def test_parse_json_reads_as_the_json_module_does(text):
    from devmanager.strictjson import NonFinite, parse_json

    assert parse_json(text) == json.loads(text)
    assert list(map(_kind, _leaves(parse_json(text)))) == list(map(_kind, _leaves(json.loads(text))))
    if "1e400" in text:
        assert [type(value) for value in parse_json(text)] == [NonFinite, NonFinite, float]


@pytest.mark.parametrize("text", ["[1,]", "NaN", '{"a": Infinity}', '{"a": 1}x', '"tab\there"', ""])
def test_parse_json_refuses_with_the_json_modules_message(text):
    from devmanager.strictjson import parse_json, refuse_constant

    with pytest.raises(ValueError) as expected:
        json.JSONDecoder(parse_constant=refuse_constant).decode(text)
    with pytest.raises(ValueError) as raised:
        parse_json(text)
    assert str(raised.value) == str(expected.value)


def _kind(value) -> type:
    return float if isinstance(value, float) else type(value)  # NonFinite is a float


def _leaves(value):
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]
