// The geofence screen: a site's fences on the map; drawing and editing polygons (with holes)
// and circles; the API's validation errors pinned where they are; a simulation of past
// events before a change is saved; version history; GeoJSON import; retiring a fence.

import { ApiProblem, all, api } from './api.js';
import { area, byId, fill, h, say, when } from './dom.js';
import { describe, geometryOf, layerOf } from './geometry.js';
import { fit, pinErrors } from './map.js';
import { setTesting, testing } from './testpoint.js';

const L = window.L;

const FENCE_STYLE = { color: '#1d4ed8', weight: 2, fillOpacity: 0.12, pmIgnore: true, className: 'fence' };
const SELECTED_STYLE = { color: '#b45309', weight: 3, fillOpacity: 0.18 };
const DRAFT_STYLE = { color: '#15803d', weight: 3, fillOpacity: 0.15, pmIgnore: false, className: 'draft' };
const PREVIEW_STYLE = { color: '#6b7280', weight: 2, dashArray: '6 4', fillOpacity: 0.05, pmIgnore: true, className: 'preview' };

let map = null;
let canManage = false;
let sites = [];
let siteId = null;
let fences = [];
let selected = null; // the selected StoredFence
let draft = null; // {fence: StoredFence | null, layer, checked: {geometry, name} | null}
const fenceLayers = L.featureGroup();
const previews = L.featureGroup();
const errorPins = L.layerGroup();

// ---- sites ----

async function loadSites(keep) {
  sites = await all('/v1/sites');
  const select = byId('site-select');
  fill(select, sites.map((s) => h('option', { value: s.id }, `${s.name} (${s.timezone})`)));
  siteId = sites.some((s) => s.id === keep) ? keep : (sites[0] ? sites[0].id : null);
  select.value = siteId || '';
  select.disabled = sites.length === 0;
  if (!siteId) say(canManage ? 'Add a site to draw its geofences.' : 'This organisation has no sites yet.');
  await loadFences(true);
}

async function addSite(event) {
  event.preventDefault();
  const error = byId('new-site-error');
  error.textContent = '';
  try {
    const site = await api('POST', '/v1/sites', {
      body: { name: byId('new-site-name').value, timezone: byId('new-site-timezone').value },
    });
    byId('new-site-form').reset();
    byId('new-site').open = false;
    say(`Added site ${site.name}.`);
    await loadSites(site.id);
  } catch (e) {
    error.textContent = e.errors.length ? e.errors.map((x) => `${x.field}: ${x.message}`).join('; ') : e.message;
  }
}

// ---- fences ----

async function loadFences(zoom) {
  fences = siteId ? await all('/v1/geofences', { site_id: siteId }) : [];
  if (selected) selected = fences.find((f) => f.id === selected.id) || null;
  renderList();
  drawFences();
  renderDetail();
  if (zoom) fit(fenceLayers);
}

function renderList() {
  const list = byId('fence-list');
  fill(list, fences.map((fence) => h('li', {
    className: [fence.active ? '' : 'retired', selected && selected.id === fence.id ? 'selected' : ''].join(' ').trim(),
    dataset: { fenceId: fence.id },
  }, h('button', { type: 'button', className: 'link', onclick: () => select(fence) }, fence.name),
  h('span', { className: 'hint' }, ` v${fence.version} · ${area(fence.area_m2)}${fence.active ? '' : ' · retired'}`))));
  byId('fence-list-empty').hidden = fences.length > 0 || !siteId;
}

function drawFences() {
  fenceLayers.clearLayers();
  for (const fence of fences) {
    if (!fence.active) continue;
    if (draft && draft.fence && draft.fence.id === fence.id) continue; // the draft stands in
    const style = selected && selected.id === fence.id ? { ...FENCE_STYLE, ...SELECTED_STYLE } : FENCE_STYLE;
    const layer = layerOf(fence.geometry, style);
    layer.bindTooltip(fence.name, { className: 'fence-tip', sticky: true });
    layer.on('click', () => {
      if (!testing() && !draft) select(fence);
    });
    fenceLayers.addLayer(layer);
  }
}

