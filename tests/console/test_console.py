"""The web console driven in headless Chromium against a real muster server.

Every assertion is on what the page shows (or what the browser did); the API is used only
to seed each server the way an organisation would have set it up.
"""

import csv
import io
import json
import re
import time
import urllib.parse

import pytest
from selenium.webdriver.common.action_chains import ActionChains

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api

CENTER = (12.97, 77.59)  # lat, lon: Bangalore
# A square of about 1.1 km around CENTER, as the API takes it ([lon, lat]).
CAMPUS = {"type": "Polygon", "coordinates": [[
    [77.585, 12.965], [77.595, 12.965], [77.595, 12.975], [77.585, 12.975], [77.585, 12.965]]]}


def seed_site(api):
    admin = api.admin()
    site = api.call("POST", "/v1/sites", admin, {"name": "HQ", "timezone": "Asia/Kolkata"}, expect=201)
    fence = api.call("POST", "/v1/geofences", admin,
                     {"site_id": site["id"], "name": "Campus", "geometry": CAMPUS}, expect=201)
    return admin, site, fence


class MapMouse:
    """Clicks and drags on the map at pixel positions relative to its top-left corner."""

    def __init__(self, page):
        self.page = page
        self.map = page.find("#map")

    def _offset(self, x, y):
        size = self.map.size
        return x - size["width"] / 2, y - size["height"] / 2

    def click(self, x, y):
        dx, dy = self._offset(x, y)
        ActionChains(self.page.driver).move_to_element_with_offset(self.map, dx, dy).pause(0.15).click().perform()
        time.sleep(0.15)

    def drag(self, x, y, to_x, to_y):
        dx, dy = self._offset(x, y)
        ActionChains(self.page.driver).move_to_element_with_offset(self.map, dx, dy).pause(0.2) \
            .click_and_hold().pause(0.2).move_by_offset((to_x - x) / 2, (to_y - y) / 2).pause(0.1) \
            .move_by_offset((to_x - x) / 2, (to_y - y) / 2).pause(0.2).release().perform()
        time.sleep(0.2)

    def settled(self, css):
        """The element once the map has stopped moving (zooms and pans are animated)."""
        last = None
        for _ in range(50):
            element = self.page.visible(css)
            box = self.box(element)
            if box == last:
                return element
            last = box
            time.sleep(0.3)
        raise AssertionError(f"{css} never stopped moving")

    def box(self, element):
        """An element's rectangle relative to the map: (left, top, width, height)."""
        m, r = self.map.rect, element.rect
        return r["x"] - m["x"], r["y"] - m["y"], r["width"], r["height"]

    def center_of(self, element):
        left, top, width, height = self.box(element)
        return left + width / 2, top + height / 2

    def polygon(self, points):
        """Draws a polygon vertex by vertex and closes it on its first vertex."""
        self.page.find("#draw-polygon").click()
        for x, y in points:
            self.click(x, y)
        self.click(*points[0])


def test_sign_in_keeps_tokens_in_memory_refreshes_them_and_signs_out(spawn, page):
    # Access tokens live 2 s: every request of the page after the first needs a refresh.
    server = spawn(MUSTER_ACCESS_TOKEN_TTL_S=2)
    seed_site(Api(server.url))
    page.open(server.url + "/console")
    page.visible("#sign-in-form")
    assert page.driver.current_url == server.url + "/console/"
    page.shot("sign-in")

    page.find("#email").send_keys(ADMIN_EMAIL)
    page.find("#password").send_keys("not the password")
    page.find("#sign-in-button").click()
    page.text("#sign-in-error", "Wrong email or password.")
    assert page.find("#workspace").is_displayed() is False

    page.find("#password").clear()
    page.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    page.text("#who", "Administrator · Default")
    page.text("#fence-list", "Campus")
    assert page.find("#password").get_attribute("value") == ""

    stored = page.driver.execute_script(
        "return [localStorage.length, sessionStorage.length, document.cookie, location.href]")
    assert stored[:3] == [0, 0, ""], f"something was stored: {stored}"
    assert "#" not in stored[3] or "token" not in stored[3]

    # Past the token's lifetime, the page still works: it refreshed.
    time.sleep(2.5)
    page.find("#fence-list li button").click()
    page.text("#version-list", "Version 1")
    page.text("#fence-meta", "Polygon, 4 positions")

    page.find("#sign-out").click()
    page.text("#sign-in-error", "Signed out.")
    assert "Campus" not in page.find("body").text, "the signed-out page still shows data"

    requests, statuses = page.network()
    urls = [url for url, _ in requests]
    refreshes = [url for url, method in requests if url.endswith("/v1/auth/refresh") and method == "POST"]
    assert refreshes, "the page never refreshed its token"
    assert all(statuses.get(url) == 200 for url in refreshes)
    logout = server.url + "/v1/auth/logout"
    assert (logout, "POST") in requests and statuses[logout] == 204
    for url in urls:
        assert url.startswith(server.url + "/") or url.startswith("data:"), f"third-party request: {url}"
        assert "eyJ" not in url and "token" not in urllib.parse.urlsplit(url).query, f"token in a URL: {url}"


