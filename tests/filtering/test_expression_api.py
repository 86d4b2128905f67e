"""`q` and `search` through the API and `export_devices` (contract, sections 1 and 8), against a known fleet, on
whichever database runs the suite: every route that takes `q`, the 400s with the character position, bookmarks that
carry both, and the truth table of `not` (a negated atom holds wherever the atom does not, unknown included)."""

import io
import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from devmanager.api.pagination import decode_bookmark
from tests.conftest import API, assert_error
from tests.factories import DeviceFactory, DeviceGroupFactory

pytestmark = pytest.mark.django_db

# id: (alias, status, dms_owner, tags, metadata, identity type or None)
FLEET = {
    "s-1": ("Temp Sensor", "ACTIVE", "lab", ["critical", "x"], {"a": 1, "env": "prod"}, "X509"),
    "s-2": ("Ärger im Kühlraum", "EXPIRED", "lab", ["x"], {"a": 2}, "PSK"),
    "s-3": ("", "REVOKED", "", [], {}, None),
    "s-4": ("gateway", "ACTIVE", "dms-a", ["gateway"], {"a": "1"}, None),
    "s-5": ("x-ray", "NO_IDENTITY", "lab", ["critical"], {"a": None, "b": "x"}, None),
    "s-6": ("Gate 2", "EXPIRED", "dms-a", ["critical"], {"a": [1]}, "X509"),
}
ALL = set(FLEET)
GROUP_CRITERIA = [{"field": "status", "operand": "ne", "value": "REVOKED"}]  # all but s-3

# The same q, narrowing every route; and a filter that narrows it further.
Q = "(tags[ct]:critical or tags[ct]:x) and not metadata[jsonpath]:$.b"
Q_IDS = {"s-1", "s-2", "s-6"}
FILTER = "status[eq]:EXPIRED"
FILTER_IDS = {"s-2", "s-6"}


@pytest.fixture
def group():
    """The fleet, and a group of all its devices but the revoked one."""
    for device_id, (alias, status, dms, tags, metadata, identity) in FLEET.items():
        slots = {"default": {"status": "ACTIVE", "active_version": 1, "type": identity, "versions": {}}}
        DeviceFactory(id=device_id, alias=alias, status=status, dms_owner=dms, tags=tags, metadata=metadata,
                      slots=slots if identity else {})  # fmt: skip
    return DeviceGroupFactory(criteria=GROUP_CRITERIA)


LIST_ROUTES = {
    "devices": (lambda group: f"{API}/devices", ALL),
    "dms": (lambda group: f"{API}/devices/dms/lab", {"s-1", "s-2", "s-5"}),
    "group-devices": (lambda group: f"{API}/device-groups/{group.pk}/devices", ALL - {"s-3"}),
}
STATS_ROUTES = {
    "stats": (lambda group: f"{API}/stats", ALL),
    "group-stats": (lambda group: f"{API}/device-groups/{group.pk}/stats", ALL - {"s-3"}),
}
ROUTES = {**LIST_ROUTES, **STATS_ROUTES}


