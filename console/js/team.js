// The team day: for a manager, one row per team member for a day (the attendance report
// with `scope=team`): status, first in, last out, flags, and the first check-in's location
// on the map where the report carries one. Which locations the manager may see is the
// server's decision (it leaves them out of the report); this page draws only what it gets.
// A month of the same report downloads as CSV.

import { api } from './api.js';
import { byId, clock, fill, h, say } from './dom.js';
import { fit } from './map.js';

const L = window.L;

let map = null;
let timezone = 'UTC';
const markers = L.featureGroup();

/** `YYYY-MM-DD` of today in a time zone. */
function today(zone) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en', {
    timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit',
  }).formatToParts(new Date()).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}`;
}

function worked(minutes) {
  if (!minutes) return '—';
  return `${Math.floor(minutes / 60)}:${String(minutes % 60).padStart(2, '0')}`;
}

function flags(row) {
  const out = [];
  if (row.flagged) out.push(`${row.flagged} flagged`);
  if (row.rejected) out.push(`${row.rejected} rejected`);
  return out.length ? out.join(', ') : '—';
}

function hasLocation(row) {
  return row.first_in_lat !== null && row.first_in_lat !== undefined
    && row.first_in_lon !== null && row.first_in_lon !== undefined;
}

function locationCell(row, marker) {
  if (marker) {
    return h('button', {
      type: 'button',
      className: 'link',
      onclick: () => {
        map.setView(marker.getLatLng(), Math.max(map.getZoom(), 16));
        marker.openTooltip();
      },
    }, 'On map');
  }
  // A check-in without a location in the report: the server did not disclose it (the
  // caller's role does not reach this person's location, or retention removed it).
  if (row.first_in) {
    return h('span', { className: 'redacted', title: 'The server did not include this location' }, 'Hidden');
  }
  return '—';
}

async function load() {
  const date = byId('team-date').value;
  const body = byId('team-table').tBodies[0];
  markers.clearLayers();
  fill(body);
  if (!date) return;
  let items;
  try {
    ({ items } = await api('GET', '/v1/reports/attendance', {
      query: { from: date, to: date, scope: 'team', format: 'json' },
    }));
  } catch (e) {
    say(`Could not load the team day: ${e.message}`, 'error');
    return;
  }
  const rows = items.filter((row) => row.date === date);
  for (const row of rows) {
    let marker = null;
    if (hasLocation(row)) {
      const at = [row.first_in_lat, row.first_in_lon];
      marker = L.circleMarker(at, { radius: 8, className: `team-marker status-${row.status}` });
      marker.bindTooltip(`${row.name} · in ${clock(row.first_in)}`, { permanent: true, direction: 'top', className: 'team-tip' });
      markers.addLayer(marker);
      if (row.first_in_accuracy_m) {
        markers.addLayer(L.circle(at, { radius: row.first_in_accuracy_m, className: 'team-accuracy', interactive: false }));
      }
    }
    body.append(h('tr', { dataset: { userId: row.user_id } },
      h('td', {}, row.name),
      h('td', {}, row.employee_code),
      h('td', {}, h('span', { className: `status status-${row.status}` }, row.status.replace(/_/g, ' '))),
      h('td', {}, clock(row.first_in)),
      h('td', {}, clock(row.last_out)),
      h('td', {}, worked(row.worked_minutes)),
      h('td', { className: row.flagged || row.rejected ? 'flags' : '' }, flags(row)),
      h('td', { className: 'location' }, locationCell(row, marker))));
  }
  byId('team-empty').hidden = rows.length > 0;
  fit(markers);
}

/** The month's report as CSV, fetched with the session's token and saved as a file. */
async function downloadMonth(event) {
  event.preventDefault();
  const error = byId('month-error');
  error.textContent = '';
  const month = byId('team-month').value; // YYYY-MM
  if (!/^\d{4}-\d{2}$/.test(month)) return;
  const [year, m] = month.split('-').map(Number);
  const from = `${month}-01`;
  const last = `${month}-${String(new Date(Date.UTC(year, m, 0)).getUTCDate()).padStart(2, '0')}`;
  // Days still to come would only be rows of `absent`.
  const now = today(timezone);
  const to = last > now && from <= now ? now : last;
  try {
    const response = await api('GET', '/v1/reports/attendance', {
      query: { from, to, scope: 'team', format: 'csv' }, accept: 'text/csv', raw: true,
    });
    const blob = await response.blob();
    const link = h('a', { href: URL.createObjectURL(blob), download: `attendance-${from}-${to}.csv`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    say(`Downloaded attendance-${from}-${to}.csv.`);
  } catch (e) {
    error.textContent = e.message;
  }
}

/** Wires the screen to the map and the page (once per page). */
export function initTeam(theMap) {
  map = theMap;
  byId('team-date').addEventListener('change', load);
  byId('team-reload').addEventListener('click', load);
  byId('month-form').addEventListener('submit', downloadMonth);
}

/** Sets the screen up for a signed-in user's organisation. */
export function beginTeam(org) {
  timezone = org.timezone || 'UTC';
}

export async function showTeam() {
  markers.addTo(map);
  const date = byId('team-date');
  if (!date.value) date.value = today(timezone);
  const month = byId('team-month');
  if (!month.value) month.value = date.value.slice(0, 7);
  byId('team-zone').textContent = `Today is ${today(timezone)} in ${timezone}, the organisation's time zone; `
    + 'each person\'s day is counted in their site\'s time zone.';
  await load();
}

export function hideTeam() {
  markers.remove();
}

/** Forgets everything shown (on sign-out). */
export function resetTeam() {
  markers.clearLayers();
  markers.remove();
  fill(byId('team-table').tBodies[0]);
  byId('team-date').value = '';
  byId('team-month').value = '';
  byId('team-empty').hidden = true;
}
