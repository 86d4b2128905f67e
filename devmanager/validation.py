"""Rules for any text or JSON a client sends, whatever it is for: the API, the admin and the import apply them."""

import unicodedata

# PostgreSQL can store U+0000 in neither text nor JSON: every path refuses it, with this message, on both databases.
NUL_MESSAGE = "must not contain the character U+0000 (NUL)"
# SQLite's JSON functions stop at 1,000 levels, the interpreter's recursion near there: far below both.
MAX_JSON_DEPTH = 100


def json_depth(value) -> int:
    """Nesting depth, computed without recursion so that hostile input cannot exhaust the stack."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def nul_position(value) -> str | None:
    """The JSON Pointer of the first key or string holding U+0000 in a JSON document, or None. PostgreSQL cannot
    store that character, so every JSON a client sends (metadata, slot versions, patch values) is refused with it,
    on both databases alike. Walked without recursion, like `json_depth`."""
    stack = [(value, "")]
    while stack:
        item, pointer = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return pointer
        elif isinstance(item, dict):
            for key, child in item.items():
                child_pointer = f"{pointer}/{_pointer_token(key)}"
                if "\x00" in key:
                    return child_pointer
                stack.append((child, child_pointer))
        elif isinstance(item, list):
            stack.extend((child, f"{pointer}/{index}") for index, child in enumerate(item))
    return None


def _pointer_token(key: str) -> str:
    # RFC 6901 escapes, and the NUL spelled out so that the message shows where it is.
    return key.replace("~", "~0").replace("/", "~1").replace("\x00", "\\u0000")


def json_document_problem(value) -> str | None:
    """What keeps a JSON value a client sent from being stored, or None: nesting deeper than MAX_JSON_DEPTH levels
    (SQLite's JSON functions stop at 1,000), or U+0000 in a key or string, with its JSON Pointer."""
    if json_depth(value) > MAX_JSON_DEPTH:
        return f"nests deeper than {MAX_JSON_DEPTH} levels"
    pointer = nul_position(value)
    if pointer is None:
        return None
    where = f" (at {pointer[:200]})" if pointer else ""
    return f"{NUL_MESSAGE}{where}"


def path_segment_problem(value: str, reserved: set[str]) -> str | None:
    """What keeps a text from naming something in one path segment (a device id, a DMS id), or None. U+0000 is the
    text field's own refusal (NUL_MESSAGE): not reported twice."""
    if "/" in value:
        return "must not contain '/'"
    if any(unicodedata.category(char) == "Cc" and char != "\x00" for char in value):
        return "must not contain control characters"
    if value in reserved:
        return f"{value!r} is reserved"
    return None


RESERVED_DMS_IDS = {".", ".."}


def dms_id_problem(value: str) -> str | None:
    """A DMS id names the list `/devices/dms/{dms_id}`: like a device id, it must fit in one path segment."""
    return path_segment_problem(value, RESERVED_DMS_IDS)