def test_a_token_the_server_refuses_is_refreshed_once_and_the_request_retried(spawn, page):
    # The server restarts with a new signing key (same database, same address): the page's
    # access token, still fresh by its clock, is refused; its refresh token is not.
    first = spawn(MUSTER_JWT_SECRET="first-signing-secret-of-at-least-32-bytes")
    _, _, fence = seed_site(Api(first.url))
    page.open(first.url + "/console/")
    page.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    page.text("#fence-list", "Campus")
    first.stop()
    second = spawn(MUSTER_JWT_SECRET="second-signing-secret-of-at-least-32-bytes",
                   MUSTER_LISTEN=f"127.0.0.1:{first.port}",
                   MUSTER_DATABASE_URL=f"sqlite://{first.directory / 'muster.db'}")
    assert second.url == first.url
    seen = len(page.answers())
    page.find("#fence-list li button").click()

    def api_answers():
        return [(urllib.parse.urlsplit(url).path, status) for url, status in page.answers()[seen:]
                if url.startswith(second.url + "/v1/")]
    page.until(lambda: len(api_answers()) >= 3, "no retry after a 401")
    versions = f"/v1/geofences/{fence['id']}/versions"
    assert api_answers() == [(versions, 401), ("/v1/auth/refresh", 200), (versions, 200)], api_answers()
    page.text("#version-list", "Version 1")
    assert page.find("#workspace").is_displayed(), "the session ended"