def get(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200, response.content
    return response.json()


def listed(client, url="", **params) -> set[str]:
    body = get(client, url or f"{API}/devices", page_size=100, **params)
    assert body["next"] == ""
    return {device["id"] for device in body["list"]}


def answer(client, route: str, group, **params):
    """What a route answers: the ids listed, or for the stats the ids counted (checked by total and status)."""
    url = ROUTES[route][0](group)
    if route in LIST_ROUTES:
        return listed(client, url, **params)
    return get(client, url, **params)["total"]


def expected(route: str, ids: set[str]):
    base = ROUTES[route][1]
    return base & ids if route in LIST_ROUTES else len(base & ids)


def ids(client, q: str) -> set[str]:
    return listed(client, q=q)


def q_error(response, position: int) -> str:
    """The message of a 400 naming `q`, which gives the character position."""
    body = assert_error(response, 400, "validation_error", field="q")
    assert body["fields"][0]["name"] == "q"
    message = body["fields"][0]["message"]
    assert f"at character {position}:" in message, message
    return message


# --- Every route takes q, ANDed with filter ---------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_q_narrows_every_route_and_is_anded_with_filter(api_client, group, route):
    unfiltered = answer(api_client, route, group)
    narrowed = answer(api_client, route, group, q=Q)
    both = answer(api_client, route, group, q=Q, filter=FILTER)

    assert unfiltered == expected(route, ALL)
    assert narrowed == expected(route, Q_IDS) != unfiltered
    assert both == expected(route, Q_IDS & FILTER_IDS) != narrowed


@pytest.mark.parametrize("route", STATS_ROUTES)
def test_stats_with_q_count_by_status(api_client, group, route):
    body = get(api_client, STATS_ROUTES[route][0](group), q="not status[in]:ACTIVE,EXPIRED")

    assert body["total"] == sum(body["status_distribution"].values())
    assert {status: n for status, n in body["status_distribution"].items() if n} == (
        {"NO_IDENTITY": 1, "REVOKED": 1} if route == "stats" else {"NO_IDENTITY": 1}
    )


def test_q_with_total_count(api_client, group):
    body = get(api_client, f"{API}/devices", q=Q, include="total_count", page_size=1)

    assert body["total"] == len(Q_IDS)


@pytest.mark.parametrize("route", ROUTES)
def test_empty_q_is_absent(api_client, group, route):
    assert answer(api_client, route, group, q="") == answer(api_client, route, group)


@pytest.mark.parametrize("route", ROUTES)
def test_q_given_twice_is_400(api_client, group, route):
    response = api_client.get(ROUTES[route][0](group), {"q": ["tags[ct]:x", "tags[ct]:x"]})

    body = assert_error(response, 400, "validation_error", field="q")
    assert body["fields"][0]["name"] == "q"


# --- Errors: 400 naming q, with the position ----------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("q", "position", "fragment"),
    [
        ("status[eq]:ACTIVE and", 22, "unexpected end"),
        ("(tags[ct]:x", 12, "expected ')'"),
        ("tags[ct]:x)", 11, "unexpected ')'"),
        ("colour[eq]:red or tags[ct]:x", 1, "unknown field"),
        ("tags[ct]:x or not status[eq]:SLEEPING", 19, "not one of"),
    ],
)
def test_bad_q_is_400_naming_q_with_the_position_on_every_route(api_client, group, route, q, position, fragment):
    message = q_error(api_client.get(ROUTES[route][0](group), {"q": q}), position)

    assert fragment in message


@pytest.mark.parametrize(
    ("q", "position", "fragment"),
    [
        ("id[eq]:'abc", 8, "not closed"),
        ("id[eq]:a\x00b", 9, "U+0000"),
        ("status[gt]:ACTIVE", 1, "does not apply"),
        ("tags[ct]:x and metadata[jsonpath]:'$.a =='", 16, "literal"),
        ("id[eq][ne]:x", 1, "second [operator]"),
        ("status[eq]:ACTIVE && tags[ct]:x", 19, "'&'"),
        (" or ".join(f"id[eq]:d{index:02d}" for index in range(65)), 64 * len("id[eq]:d00 or ") + 1, "64 atoms"),
        ("(" * 17 + "tags[ct]:x" + ")" * 17, 17, "16 levels"),
        (" or ".join(["alias[eq]:" + "x" * 800] * 5) + "x" * 31, 4097, "4096"),
    ],
)
def test_bad_q_is_400_with_the_position(api_client, group, q, position, fragment):
    message = q_error(api_client.get(f"{API}/devices", {"q": q}), position)

    assert fragment in message


def test_q_at_every_limit_accepted(api_client, group):
    atoms = " or ".join(f"id[eq]:s-{index}" for index in range(64))
    nested = "(" * 16 + "tags[ct]:x" + ")" * 16
    long = " or ".join(["alias[eq]:" + "x" * 800] * 5) + " or id[eq]:s-" + "1" * 17

    assert len(long) == 4096
    assert ids(api_client, atoms) == {f"s-{index}" for index in range(1, 7)}
    assert ids(api_client, nested) == {"s-1", "s-2"}
    assert ids(api_client, long) == set()