function select(fence) {
  selected = fence;
  previews.clearLayers();
  renderList();
  drawFences();
  renderDetail();
  if (fence.active) fit(layerOf(fence.geometry));
  loadVersions(fence);
}

function renderDetail() {
  const detail = byId('fence-detail');
  detail.hidden = !selected || draft !== null;
  byId('confirm-retire').hidden = true;
  if (!selected) return;
  byId('fence-title').textContent = selected.name;
  byId('fence-meta').textContent = `${describe(selected.geometry)} · ${area(selected.area_m2)} · `
    + `version ${selected.version} · ${selected.active ? 'active' : 'retired'}`;
  byId('edit-fence').disabled = !selected.active;
  byId('retire-fence').disabled = !selected.active;
}

async function loadVersions(fence) {
  const list = byId('version-list');
  fill(list);
  try {
    const { items } = await api('GET', `/v1/geofences/${fence.id}/versions`);
    fill(list, items.slice().reverse().map((v) => h('li', { dataset: { version: v.version } },
      h('button', { type: 'button', className: 'link', onclick: () => preview(v) }, `Version ${v.version}`),
      h('span', { className: 'hint' }, ` · ${v.name} · ${describe(v.geometry)} · ${area(v.area_m2)}`
        + `${v.active ? '' : ' · retired'} · ${when(v.created_at)}`))));
  } catch (e) {
    fill(list, h('li', { className: 'error' }, e.message));
  }
}

/** Shows an earlier version dashed over the map. */
function preview(version) {
  previews.clearLayers();
  const layer = layerOf(version.geometry, PREVIEW_STYLE);
  layer.bindTooltip(`${version.name}, version ${version.version}`, { permanent: true, className: 'preview-tip' });
  previews.addLayer(layer);
  fit(previews);
}

function retire() {
  byId('retire-fence').hidden = true;
  byId('confirm-retire').hidden = false;
}

async function confirmRetire() {
  const fence = selected;
  byId('confirm-retire').hidden = true;
  byId('retire-fence').hidden = false;
  try {
    const retired = await api('DELETE', `/v1/geofences/${fence.id}`);
    say(`Retired ${retired.name} (version ${retired.version}).`);
    selected = retired;
    await loadFences(false);
    loadVersions(retired);
  } catch (e) {
    say(`Could not retire ${fence.name}: ${e.message}`, 'error');
  }
}

// ---- drafts: drawing and editing ----

function clearErrors() {
  errorPins.clearLayers();
  fill(byId('draft-errors'));
}

/** The API's errors for a request body: pinned on the map, and all listed in `list`. */
function showProblem(problem, body, list) {
  if (!(problem instanceof ApiProblem)) throw problem;
  pinErrors(errorPins, problem.errors, body);
  fill(list, problem.errors.length
    ? problem.errors.map((e) => h('li', {}, h('strong', {}, e.field), ` ${e.message}`))
    : h('li', {}, problem.message));
  const count = problem.errors.length;
  say(count
    ? `Not saved: ${count === 1 ? 'one problem' : `${count} problems`}, listed in the panel and pinned on the map where they are.`
    : `Not saved: ${problem.message}`, 'error');
}

function stopModes() {
  if (map.pm.globalDrawModeEnabled()) map.pm.disableDraw();
  if (map.pm.globalCutModeEnabled()) map.pm.disableGlobalCutMode();
}

function setDraftLayer(layer) {
  if (draft.layer) {
    draft.layer.pm.disable();
    draft.layer.remove();
  }
  draft.layer = layer;
  layer.addTo(map);
  layer.pm.enable({ allowSelfIntersection: true });
  layer.on('pm:edit', draftChanged);
  draftChanged();
}

function draftChanged() {
  const geometry = geometryOf(draft.layer);
  byId('draft-shape').textContent = describe(geometry);
  byId('cut-hole').disabled = geometry.type === 'Circle';
  // A checked change is confirmed only as it was checked.
  draft.checked = null;
  byId('simulation').hidden = true;
  byId('confirm-save').hidden = true;
  byId('save').hidden = false;
  clearErrors();
}

