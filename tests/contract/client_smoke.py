"""The generated client works: through its typed functions only, the bootstrap admin logs in,
draws a site with a circular geofence and adds an employee assigned to it; the employee logs
in and checks in at the geofence's centre, which must be recorded as accepted and inside it.

.ci/contract generates `muster_client` from the served document and runs this against a
fresh server. Environment: MUSTER_URL, MUSTER_ADMIN_EMAIL, MUSTER_ADMIN_PASSWORD.
"""

import os
import sys
import uuid
from datetime import datetime, timezone
from http import HTTPStatus

from muster_client import AuthenticatedClient, Client
from muster_client.api.attendance import record_event
from muster_client.api.auth import login
from muster_client.api.geofences import create_geofence, create_site
from muster_client.api.users import create_user, get_me
from muster_client.models import (
    CreateFence,
    CreateFenceGeometry,
    CreateSite,
    CreateUser,
    Device,
    EventBody,
    EventView,
    Kind,
    LocationBody,
    Login,
    Provider,
    Role,
    Site,
    Status,
    StoredFence,
    Tokens,
    User,
    Verdict,
)

BASE = os.environ["MUSTER_URL"]
CENTRE = (77.5946, 12.9716)  # lon, lat
PASSWORD = "client-smoke-employee-password"


def expect(response, status, kind):
    """The parsed answer of a call that must be `status` with a `kind` body."""
    assert response.status_code == status, f"{response.status_code}: {response.content!r}"
    assert isinstance(response.parsed, kind), f"parsed as {type(response.parsed).__name__}"
    return response.parsed


def sign_in(email, password):
    answer = login.sync_detailed(client=Client(base_url=BASE), body=Login(email=email, password=password))
    tokens = expect(answer, HTTPStatus.OK, Tokens)
    assert tokens.token_type == "Bearer"
    return AuthenticatedClient(base_url=BASE, token=tokens.access_token)


def main():
    admin = sign_in(os.environ["MUSTER_ADMIN_EMAIL"], os.environ["MUSTER_ADMIN_PASSWORD"])
    me = get_me.sync_detailed(client=admin)
    assert me.status_code == HTTPStatus.OK and Role.ORG_ADMIN in me.parsed.roles, me.content

    site = expect(
        create_site.sync_detailed(client=admin, body=CreateSite(name="Smoke HQ", timezone="Asia/Kolkata")),
        HTTPStatus.CREATED, Site)
    circle = CreateFenceGeometry.from_dict({"type": "Circle", "center": list(CENTRE), "radius_m": 150})
    fence = expect(
        create_geofence.sync_detailed(client=admin, body=CreateFence(site_id=site.id, name="Smoke gate", geometry=circle)),
        HTTPStatus.CREATED, StoredFence)
    assert fence.version == 1 and fence.active

    employee = expect(
        create_user.sync_detailed(client=admin, body=CreateUser(
            email="smoke.employee@example.com", name="Smoke Employee", employee_code="SMOKE-1",
            roles=[Role.EMPLOYEE], site_ids=[site.id], password=PASSWORD)),
        HTTPStatus.CREATED, User)

    phone = sign_in(employee.email, PASSWORD)
    event = EventBody(
        client_event_id=uuid.uuid4(),
        kind=Kind.CHECK_IN,
        captured_at=datetime.now(timezone.utc).isoformat(),
        location=LocationBody(lon=CENTRE[0], lat=CENTRE[1], accuracy_m=8.0, provider=Provider.GPS, is_mock=False),
        device=Device(id="smoke-phone", model="Pixel 8", os="android", os_version="15", app_version="3.2.1"),
    )
    recorded = expect(record_event.sync_detailed(client=phone, body=event), HTTPStatus.CREATED, EventView)
    assert recorded.user_id == employee.id and recorded.client_event_id == event.client_event_id
    assert recorded.kind == Kind.CHECK_IN
    assert recorded.status == Status.ACCEPTED, recorded
    decision = recorded.decision
    assert decision.verdict == Verdict.INSIDE, decision
    assert decision.geofence_id == fence.id and decision.geofence_version == 1, decision
    assert decision.site_id == site.id and decision.reasons == [], decision
    assert decision.distance_m == 0, decision
    assert not recorded.location_redacted and recorded.location is not None

    print(f"client smoke: {event.kind.value} {recorded.id} {recorded.status.value}, "
          f"{decision.verdict.value} {fence.name!r}")


if __name__ == "__main__":
    sys.exit(main())