def test_a_thousand_nots_are_an_answer_not_a_500(api_client, group):
    assert ids(api_client, "not " * 1000 + "tags[ct]:x") == {"s-1", "s-2"}
    assert ids(api_client, "NOT " * 999 + "tags[ct]:x") == ALL - {"s-1", "s-2"}


# --- Values through the API -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected_ids"),
    [
        ("alias[eq]:'Temp Sensor' or alias[eq]:\"Gate 2\"", {"s-1", "s-6"}),
        ("alias[eq]:'Ärger im Kühlraum'", {"s-2"}),
        ('alias[eq]:""', {"s-3"}),
        ("dms_owner[eq]:'' or dms_owner[eq]=dms-a", {"s-3", "s-4", "s-6"}),
        ("status[in]:EXPIRED,REVOKED AND NOT tags[ct]:x", {"s-3", "s-6"}),
        ("status[eq]:active or (tags[ct]:critical and not dms_owner[eq]:lab)", {"s-1", "s-4", "s-6"}),
        ("metadata[jsonpath]:'$.env == \"prod\"' and not identity[jsonpath]:'$.type == \"PSK\"'", {"s-1"}),
        ('metadata[jsonpath]:"$.b == \\"x\\""', {"s-5"}),
        ("identity_slot[jsonpath]:$.type and not identity[jsonpath]:'$.type == \"X509\"'", {"s-2"}),
    ],
)
def test_q_selects_expected_devices(api_client, group, q, expected_ids):
    assert ids(api_client, q) == expected_ids


def test_q_values_hold_colons_and_commas(api_client):
    DeviceFactory(id="urn:x:1", tags=["a:b,c"], alias="a, b: c")
    DeviceFactory(id="other", tags=["a:b"], alias="a")

    assert ids(api_client, "id[eq]:urn:x:1") == {"urn:x:1"}
    assert ids(api_client, "tags[ct]:a:b,c") == {"urn:x:1"}
    assert ids(api_client, "alias[eq]:'a, b: c' or id[in]:other,urn:x:9") == {"urn:x:1", "other"}


# --- not: the truth table ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("atom", "matched"),
    [
        # tags: a device with no tags has no `x`.
        ("tags[ct]:x", {"s-1", "s-2"}),
        ("tags[ct_ic]:X", {"s-1", "s-2"}),
        # JSONPath: `not` holds where `a` is absent (s-3), null (s-5), or of another type (s-4 "1", s-6 [1]).
        ("metadata[jsonpath]:'$.a == 1'", {"s-1"}),
        ("metadata[jsonpath]:'$.a != 1'", {"s-2", "s-5"}),  # null differs from 1; "1" and [1] do not compare
        ("metadata[jsonpath]:'$.a > 1'", {"s-2"}),
        ("metadata[jsonpath]:$.a", ALL - {"s-3"}),
        ("metadata[jsonpath]:'$.a == null'", {"s-5"}),
        ("metadata[jsonpath]:'$.a[*] == 1'", {"s-6"}),
        ("identity[jsonpath]:'$.type == \"X509\"'", {"s-1", "s-6"}),
        # dms_owner: a device of no DMS is not owned by `lab`.
        ("dms_owner[eq]:lab", {"s-1", "s-2", "s-5"}),
        ("dms_owner[ne]:lab", {"s-3", "s-4", "s-6"}),
        ("dms_owner[eq]:''", {"s-3"}),
        # alias: an empty alias contains no `x`.
        ("alias[ct]:x", {"s-5"}),
        ("alias[ct_ic]:ÄRGER", {"s-2"}),
        ("alias[nc]:a", {"s-1", "s-3"}),
        ("status[in]:ACTIVE,EXPIRED", {"s-1", "s-2", "s-4", "s-6"}),
    ],
)
def test_not_atom_matches_exactly_the_devices_the_atom_leaves_out(api_client, group, atom, matched):
    assert ids(api_client, atom) == matched
    assert ids(api_client, f"not {atom}") == ALL - matched
    assert ids(api_client, f"not not {atom}") == matched
    assert ids(api_client, f"not (not ({atom}))") == matched