function openDraft(fence, layer) {
  setTesting(false);
  draft = { fence, layer: null, checked: null };
  byId('draft').hidden = false;
  byId('draft-title').textContent = fence ? `Edit ${fence.name} (version ${fence.version})` : 'New geofence';
  byId('draft-name').value = fence ? fence.name : '';
  byId('simulate-window').hidden = !fence;
  setDraftLayer(layer);
  renderDetail();
  drawFences();
}

function closeDraft() {
  stopModes();
  if (draft && draft.layer) {
    draft.layer.pm.disable();
    draft.layer.remove();
  }
  draft = null;
  byId('draft').hidden = true;
  clearErrors();
  renderDetail();
  drawFences();
}

/** Draws a new shape: for the open draft (replacing its shape), or for a new fence. */
function draw(shape) {
  if (!siteId) {
    say('Add or choose a site first.', 'error');
    return;
  }
  setTesting(false);
  stopModes();
  if (draft) {
    // Its handles would catch the clicks meant for the new shape; back if none is drawn.
    draft.layer.pm.disable();
    clearErrors();
    map.once('pm:drawend', () => {
      if (draft && draft.layer && !draft.layer.pm.enabled()) draft.layer.pm.enable({ allowSelfIntersection: true });
    });
  }
  map.pm.enableDraw(shape, { allowSelfIntersection: true, pathOptions: DRAFT_STYLE });
  say(shape === 'Polygon'
    ? 'Click to place each vertex; click the first vertex to finish.'
    : 'Click the centre, then click again at the radius.');
}

function created(event) {
  // Geoman's own layer is swapped for one built from its geometry, so every draft is made
  // the same way (and opts in to editing).
  const layer = layerOf(geometryOf(event.layer), DRAFT_STYLE);
  event.layer.remove();
  if (draft) setDraftLayer(layer);
  else openDraft(null, layer);
}

function editSelected() {
  if (!selected || !selected.active) return;
  closeDraft();
  openDraft(selected, layerOf(selected.geometry, DRAFT_STYLE));
}

function cutHole() {
  if (!draft || draft.layer instanceof L.Circle) return;
  draft.layer.pm.disable();
  map.pm.enableGlobalCutMode({ layersToCut: [draft.layer], allowSelfIntersection: false });
  say('Draw the hole inside the shape; click its first vertex to finish.');
}

function cut(event) {
  if (!draft) return;
  const layer = layerOf(geometryOf(event.layer), DRAFT_STYLE);
  event.layer.remove();
  draft.layer = null; // geoman removed it already
  setDraftLayer(layer);
}

function changes() {
  const geometry = geometryOf(draft.layer);
  const name = byId('draft-name').value;
  if (!draft.fence) return { geometry, name };
  const change = {};
  if (name !== draft.fence.name) change.name = name;
  if (JSON.stringify(geometry) !== JSON.stringify(draft.fence.geometry)) change.geometry = geometry;
  return change;
}

/** Saving a changed shape first shows what it would have changed in the past. */
async function save(event) {
  event.preventDefault();
  stopModes();
  clearErrors();
  const change = changes();
  if (draft.fence && change.geometry) {
    const days = Math.min(Math.max(Number(byId('simulate-days').value) || 30, 1), 366);
    const to = new Date();
    const from = new Date(to.getTime() - days * 86_400_000);
    const body = { geometry: change.geometry, from: from.toISOString(), to: to.toISOString() };
    try {
      const result = await api('POST', `/v1/geofences/${draft.fence.id}:simulate`, { body });
      const simulation = byId('simulation');
      simulation.textContent = `${result.changed} of ${result.events_considered} past check-ins `
        + `of the last ${days} days would get another verdict with this shape.`;
      simulation.className = result.changed ? 'warning' : 'hint';
      simulation.hidden = false;
      draft.checked = change;
      byId('save').hidden = true;
      byId('confirm-save').hidden = false;
    } catch (e) {
      showProblem(e, body, byId('draft-errors'));
    }
    return;
  }
  await commit(change);
}

async function confirmSave() {
  if (draft && draft.checked) await commit(draft.checked);
}

