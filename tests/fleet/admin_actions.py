"""Driving the device list's fleet actions in the admin as a browser does: the action, its confirmation page, and
the confirmation that starts the job."""

from django.urls import reverse

DEVICE_CHANGELIST = reverse("admin:devices_device_changelist")


def action_page(client, action: str, selected: list[str], *, select_across: bool = False, query: str = ""):
    """The action posted from the list (`query`: the list's filters and search): its confirmation page."""
    data = {"action": f"fleet_{action}", "_selected_action": selected, "select_across": "1" if select_across else "0",
            "index": "0"}  # fmt: skip
    return client.post(f"{DEVICE_CHANGELIST}{query}", data)


def confirm(client, page, **params):
    """The confirmation page's form posted back, with the action's parameters."""
    context = page.context
    data = {
        "action": context["action"],
        "_selected_action": context["selected"],
        "select_across": context["select_across"],
        "shown": context["shown"],
        "_confirm": "start",
        **params,
    }
    return client.post(page.request["PATH_INFO"] + _query(page), data)


def start_action(client, action: str, selected: list[str], *, select_across=False, query="", **params):
    page = action_page(client, action, selected, select_across=select_across, query=query)
    assert page.status_code == 200, page.content[:500]
    response = confirm(client, page, **params)
    assert response.status_code == 302, response.content[:2000]
    return response


def _query(response) -> str:
    query = response.request.get("QUERY_STRING", "")
    return f"?{query}" if query else ""