@pytest.mark.parametrize(
    ("q", "same_as_filter"),
    [
        ("not tags[ct]:x", "tags[nc]:x"),
        ("not tags[ct_ic]:X", "tags[nc_ic]:x"),
        ("not dms_owner[eq]:lab", "dms_owner[ne]:lab"),
        ("not alias[ct]:x", "alias[nc]:x"),
        ("not alias[ct_ic]:ärger", "alias[nc_ic]:ÄRGER"),
        ("not status[in]:ACTIVE,EXPIRED", "status[nin]:ACTIVE,EXPIRED"),
    ],
)
def test_not_atom_is_the_negative_operator(api_client, group, q, same_as_filter):
    assert ids(api_client, q) == listed(api_client, filter=same_as_filter)


PAIRS = [
    ("tags[ct]:x", "metadata[jsonpath]:'$.a == 1'"),
    ("metadata[jsonpath]:'$.a != 1'", "dms_owner[eq]:lab"),
    ("identity[jsonpath]:'$.type == \"X509\"'", "alias[ct_ic]:gate"),
    ("metadata[jsonpath]:$.b", "not tags[ct]:critical"),
]


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_de_morgan(api_client, group, a, b):
    conjunction, disjunction = ids(api_client, f"{a} and {b}"), ids(api_client, f"{a} or {b}")

    assert ids(api_client, f"not ({a} and {b})") == ids(api_client, f"not {a} or not {b}") == ALL - conjunction
    assert ids(api_client, f"not ({a} or {b})") == ids(api_client, f"not {a} and not {b}") == ALL - disjunction


def test_precedence_through_the_api(api_client, group):
    a, b, c = "tags[ct]:x", "status[eq]:EXPIRED", "dms_owner[eq]:dms-a"

    assert ids(api_client, f"{a} or {b} and {c}") == {"s-1", "s-2", "s-6"}
    assert ids(api_client, f"({a} or {b}) and {c}") == {"s-6"}
    assert ids(api_client, f"not {a} and {b}") == {"s-6"}
    assert ids(api_client, f"not ({a} and {b})") == ALL - {"s-2"}


# --- Bookmarks carry q --------------------------------------------------------------------------------------------


def unsigned(bookmark: str) -> dict:
    """What a bookmark carries, without its signature's time (two answers a second apart sign it differently) nor
    the replication position it may carry."""
    return {name: value for name, value in decode_bookmark(bookmark).items() if name != "w"} if bookmark else {}


def walk(client, url, **params) -> list[str]:
    """Every id of a list, page by page: the first page from `params`, every later one from its bookmark alone."""
    body = get(client, url, page_size=1, **params)
    seen = [device["id"] for device in body["list"]]
    while body["next"]:
        body = get(client, url, bookmark=body["next"])
        seen += [device["id"] for device in body["list"]]
    return seen


@pytest.mark.parametrize("route", LIST_ROUTES)
def test_bookmark_alone_carries_q(api_client, group, route):
    url, base = LIST_ROUTES[route][0](group), LIST_ROUTES[route][1]

    assert walk(api_client, url, q=Q, sort_by="id") == sorted(base & Q_IDS)
    assert walk(api_client, url, q=Q, filter=FILTER, sort_by="id", sort_mode="desc") == sorted(
        base & Q_IDS & FILTER_IDS, reverse=True
    )


@pytest.mark.parametrize(
    ("issued", "sent"),
    [
        (Q, "tags[ct]:critical"),
        (Q, "(tags[ct]:critical or tags[ct]:x) and metadata[jsonpath]:$.b"),
        (Q, "tags[ct]:critical or tags[ct]:x and not metadata[jsonpath]:$.b"),  # other precedence
        (Q, "(tags[ct]:CRITICAL or tags[ct]:x) and not metadata[jsonpath]:$.b"),  # tags are case-sensitive
        ("", "tags[ct]:critical"),
    ],
)
def test_bookmark_with_a_different_q_is_400(api_client, group, issued, sent):
    first = get(api_client, f"{API}/devices", q=issued, page_size=1)

    response = api_client.get(f"{API}/devices", {"bookmark": first["next"], "q": sent})

    body = assert_error(response, 400, "validation_error", field="q")
    assert body["fields"][0]["name"] == "q"