async function commit(change) {
  const fence = draft.fence;
  if (fence && !change.name && !change.geometry) {
    closeDraft();
    say('Nothing changed.');
    return;
  }
  const body = fence ? change : { site_id: siteId, ...change };
  try {
    const saved = fence
      ? await api('PUT', `/v1/geofences/${fence.id}`, { body })
      : await api('POST', '/v1/geofences', { body });
    closeDraft();
    say(`Saved ${saved.name} (version ${saved.version}).`);
    selected = saved;
    await loadFences(false);
    select(saved);
  } catch (e) {
    showProblem(e, body, byId('draft-errors'));
    byId('confirm-save').hidden = true;
    byId('save').hidden = false;
  }
}

// ---- import ----

async function importFile(event) {
  const input = event.target;
  const file = input.files && input.files[0];
  input.value = '';
  const list = byId('import-errors');
  fill(list);
  errorPins.clearLayers();
  previews.clearLayers();
  if (!file) return;
  if (!siteId) {
    say('Add or choose a site first.', 'error');
    return;
  }
  let body;
  try {
    body = JSON.parse(await file.text());
  } catch (e) {
    fill(list, h('li', {}, `${file.name} is not JSON: ${e.message}`));
    return;
  }
  try {
    const { items } = await api('POST', '/v1/geofences:import', { query: { site_id: siteId }, body });
    say(`Imported ${items.length} geofence${items.length === 1 ? '' : 's'} from ${file.name}.`);
    await loadFences(true);
  } catch (e) {
    // What the file holds, dashed, so the pinned errors have their shapes around them.
    for (const feature of Array.isArray(body.features) ? body.features : []) {
      try {
        previews.addLayer(layerOf(feature.geometry, PREVIEW_STYLE));
      } catch {
        // a feature that cannot be drawn is named in the errors anyway
      }
    }
    showProblem(e, body, list);
  }
}

// ---- the screen ----

/** Wires the screen to the map and the page (once per page). */
export function initGeofences(theMap) {
  map = theMap;
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  fill(byId('timezones'), zones.map((z) => h('option', { value: z })));
  byId('site-select').addEventListener('change', (e) => {
    closeDraft();
    siteId = e.target.value;
    selected = null;
    loadFences(true).catch((x) => say(x.message, 'error'));
  });
  byId('new-site-form').addEventListener('submit', addSite);
  byId('draw-polygon').addEventListener('click', () => draw('Polygon'));
  byId('draw-circle').addEventListener('click', () => draw('Circle'));
  byId('import-file').addEventListener('change', importFile);
  byId('edit-fence').addEventListener('click', editSelected);
  byId('retire-fence').addEventListener('click', retire);
  byId('confirm-retire').addEventListener('click', confirmRetire);
  byId('cut-hole').addEventListener('click', cutHole);
  byId('draft').addEventListener('submit', save);
  byId('confirm-save').addEventListener('click', confirmSave);
  byId('cancel-draft').addEventListener('click', closeDraft);
  byId('draft-name').addEventListener('input', () => {
    if (draft) draftChanged();
  });
  map.on('pm:create', (e) => {
    if (byId('geofences-panel').hidden) return;
    created(e);
  });
  map.on('pm:cut', cut);
}

/** Sets the screen up for a signed-in user: editing tools only with `geofences.manage`. */
export function beginGeofences(me) {
  canManage = me.permissions.includes('geofences.manage');
  for (const element of document.querySelectorAll('#geofences-panel .manage')) element.hidden = !canManage;
}

export async function showGeofences() {
  fenceLayers.addTo(map);
  previews.addTo(map);
  errorPins.addTo(map);
  await loadSites(siteId);
}

export function hideGeofences() {
  closeDraft();
  setTesting(false);
  fenceLayers.remove();
  previews.remove();
  errorPins.remove();
}

/** Forgets everything shown (on sign-out). */
export function resetGeofences() {
  if (map) hideGeofences();
  sites = [];
  fences = [];
  siteId = null;
  selected = null;
  fenceLayers.clearLayers();
  previews.clearLayers();
  for (const id of ['site-select', 'fence-list', 'version-list', 'import-errors']) fill(byId(id));
  byId('fence-detail').hidden = true;
}
