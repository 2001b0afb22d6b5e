// "Test a point": while on, a click on the map asks the server how a check-in there would
// be judged (`POST /v1/geofences:test`, nothing recorded) and shows the decision.

import { api } from './api.js';
import { byId, fill, h, say } from './dom.js';

const L = window.L;

let map = null;
let active = false;
const marks = L.layerGroup();

function distanceText(decision) {
  if (decision.distance_m === null || decision.distance_m === undefined) return 'no distance';
  if (decision.distance_m === 0) return 'inside, 0 m from the boundary';
  return `${decision.distance_m.toFixed(1)} m from the nearest boundary`;
}

function decisionView(decision) {
  const fence = decision.geofence_name
    ? `${decision.geofence_name} (version ${decision.geofence_version})`
    : 'no geofence';
  return h('div', { className: 'decision' },
    h('p', {}, h('strong', { className: `verdict verdict-${decision.verdict}` }, decision.verdict), ' · ', fence),
    h('p', { className: 'distance' }, distanceText(decision)),
    decision.reasons.length
      ? h('ul', { className: 'reasons' }, decision.reasons.map((r) => h('li', {}, r)))
      : h('p', { className: 'hint' }, 'no reasons'));
}

async function onClick(event) {
  // A click that places a vertex is not a test.
  if (map.pm.globalDrawModeEnabled() || map.pm.globalCutModeEnabled()) return;
  const { lat, lng } = event.latlng.wrap();
  const accuracy = byId('test-accuracy').value;
  const body = { lat, lon: lng };
  if (accuracy !== '') body.accuracy_m = Number(accuracy);
  try {
    const decision = await api('POST', '/v1/geofences:test', { body });
    marks.clearLayers();
    const mark = L.circleMarker(event.latlng, { radius: 7, className: 'test-marker' });
    if (body.accuracy_m) marks.addLayer(L.circle(event.latlng, { radius: body.accuracy_m, className: 'test-accuracy' }));
    mark.bindPopup(decisionView(decision), { className: 'test-popup' });
    marks.addLayer(mark);
    mark.openPopup();
    fill(byId('test-result'), h('p', { className: 'hint' }, `At ${lat.toFixed(6)}, ${lng.toFixed(6)}:`), decisionView(decision));
  } catch (e) {
    say(`Test failed: ${e.message}`, 'error');
    fill(byId('test-result'), h('ul', { className: 'errors' }, e.errors.map((x) => h('li', {}, `${x.field}: ${x.message}`))));
  }
}

/** Turns the mode on or off. */
export function setTesting(on) {
  active = on;
  const button = byId('test-point');
  button.setAttribute('aria-pressed', String(on));
  button.classList.toggle('pressed', on);
  map.getContainer().classList.toggle('testing', on);
  if (on) map.on('click', onClick);
  else map.off('click', onClick);
}

export function testing() {
  return active;
}

export function initTestPoint(theMap) {
  map = theMap;
  marks.addTo(map);
  byId('test-point').addEventListener('click', () => setTesting(!active));
}

export function resetTestPoint() {
  if (map) setTesting(false);
  marks.clearLayers();
  fill(byId('test-result'));
}