@pytest.mark.parametrize(
    "sent",
    [
        Q,
        "(tags[contains]:critical OR tags[CT]=x) AND NOT metadata[jsonpath]:$.b",
        "((tags[ct]:'critical') or (tags[ct]:\"x\")) and (not (metadata[jsonpath]:'$.b'))",
        "(tags[ct]:critical or tags[ct]:x) and not not not metadata[jsonpath]:$.b",
        "  (tags[ct]:critical or tags[ct]:x)\tand not metadata[jsonpath]:$.b  ",
    ],
)
def test_bookmark_accepts_the_same_q_spelled_differently(api_client, group, sent):
    first = get(api_client, f"{API}/devices", q=Q, page_size=1, sort_by="id")
    alone = get(api_client, f"{API}/devices", bookmark=first["next"])

    beside = get(api_client, f"{API}/devices", bookmark=first["next"], q=sent)

    assert beside["list"] == alone["list"]  # (each `next` is signed with the time of its answer)
    assert [device["id"] for device in beside["list"]] == ["s-2"]


def test_bookmark_with_a_bad_q_beside_it_is_400_with_the_position(api_client, group):
    first = get(api_client, f"{API}/devices", q=Q, page_size=1)

    q_error(api_client.get(f"{API}/devices", {"bookmark": first["next"], "q": "tags[ct]:x or"}), 14)


def test_bookmark_with_q_and_an_empty_q_beside_it_serves_the_bookmark(api_client, group):
    first = get(api_client, f"{API}/devices", q=Q, page_size=1, sort_by="id")

    alone = get(api_client, f"{API}/devices", bookmark=first["next"])

    beside = get(api_client, f"{API}/devices", bookmark=first["next"], q="")

    assert beside["list"] == alone["list"] and beside["list"]
    assert unsigned(beside["next"]) == unsigned(alone["next"])


# --- search: id or alias contains the text, ignoring case -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected_ids"),
    [
        ("s-1", {"s-1"}),
        ("S-1", {"s-1"}),  # the id, ignoring case
        ("gate", {"s-4", "s-6"}),  # `gateway`, `Gate 2`
        ("GATE", {"s-4", "s-6"}),
        ("ärger", {"s-2"}),  # `Ärger im Kühlraum`, folded as the _ic filters fold
        ("ÄRGER", {"s-2"}),
        ("KÜHLRAUM", {"s-2"}),
        ("m k", {"s-2"}),
        ("x", {"s-5"}),
        ("%", set()),  # `%` and `_` are literal
        ("_", set()),
        ("nowhere", set()),
    ],
)
def test_search_matches_id_or_alias_ignoring_case(api_client, group, text, expected_ids):
    assert listed(api_client, search=text) == expected_ids


def test_search_folds_non_ascii_ids_too(api_client):
    DeviceFactory(id="ÄRGER-7", alias="")
    DeviceFactory(id="plain", alias="Ärger")
    DeviceFactory(id="other", alias="arger")

    assert listed(api_client, search="ärger") == {"ÄRGER-7", "plain"}
    assert listed(api_client, search="ÄRGER-") == {"ÄRGER-7"}


def test_empty_search_is_absent(api_client, group):
    assert listed(api_client, search="") == ALL


@pytest.mark.parametrize("route", LIST_ROUTES)
def test_search_is_anded_with_q_and_filter_on_every_device_list(api_client, group, route):
    url, base = LIST_ROUTES[route][0](group), LIST_ROUTES[route][1]

    assert listed(api_client, url, search="E") == base & {"s-1", "s-2", "s-4", "s-6"}
    assert listed(api_client, url, search="E", q="tags[ct]:critical") == base & {"s-1", "s-6"}
    assert listed(api_client, url, search="E", q="tags[ct]:critical", filter="status[eq]:ACTIVE") == base & {"s-1"}