def test_draw_validate_simulate_save_edit_and_test_points(spawn, page):
    server = spawn()
    api = Api(server.url)
    admin, site, campus = seed_site(api)
    # Three people checked in today inside Campus: one in the middle, two near its corners.
    for i, (lat, lon) in enumerate([CENTER, (12.9662, 77.5862), (12.9738, 77.5938)]):
        email = f"e{i}@example.com"
        api.user(admin, email, f"Employee {i}", ["employee"], site_ids=[site["id"]])
        assert api.check_in(email, lat, lon)["decision"]["verdict"] == "inside"

    page.open(server.url + "/console/")
    page.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    page.text("#site-select", "HQ (Asia/Kolkata)")
    page.text("#fence-list", "Campus")
    mouse = MapMouse(page)
    fence = mouse.settled("path.fence")
    left, top, width, height = mouse.box(fence)
    assert width > 200 and height > 200, "the map did not zoom to the site's fence"

    # A bow-tie drawn by mouse to the right of Campus: its edges cross.
    x0 = left + width + 60
    bow = [(x0, top + 40), (x0 + 160, top + 40), (x0, top + 200), (x0 + 160, top + 200)]
    mouse.polygon(bow)
    page.visible("#draft")
    page.text("#draft-title", "New geofence")
    page.text("#draft-shape", "Polygon, 4 positions")
    page.find("#draft-name").send_keys("Annex")
    page.find("#save").click()

    tip = page.visible(".error-tip")
    assert "self-intersection" in tip.text
    assert re.search(r"geometry\.coordinates\[0\]\[\d\]", tip.text), tip.text
    # The pin stands where the edges cross: the middle of the bow-tie.
    pin_x, pin_y = mouse.center_of(page.find(".error-pin"))
    assert abs(pin_x - (x0 + 80)) < 4 and abs(pin_y - (top + 120)) < 4, (pin_x, pin_y, x0, top)
    page.text("#draft-errors", "self-intersection")
    page.text("#status", "Not saved: one problem")
    page.shot("geofence-editor-validation-error")

    # Drawn again, as a proper quadrilateral: the errors go, and it saves as version 1.
    square = [(x0, top + 40), (x0 + 160, top + 40), (x0 + 160, top + 200), (x0, top + 200)]
    mouse.polygon(square)
    page.until(lambda: not page.all(".error-pin"), "the old error pins stayed")
    page.text("#draft-shape", "Polygon, 4 positions")
    assert page.find("#draft-name").get_attribute("value") == "Annex"
    page.find("#save").click()
    page.text("#status", "Saved Annex (version 1)")
    page.text("#fence-list", "Annex")
    page.text("#fence-title", "Annex")

    # Edit: drag one vertex outwards, and cut a hole into it.
    page.find("#edit-fence").click()
    page.text("#draft-title", "Edit Annex (version 1)")
    left, top, width, height = mouse.box(mouse.settled("path.draft"))
    markers = page.until(lambda: [m for m in page.all(".marker-icon:not(.marker-icon-middle)") if m.is_displayed()],
                         "no vertex handles")
    assert len(markers) == 4
    corner = mouse.center_of(markers[2])
    mouse.drag(*corner, corner[0] + 40, corner[1] + 30)
    page.find("#cut-hole").click()
    hole = [(left + width * f, top + height * g) for f, g in [(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6)]]
    for x, y in hole:
        mouse.click(x, y)
    mouse.click(*hole[0])
    page.text("#draft-shape", "1 hole")
    page.find("#save").click()
    page.text("#simulation", "0 of 3 past check-ins of the last 30 days")
    page.find("#confirm-save").click()
    page.text("#status", "Saved Annex (version 2)")
    page.text("#fence-meta", "Polygon, 8 positions, 1 hole")
    page.text("#version-list", "Version 2")
    page.text("#version-list", "Version 1")

    # Campus: made a small circle at its centre. The simulation says what that would have
    # done to today's check-ins before anything is saved.
    page.find("#fence-list li[data-fence-id='%s'] button" % campus["id"]).click()
    page.text("#fence-title", "Campus")
    page.find("#edit-fence").click()
    page.text("#draft-title", "Edit Campus (version 1)")
    fence = mouse.settled("path.draft")
    cx, cy = mouse.center_of(fence)
    _, _, width, _ = mouse.box(fence)
    page.find("#draw-circle").click()
    mouse.click(cx, cy)
    mouse.click(cx + width / 8, cy)
    page.text("#draft-shape", "Circle, radius")
    page.find("#save").click()
    page.text("#simulation", "2 of 3 past check-ins of the last 30 days would get another verdict")
    assert page.find("#confirm-save").is_displayed()
    assert api.call("GET", f"/v1/geofences/{campus['id']}", admin)["version"] == 1, "saved before confirming"
    page.find("#confirm-save").click()
    page.text("#status", "Saved Campus (version 2)")
    page.text("#fence-meta", "Circle, radius")

    # Test a point: inside the circle, and outside it with the distance.
    page.find("#test-point").click()
    circle = mouse.settled("path.fence")
    cx, cy = mouse.center_of(circle)
    mouse.click(cx, cy)
    popup = page.visible(".test-popup")
    assert "inside" in popup.text and "Campus (version 2)" in popup.text, popup.text
    assert "0 m from the boundary" in popup.text
    mouse.click(cx + 300, cy)
    page.text(".test-popup", "outside")
    distance = re.search(r"([\d.]+) m from the nearest boundary", page.find("#test-result").text)
    assert distance and float(distance.group(1)) > 50, page.find("#test-result").text
    assert "outside_geofence" in page.find("#test-result").text
    page.find("#test-point").click()

    # Retire Annex.
    page.find_text("#fence-list button", "Annex").click()
    page.text("#fence-title", "Annex")
    page.find("#retire-fence").click()
    page.find("#confirm-retire").click()
    page.text("#status", "Retired Annex (version 3)")
    page.text("#fence-list", "retired")


def test_import_pins_errors_of_the_file_then_imports(spawn, page, tmp_path):
    server = spawn()
    seed_site(Api(server.url))
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "Gate"},
         "geometry": {"type": "Circle", "center": [77.6, 12.98], "radius_m": 5}},
        {"type": "Feature", "properties": {"name": "Yard"}, "geometry": CAMPUS},
    ]}))
    good = tmp_path / "good.geojson"
    good.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "Gate"},
         "geometry": {"type": "Circle", "center": [77.6, 12.98], "radius_m": 50}},
    ]}))
    page.open(server.url + "/console/")
    page.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    page.text("#fence-list", "Campus")

    page.find("#import-file").send_keys(str(bad))
    page.text("#import-errors", "features[0].geometry.radius_m")
    assert "radius_m" in page.visible(".error-tip").text
    assert "Gate" not in page.find("#fence-list").text, "an import is all or nothing"

    page.find("#import-file").send_keys(str(good))
    page.text("#status", "Imported 1 geofence from good.geojson")
    page.text("#fence-list", "Gate")
    assert not page.all(".error-pin")


