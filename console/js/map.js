// The one map every screen draws on: tiles from the server's setting (or none), a notice
// when tiles are off or fail, and validation errors pinned where they belong.

import { byId, h } from './dom.js';
import { locate } from './geometry.js';

const L = window.L;

/** Same-origin stand-in for Leaflet's `data:` GIF (see `Tiles`). */
const EMPTY_TILE = new URL('../img/empty.gif', import.meta.url).href;

/**
 * Leaflet cancels a tile download by pointing the image at a `data:` GIF, which the
 * console's policy (`img-src` without `data:`) refuses and reports; these three methods
 * are Leaflet 1.9.4's own with a same-origin empty GIF instead.
 */
const Tiles = L.TileLayer.extend({
  _abortLoading() {
    for (const key of Object.keys(this._tiles)) {
      const entry = this._tiles[key];
      if (entry.coords.z === this._tileZoom) continue;
      const tile = entry.el;
      tile.onload = L.Util.falseFn;
      tile.onerror = L.Util.falseFn;
      if (!tile.complete) {
        tile.src = EMPTY_TILE;
        L.DomUtil.remove(tile);
        delete this._tiles[key];
        this.fire('tileabort', { tile, coords: entry.coords });
      }
    }
  },
  _removeTile(key) {
    const entry = this._tiles[key];
    if (!entry) return undefined;
    entry.el.setAttribute('src', EMPTY_TILE);
    return L.GridLayer.prototype._removeTile.call(this, key);
  },
  _tileReady(coords, err, tile) {
    if (!this._map || (tile && tile.getAttribute('src') === EMPTY_TILE)) return undefined;
    return L.GridLayer.prototype._tileReady.call(this, coords, err, tile);
  },
});

let map = null;

function notice(text) {
  const element = byId('map-notice');
  element.textContent = text || '';
  element.hidden = !text;
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function addTiles(tiles) {
  // Leaflet writes attributions as HTML: the text is escaped, the link was checked by the
  // server to be http(s).
  const text = escapeHtml(tiles.attribution || '');
  const attribution = tiles.attribution_url
    ? `<a href="${escapeHtml(tiles.attribution_url)}" target="_blank" rel="noopener">${text}</a>`
    : text;
  const layer = new Tiles(tiles.url, { maxZoom: tiles.max_zoom, attribution });
  let loaded = 0;
  layer.on('tileload', () => {
    loaded += 1;
    notice(null);
  });
  layer.on('tileerror', () => {
    if (loaded === 0) notice('Map tiles could not be loaded: shapes are drawn on a blank background.');
  });
  layer.addTo(map);
}

/** Creates the map (once; its container must be visible). */
export function createMap(config) {
  if (map) {
    map.invalidateSize();
    return map;
  }
  map = L.map('map', { center: [20, 0], zoom: 2, worldCopyJump: true });
  // The drawing plugin touches only layers that opt in: the shape being edited.
  L.PM.setOptIn(true);
  // Self-intersections are the server's to find: it says where, and the page shows it.
  map.pm.setGlobalOptions({ allowSelfIntersection: true, snappable: true, continueDrawing: false });
  if (config.tiles) addTiles(config.tiles);
  else notice('Map tiles are off: shapes are drawn on a blank background.');
  return map;
}

export function theMap() {
  return map;
}

/**
 * Zooms to a layer or group, if it has any extent. A circle is measured from its centre and
 * radius: Leaflet's `Circle.getBounds` needs the circle on a map, and `select` fits a fence's
 * new layer before it is drawn.
 */
export function fit(layer) {
  const bounds = layer instanceof L.Circle
    ? layer.getLatLng().toBounds(2 * layer.getRadius())
    : layer.getBounds && layer.getBounds();
  if (bounds && bounds.isValid()) map.fitBounds(bounds, { padding: [40, 40], maxZoom: 17 });
}

/**
 * Pins each located error of a problem on the map (into `group`) with its message, and
 * answers the errors that have no place on the map.
 */
export function pinErrors(group, errors, body) {
  group.clearLayers();
  const unplaced = [];
  const pins = [];
  for (const error of errors) {
    const at = locate(body, error);
    if (!at) {
      unplaced.push(error);
      continue;
    }
    const pin = L.marker(at, {
      icon: L.divIcon({ className: 'error-pin', iconSize: [16, 16] }),
      keyboard: false,
      // A pin on a vertex must not catch the clicks that redraw or edit the shape.
      interactive: false,
    });
    pin.bindTooltip(h('span', {}, h('strong', {}, error.field), ' ', error.message), {
      permanent: true, direction: 'auto', className: 'error-tip', offset: [10, 0],
    });
    group.addLayer(pin);
    pins.push(at);
  }
  if (pins.length) {
    const bounds = L.latLngBounds(pins);
    if (!map.getBounds().contains(bounds)) map.fitBounds(bounds.pad(0.5), { maxZoom: 17 });
  }
  return unplaced;
}
