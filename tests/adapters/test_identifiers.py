"""adapters/identifiers.py on its own: the Luhn check, the normalisation of IMEIs, EUIs and UUIDs, and the path forms
of contract section 3 ("Device identifiers") with everything malformed refused."""

import pytest

from adapters.identifiers import (
    luhn_valid,
    normalise_eui,
    normalise_imei,
    normalise_uuid,
    parse_device_identifier,
)

IMEI = "490154203237518"
IMEI_BAD_CHECK = "490154203237519"
IMEISV = "3569380356438091"
DEV_EUI = "0004A30B001C0530"
DVN = "7C9E6679-7425-40DE-944B-E07FC1F90AE7"


# --- Luhn -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("digits", [IMEI, "356938035643809", "000000000000000", "79927398713", "0"])
def test_luhn_valid_accepts_correct_check_digit(digits):
    assert luhn_valid(digits)


@pytest.mark.parametrize("digits", [IMEI_BAD_CHECK, "356938035643808", "79927398710", "1"])
def test_luhn_valid_rejects_wrong_check_digit(digits):
    assert not luhn_valid(digits)


def test_luhn_valid_every_wrong_check_digit_rejected():
    body = IMEI[:-1]

    assert [digit for digit in "0123456789" if luhn_valid(body + digit)] == [IMEI[-1]]


# --- IMEI -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("imei", [IMEI, "356938035643809", "000000000000000"])
def test_normalise_imei_accepts_15_digits_with_valid_luhn(imei):
    assert normalise_imei(imei) == imei


@pytest.mark.parametrize("imeisv", [IMEISV, "3569380356438090", "0000000000000001"])
def test_normalise_imei_accepts_16_digits_without_luhn(imeisv):
    assert normalise_imei(imeisv) == imeisv


@pytest.mark.parametrize("imei", [IMEI_BAD_CHECK, "356938035643808"])
def test_normalise_imei_rejects_15_digits_with_bad_luhn(imei):
    with pytest.raises(ValueError, match="Luhn"):
        normalise_imei(imei)


@pytest.mark.parametrize(
    "imei",
    [
        "",
        "49015420323751",  # 14 digits
        "49015420323751800",  # 17 digits
        "49015420323751a",
        "4901542032375-8",
        "+490154203237518",
        "4901 5420323 7518",
        "٤٩٠١٥٤٢٠٣٢٣٧٥١٨",  # Arabic-Indic digits
        "490154203237518\x00",
    ],
)
def test_normalise_imei_rejects_wrong_length_or_non_digits(imei):
    with pytest.raises(ValueError, match="15 or 16 digits"):
        normalise_imei(imei)


# --- EUI ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("eui", [DEV_EUI, DEV_EUI.lower(), "0004a30B001C0530"])
def test_normalise_eui_lower_cases(eui):
    assert normalise_eui(eui) == "0004a30b001c0530"


@pytest.mark.parametrize(
    "eui",
    [
        "",
        DEV_EUI[:-1],  # 15 hex digits
        DEV_EUI + "0",  # 17 hex digits
        "0004A30B001C053G",
        "0x04A30B001C0530",
        "00-04-A3-0B-00-1C-05-30",
        "00:04:A3:0B:00:1C:05:30",
    ],
)
def test_normalise_eui_rejects_anything_but_16_hex_digits(eui):
    with pytest.raises(ValueError, match="16 hexadecimal digits"):
        normalise_eui(eui)


# --- UUID -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [DVN, DVN.lower(), "7c9e6679-7425-40DE-944b-e07fc1f90ae7"])
def test_normalise_uuid_canonical_lower_case(value):
    assert normalise_uuid(value) == "7c9e6679-7425-40de-944b-e07fc1f90ae7"


@pytest.mark.parametrize("value", ["", "not-a-uuid", DVN[:-1], DVN + "0", DVN.replace("7", "g", 1)])
def test_normalise_uuid_rejects_non_uuids(value):
    with pytest.raises(ValueError, match="UUID"):
        normalise_uuid(value)


def test_normalise_uuid_rejects_non_strings():
    with pytest.raises(ValueError, match="UUID"):
        normalise_uuid(None)