def test_import_pins_bad_rings_where_the_file_has_them(spawn, page, tmp_path):
    server = spawn()
    api = Api(server.url)
    admin, site, _ = seed_site(api)
    # Yard: Campus with a hole that lies outside it, to the north-east; Lane: a ring that is
    # not closed, south-west of Campus. The API names each ring and the page pins its
    # first position: the hole's north-east corner, the lane's south-west corner.
    hole = [[77.604, 12.984], [77.600, 12.984], [77.600, 12.980], [77.604, 12.980], [77.604, 12.984]]
    lane = [[77.575, 12.955], [77.580, 12.955], [77.580, 12.960], [77.575, 12.960]]
    bad = tmp_path / "rings.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "Yard"},
         "geometry": {"type": "Polygon", "coordinates": [CAMPUS["coordinates"][0], hole]}},
        {"type": "Feature", "properties": {"name": "Lane"}, "geometry": {"type": "Polygon", "coordinates": [lane]}},
    ]}))
    page.open(server.url + "/console/")
    page.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    page.text("#fence-list", "Campus")

    page.find("#import-file").send_keys(str(bad))
    page.text("#import-errors", "features[1].geometry.coordinates[0]")
    page.text("#status", "Not saved: 2 problems")
    expected = {
        "features[0].geometry.coordinates[1]": ("hole 1 lies outside its polygon's exterior ring", hole[0]),
        "features[1].geometry.coordinates[0]": ("the exterior ring is not closed", lane[0]),
    }
    items = [li.text for li in page.all("#import-errors li")]
    assert len(items) == 2, items
    mouse = MapMouse(page)
    mouse.settled(".error-pin")  # the map moves to show the pins
    pins = [mouse.center_of(pin) for pin in page.all(".error-pin")]
    tips = [t.text for t in page.all(".error-tip")]
    assert len(pins) == 2 and len(tips) == 2, (pins, tips)
    # Pixels of a [lon, lat], from where Campus is drawn (linear over a few kilometres).
    left, top, width, height = mouse.box(mouse.settled("path.fence"))
    (west, south), (east, north) = CAMPUS["coordinates"][0][0], CAMPUS["coordinates"][0][2]

    def pixel(lon, lat):
        return left + (lon - west) / (east - west) * width, top + (north - lat) / (north - south) * height

    for field, (message, position) in expected.items():
        assert any(item.startswith(field) and message in item for item in items), (field, items)
        assert any(tip.startswith(field) and message in tip for tip in tips), (field, tips)
        x, y = pixel(*position)
        assert any(abs(px - x) < 5 and abs(py - y) < 5 for px, py in pins), (field, (x, y), pins)
    assert "Yard" not in page.find("#fence-list").text and "Lane" not in page.find("#fence-list").text
    fences = api.call("GET", f"/v1/geofences?site_id={site['id']}", admin)
    assert [f["name"] for f in fences["items"]] == ["Campus"], "an import is all or nothing"


def test_a_script_error_or_a_csp_violation_fails_the_test(spawn, page):
    # What every test ends with (conftest's `check_log`), shown to fail: an uncaught
    # exception and an inline script the CSP refuses, each seen by every read of the log.
    server = spawn()
    page.open(server.url + "/console/")
    page.visible("#sign-in-form")
    page.check_log()
    page.driver.execute_script("setTimeout(() => { throw new Error('a deliberate error'); })")
    page.driver.execute_script(
        "document.head.append(Object.assign(document.createElement('script'), {textContent: 'window.x = 1'}))")
    page.until(lambda: page.csp_violations() and len(page.page_errors()) >= 2, "nothing logged")
    assert any("inline script" in m for m in page.csp_violations()), page.csp_violations()
    assert any("Uncaught Error: a deliberate error" in m for m in page.page_errors()), page.page_errors()
    with pytest.raises(AssertionError, match="a deliberate error"):
        page.check_log()
    with pytest.raises(AssertionError, match="inline script"):
        page.check_log()
    page.expect_in_log("a deliberate error")
    page.expect_in_log("inline script")