@pytest.mark.parametrize("route", LIST_ROUTES)
def test_bookmark_alone_carries_search(api_client, group, route):
    url, base = LIST_ROUTES[route][0](group), LIST_ROUTES[route][1]

    assert walk(api_client, url, search="E", sort_by="id") == sorted(base & {"s-1", "s-2", "s-4", "s-6"})
    assert walk(api_client, url, search="e", q="not tags[ct]:x", sort_by="id") == sorted(base & {"s-4", "s-6"})


def test_bookmark_with_a_different_search_is_400(api_client, group):
    first = get(api_client, f"{API}/devices", search="e", page_size=1)

    response = api_client.get(f"{API}/devices", {"bookmark": first["next"], "search": "gate"})

    assert_error(response, 400, "validation_error", field="search")


def test_bookmark_with_its_own_search_beside_it_is_accepted(api_client, group):
    first = get(api_client, f"{API}/devices", search="e", page_size=1)

    alone = get(api_client, f"{API}/devices", bookmark=first["next"])

    beside = get(api_client, f"{API}/devices", bookmark=first["next"], search="e")

    assert beside["list"] == alone["list"] and beside["list"]
    assert unsigned(beside["next"]) == unsigned(alone["next"])


def test_search_given_twice_is_400(api_client, group):
    assert_error(api_client.get(f"{API}/devices", {"search": ["a", "b"]}), 400, "validation_error", field="search")


@pytest.mark.parametrize("route", STATS_ROUTES)
def test_stats_refuse_search(api_client, group, route):
    # Only device lists take `search`: ignored, it would widen the count.
    assert_error(api_client.get(STATS_ROUTES[route][0](group), {"search": "gate"}), 400, "validation_error", "search")


def test_search_with_nul_is_400(api_client, group):
    assert_error(api_client.get(f"{API}/devices", {"search": "a\x00b"}), 400, "validation_error", field="search")


# --- export_devices --q -----------------------------------------------------------------------------------------


def export(*args) -> list[str]:
    out = io.StringIO()
    call_command("export_devices", *args, stdout=out, stderr=io.StringIO())
    return sorted(json.loads(line)["id"] for line in out.getvalue().splitlines())


def test_export_devices_q_is_anded_with_filter(group):
    assert export("--q", Q) == sorted(Q_IDS)
    assert export("--q", Q, "--filter", FILTER) == sorted(Q_IDS & FILTER_IDS)
    assert export("--q", Q, "--group", str(group.pk), "--filter", "status[ne]:ACTIVE") == ["s-2", "s-6"]
    assert export("--q", "") == sorted(ALL)


@pytest.mark.parametrize(
    ("q", "position"),
    [("tags[ct]:x and", 15), ("(tags[ct]:x", 12), ("tags[ct]:x or colour[eq]:red", 15), ("id[eq]:'x", 8)],
)
def test_export_devices_bad_q_is_a_command_error_with_the_position(group, q, position):
    out = io.StringIO()

    with pytest.raises(CommandError, match=f"bad --q: at character {position}:"):
        call_command("export_devices", "--q", q, stdout=out, stderr=io.StringIO())
    assert out.getvalue() == ""


def test_export_devices_bad_q_exits_non_zero_and_writes_no_rows(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/export.sqlite3", "DJANGO_SECRET_KEY": "test"}
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True)
    subprocess.run([*manage, "seed_devices", "--count", "5"], env=env, check=True, capture_output=True)

    good = subprocess.run([*manage, "export_devices", "--q", "not id[eq]:x"], env=env, capture_output=True, text=True)
    bad = subprocess.run([*manage, "export_devices", "--q", "not (id[eq]:x"], env=env, capture_output=True, text=True)

    assert good.returncode == 0 and len(good.stdout.splitlines()) == 5, good.stderr
    assert bad.returncode != 0
    assert bad.stdout == ""
    assert "CommandError" in bad.stderr and "at character 14:" in bad.stderr and "Traceback" not in bad.stderr