# --- Path identifiers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"imei:{IMEI}", ("imei", IMEI)),
        (f"imei:{IMEISV}", ("imei", IMEISV)),
        (f"IMEI:{IMEI}", ("imei", IMEI)),
        (f"Imei:{IMEI}", ("imei", IMEI)),
        (f"urn:dev:imei:{IMEI}", ("imei", IMEI)),
        (f"urn:dev:imei:{IMEI}:", ("imei", IMEI)),
        (f"URN:DEV:IMEI:{IMEISV}:", ("imei", IMEISV)),
        (f"deveui:{DEV_EUI}", ("dev_eui", DEV_EUI.lower())),
        (f"DEVEUI:{DEV_EUI.lower()}", ("dev_eui", DEV_EUI.lower())),
        (f"DevEui:{DEV_EUI}", ("dev_eui", DEV_EUI.lower())),
        (f"urn:dev:deveui:{DEV_EUI}", ("dev_eui", DEV_EUI.lower())),
        (f"urn:dev:deveui:{DEV_EUI}:", ("dev_eui", DEV_EUI.lower())),
        (f"Urn:Dev:DevEUI:{DEV_EUI.lower()}:", ("dev_eui", DEV_EUI.lower())),
        (f"dvnuuid:{DVN}", ("dvn_uuid", DVN.lower())),
        (f"DVNUUID:{DVN.lower()}", ("dvn_uuid", DVN.lower())),
        (f"urn:dev:dvnuuid:{DVN}", ("dvn_uuid", DVN.lower())),
        (f"urn:dev:dvnuuid:{DVN.lower()}:", ("dvn_uuid", DVN.lower())),
        (f"URN:DEV:DVNUUID:{DVN}:", ("dvn_uuid", DVN.lower())),
    ],
)
def test_parse_device_identifier_every_form_and_case(text, expected):
    assert parse_device_identifier(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # plain device ids and other kinds
        "device-1",
        "",
        IMEI,
        f"msisdn:{IMEI}",
        f"urn:dev:mac:{DEV_EUI}",
        f"urn:dev:ops:{IMEI}",
        # a trailing ':' only on the URN forms, and only one
        f"imei:{IMEI}:",
        f"deveui:{DEV_EUI}:",
        f"dvnuuid:{DVN}:",
        f"urn:dev:imei:{IMEI}::",
        f"urn:dev:deveui:{DEV_EUI}::",
        # missing or extra pieces
        "imei:",
        "urn:dev:imei:",
        "urn:dev:imei::",
        "urn:dev:imei",
        f"imei{IMEI}",
        f"imei::{IMEI}",
        f"imei:imei:{IMEI}",
        f"urn:imei:{IMEI}",
        f"dev:imei:{IMEI}",
        f"urn:dev:urn:dev:imei:{IMEI}",
        f"xurn:dev:imei:{IMEI}",
        f"ximei:{IMEI}",
        f"urn:dev:imei:{IMEI}:x",
        f"urn:dev:imei:{IMEI[:7]}:{IMEI[7:]}",
        # whitespace is not part of any form
        f" imei:{IMEI}",
        f"imei: {IMEI}",
        f"imei:{IMEI} ",
        f"imei:{IMEI}\n",
        f"urn:dev:deveui:{DEV_EUI}\t:",
        f"imei:\u00a0{IMEI}",
        f"dvnuuid:{DVN}\u2003",
        # digits of other scripts, braces
        "imei:٤٩٠١٥٤٢٠٣٢٣٧٥١٨",
        "dvnuuid:\uff17c9e6679-7425-40de-944b-e07fc1f90ae7",
        f"dvnuuid:{{{DVN}}}",
        # only ASCII letters match case-insensitively (these fold to `i`)
        f"\u0130mei:{IMEI}",
        f"\u0131mei:{IMEI}",
        f"devEu\u0131:{DEV_EUI}",
        f"urn:dev:dvnuu\u0130d:{DVN}",
        # malformed values
        f"imei:{IMEI_BAD_CHECK}",
        "imei:49015420323751",
        "imei:49015420323751800",
        "imei:49015420323751a",
        f"deveui:{DEV_EUI[:-1]}",
        f"deveui:{DEV_EUI}0",
        "deveui:0004A30B001C053G",
        "dvnuuid:not-a-uuid",
        f"dvnuuid:{DVN[:-1]}",
        f"urn:dev:imei:{IMEI_BAD_CHECK}",
        "urn:dev:deveui:xyz:",
        f"imei:{IMEI}\x00",
    ],
)
def test_parse_device_identifier_malformed_is_none(text):
    assert parse_device_identifier(text) is None