def test_team_day_shows_only_the_locations_the_server_discloses(spawn, page):
    server = spawn()
    api = Api(server.url)
    admin, site, _ = seed_site(api)
    manager = api.user(admin, "maria@example.com", "Maria Manager", ["manager"])
    direct = api.user(admin, "dev@example.com", "Dev Direct", ["employee"], manager_id=manager["id"], site_ids=[site["id"]])
    api.user(admin, "ines@example.com", "Ines Indirect", ["employee"], manager_id=direct["id"], site_ids=[site["id"]])
    api.check_in("dev@example.com", 12.9701, 77.5902)
    # Dev checks out 3 km away, outside every fence: the event is flagged, not refused.
    out = api.check_in("dev@example.com", 12.99, 77.61, kind="check_out")
    assert out["status"] == "flagged", out
    api.check_in("ines@example.com", 12.9688, 77.5881)
    # Redaction is the server's: by default a manager sees the locations of direct reports
    # (Dev), not of the rest of the team (Ines, two levels down).

    page.open(server.url + "/console/")
    page.sign_in("maria@example.com")
    assert not page.find("#nav-geofences").is_displayed(), "a manager has no geofences.read"
    assert page.find("#nav-team").is_displayed()
    table = page.text("#team-table tbody", "Ines Indirect")
    rows = {r.find_element("css selector", "td").text: r for r in table.find_elements("css selector", "tr")}
    assert set(rows) == {"Maria Manager", "Dev Direct", "Ines Indirect"}
    cells = lambda name: [td.text for td in rows[name].find_elements("css selector", "td")]  # noqa: E731
    assert cells("Dev Direct")[2] == "present" and cells("Dev Direct")[7] == "On map"
    assert re.fullmatch(r"\d\d:\d\d", cells("Dev Direct")[3]) and re.fullmatch(r"\d\d:\d\d", cells("Dev Direct")[4])
    assert cells("Dev Direct")[6] == "1 flagged" and cells("Ines Indirect")[6] == "—"
    assert cells("Ines Indirect")[2] == "incomplete" and cells("Ines Indirect")[7] == "Hidden"
    assert cells("Maria Manager")[2] == "absent" and cells("Maria Manager")[7] == "—"
    # One marker: Dev's. Nothing on the map names Ines.
    page.until(lambda: len(page.all("path.team-marker")) == 1, "expected exactly one location on the map")
    tips = [t.text for t in page.all(".team-tip")]
    assert len(tips) == 1 and tips[0].startswith("Dev Direct"), tips
    assert "Ines" not in page.find("#map").text
    page.shot("team-day")

    # The month as CSV, downloaded through the API with the session's token.
    page.find("#download-month").click()
    month = page.find("#team-month").get_attribute("value")
    page.text("#status", f"Downloaded attendance-{month}-01-")
    files = page.until(lambda: [f for f in page.downloads.iterdir() if f.suffix == ".csv"], "no CSV downloaded")
    with open(files[0], newline="", encoding="utf-8") as handle:
        report = list(csv.DictReader(io.StringIO(handle.read())))
    mine = [r for r in report if r["name"] in {"Dev Direct", "Ines Indirect", "Maria Manager"}]
    assert mine and len(mine) == len(report)
    ines = [r for r in report if r["name"] == "Ines Indirect" and r["first_in"]]
    assert ines and all(r["first_in_lat"] == "" for r in ines), "the CSV holds what the server disclosed"


def test_tiles_come_from_the_configured_server_and_the_map_works_without_them(spawn, page, tile_server):
    tiles = f"http://127.0.0.1:{tile_server.server_port}"
    server = spawn(MUSTER_CONSOLE_TILE_URL=tiles + "/{z}/{x}/{y}.png",
                   MUSTER_CONSOLE_TILE_ATTRIBUTION="Test tiles")
    seed_site(Api(server.url))
    _, _, headers = Api(server.url).request("GET", "/console/")
    assert f"img-src 'self' {tiles};" in headers["content-security-policy"]

    page.open(server.url + "/console/")
    page.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    page.text("#fence-list", "Campus")
    page.until(lambda: len(page.all("img.leaflet-tile-loaded")) > 0, "no tile loaded")
    page.text(".leaflet-control-attribution", "Test tiles")
    assert tile_server.served, "the tile server saw no request"
    # Zooming out drops the loaded tiles (Leaflet points them at its empty image).
    page.find(".leaflet-control-zoom-out").click()
    page.find(".leaflet-control-zoom-out").click()
    time.sleep(1)
    page.until(lambda: len(page.all("img.leaflet-tile-loaded")) > 0, "no tile after zooming")
    requests, _ = page.network()
    for url, _ in requests:
        assert url.startswith(server.url + "/") or url.startswith(tiles + "/"), f"third-party request: {url}"
    assert not page.csp_violations(), page.csp_violations()
    assert not page.find("#map-notice").is_displayed()

    # Tiles from a server that is not there: the console says so and works on a blank map.
    broken = spawn(MUSTER_CONSOLE_TILE_URL="http://127.0.0.1:9/{z}/{x}/{y}.png")
    page.expect_in_log("http://127.0.0.1:9/")
    seed_site(Api(broken.url))
    page.open(broken.url + "/console/")
    page.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    page.text("#map-notice", "Map tiles could not be loaded")
    page.text("#fence-list", "Campus")
    assert page.visible("path.fence")
