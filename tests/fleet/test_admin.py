"""The fleet actions in the admin: the device list's actions over the selected devices or all that the list keeps,
their count shown before the operator confirms, the same jobs as the API's; the job pages and their progress."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from devices import services
from devices.choices import DeviceStatus, EventType
from devices.models import Device, DeviceEvent
from fleet.models import Job, JobStatus
from groups import services as group_services
from tests.factories import DeviceFactory
from tests.fleet.admin_actions import action_page, confirm, start_action
from tests.fleet.helpers import make_devices, run_jobs

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_decommission_of_the_selected_devices(admin_client, admin_user):
    chosen = make_devices(2)
    spared = DeviceFactory()

    page = action_page(admin_client, "decommission", chosen)

    assert page.status_code == 200
    assert page.context["count"] == 2 and page.context["sample"] == chosen
    assert b"will act on <strong>2</strong> devices" in page.content
    assert Job.objects.count() == 0  # nothing before the confirmation

    response = confirm(admin_client, page)
    job = Job.objects.get()
    assert response["Location"] == reverse("admin:fleet_job_change", args=[job.pk])
    assert (job.action, job.actor, job.limit, job.q) == (
        "decommission", f"admin:{admin_user.username}", 2, "id[eq]:d-000 or id[eq]:d-001",
    )  # fmt: skip
    run_jobs()
    for device_id in chosen:
        assert Device.objects.get(pk=device_id).status == DeviceStatus.DECOMMISSIONED
        event = DeviceEvent.objects.get(device_id=device_id, type=EventType.DECOMMISSIONED)
        assert event.source == admin_user.username
    assert Device.objects.get(pk=spared.pk).status == DeviceStatus.NO_IDENTITY


def test_a_decommissioned_device_is_left_as_it_is(admin_client):
    make_devices(1)
    services.device_decommission(device_id="d-000", source="earlier")
    version = Device.objects.get(pk="d-000").version

    start_action(admin_client, "decommission", ["d-000"])
    run_jobs()

    assert Device.objects.get(pk="d-000").version == version
    assert Job.objects.get().succeeded == 1


def test_an_unusual_id(admin_client):
    DeviceFactory(id='Gerät 100% #1_x "quoted"')

    start_action(admin_client, "decommission", ['Gerät 100% #1_x "quoted"'])
    run_jobs()

    assert Device.objects.get(pk='Gerät 100% #1_x "quoted"').status == DeviceStatus.DECOMMISSIONED


def test_add_tag_asks_for_the_tag(admin_client):
    make_devices(2, tags=["a"])
    page = action_page(admin_client, "add_tags", ["d-000"])

    missing = confirm(admin_client, page)
    assert missing.status_code == 200 and missing.context["form"].errors
    assert Job.objects.count() == 0

    confirm(admin_client, page, tag="w7")
    run_jobs()
    assert Device.objects.get(pk="d-000").tags == ["a", "w7"]
    assert Device.objects.get(pk="d-001").tags == ["a"]


def test_a_parameter_the_action_refuses_is_shown_on_its_field(admin_client):
    make_devices(1)
    page = action_page(admin_client, "set_dms", ["d-000"])

    refused = confirm(admin_client, page, dms_id="a/b")

    assert refused.status_code == 200
    assert refused.context["form"].errors["dms_id"] == ["params.dms_id: must not contain '/'"]
    assert Job.objects.count() == 0


def test_remove_tag_and_set_dms(admin_client):
    make_devices(2, tags=["a", "b"])

    start_action(admin_client, "remove_tags", ["d-000", "d-001"], tag="a")
    start_action(admin_client, "set_dms", ["d-001"], dms_id="dms-x")
    run_jobs()

    assert list(Device.objects.order_by("pk").values_list("tags", "dms_owner")) == [(["b"], ""), (["b"], "dms-x")]


def test_all_that_the_filters_and_the_expression_keep(admin_client):
    make_devices(3, prefix="a", dms_owner="east", tags=["x"])
    make_devices(2, prefix="b", dms_owner="east")
    make_devices(2, prefix="c", dms_owner="west", tags=["x"])
    query = "?dms_owner=east&q=tags%5Bct%5D%3Ax"

    page = action_page(admin_client, "set_dms", ["a-000"], select_across=True, query=query)

    assert page.context["count"] == 3
    confirm(admin_client, page, dms_id="north")
    job = Job.objects.get()
    assert (job.filter, job.q) == ([], "dms_owner[eq]:east and tags[ct]:x")
    run_jobs()
    assert sorted(Device.objects.filter(dms_owner="north").values_list("pk", flat=True)) == ["a-000", "a-001", "a-002"]


def test_the_status_and_group_filters_are_applied_too(admin_client):
    make_devices(2, prefix="s", tags=["sensor"])
    make_devices(2, prefix="g", tags=["gateway"])
    services.device_decommission(device_id="s-001", source="test")
    group = group_services.group_create(
        name="Sensors", criteria=[{"field": "tags", "operand": "ct", "value": "sensor"}], actor="test"
    )
    query = f"?group={group.pk}&status__exact=NO_IDENTITY"

    page = action_page(admin_client, "add_tags", ["s-000"], select_across=True, query=query)

    assert page.context["count"] == 1
    confirm(admin_client, page, tag="live")
    run_jobs()
    assert Device.objects.get(pk="s-000").tags == ["sensor", "live"]
    assert [device_id for device_id, tags in Device.objects.values_list("pk", "tags") if "live" in tags] == ["s-000"]


def test_a_search_by_text_cannot_be_a_selection(admin_client):
    make_devices(2)

    response = action_page(admin_client, "decommission", ["d-000"], select_across=True, query="?q=d-00")

    assert response.status_code == 302
    assert any("search by text" in message for message in messages_of(response))
    assert Job.objects.count() == 0


def test_a_selection_that_grew_after_the_page_fails_the_job(admin_client):
    make_devices(2, tags=["x"])
    page = action_page(admin_client, "decommission", ["d-000"], select_across=True, query="?q=tags%5Bct%5D%3Ax")
    make_devices(1, prefix="late", tags=["x"])

    confirm(admin_client, page)
    run_jobs()

    job = Job.objects.get()
    assert job.status == JobStatus.FAILED and "more than the 2" in job.message
    assert Device.objects.filter(status=DeviceStatus.DECOMMISSIONED).count() == 0


def test_delete_with_and_without_force(admin_client):
    make_devices(2)
    services.device_decommission(device_id="d-000", source="test")

    start_action(admin_client, "delete", ["d-000", "d-001"])
    run_jobs()
    assert list(Device.objects.values_list("pk", flat=True)) == ["d-001"]

    start_action(admin_client, "delete", ["d-001"], force="on")
    run_jobs()
    assert Device.objects.count() == 0


def test_delete_needs_the_delete_permission(client, django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("operator", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_device", "change_device"]))
    client.force_login(user)

    actions = client.get(reverse("admin:devices_device_changelist")).context["action_form"].fields["action"].choices
    names = [name for name, _ in actions]

    assert "fleet_add_tags" in names and "fleet_delete" not in names


def test_the_job_pages_show_progress_and_errors(admin_client):
    make_devices(3)
    start_action(admin_client, "delete", ["d-000", "d-001", "d-002"])
    job = Job.objects.get()

    listing = admin_client.get(reverse("admin:fleet_job_changelist"))
    assert listing.status_code == 200
    assert f'data-job="{job.pk}" data-finished="false"'.encode() in listing.content
    assert b"fleet/progress.js" in listing.content
    queued = admin_client.get(reverse("admin:fleet_job_progress"), {"id": [str(job.pk), "nonsense"]}).json()
    assert queued[str(job.pk)]["status"] == "queued" and not queued[str(job.pk)]["finished"]

    run_jobs()

    done = admin_client.get(reverse("admin:fleet_job_progress"), {"id": str(job.pk)}).json()[str(job.pk)]
    assert (done["status"], done["finished"], done["percent"]) == ("succeeded", True, 100)
    assert "3 / 3" in done["text"] and "3 failed" in done["text"]
    page = admin_client.get(reverse("admin:fleet_job_change", args=[job.pk]))
    assert page.status_code == 200
    assert b"decommission it first" in page.content
    assert b'<span class="long-value" title="d-000">d-000</span>' in page.content  # cut short when long, whole on hover


def test_cancelling_from_the_job_list(admin_client):
    make_devices(2)
    start_action(admin_client, "decommission", ["d-000", "d-001"])
    job = Job.objects.get()

    response = admin_client.post(
        reverse("admin:fleet_job_changelist"), {"action": "cancel", "_selected_action": [str(job.pk)]}
    )

    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_a_confirmation_whose_selection_was_tampered_with_starts_no_job(admin_client):
    make_devices(2, tags=["x"])
    page = action_page(admin_client, "decommission", ["d-000"], select_across=True, query="?q=tags%5Bct%5D%3Ax")
    context = page.context
    forged = context["shown"].replace(context["shown"][-3:], "abc" if context["shown"][-3:] != "abc" else "abd")

    response = admin_client.post(
        page.request["PATH_INFO"] + "?q=tags%5Bct%5D%3Ax",
        {"action": context["action"], "_selected_action": context["selected"], "select_across": "1",
         "shown": forged, "_confirm": "start"},
    )  # fmt: skip

    assert response.status_code == 302
    assert any("has expired" in message for message in messages_of(response))
    assert Job.objects.count() == 0
    assert Device.objects.filter(status=DeviceStatus.DECOMMISSIONED).count() == 0
