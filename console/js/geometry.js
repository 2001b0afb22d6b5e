// Geofence geometries as the API writes them (GeoJSON Polygon / MultiPolygon in [lon, lat]
// order, closed rings; or {type: "Circle", center: [lon, lat], radius_m}) and as Leaflet
// draws them ([lat, lon], open rings), plus where on the map a validation error belongs.

const L = window.L;

/** Seven decimals of a degree are about a centimetre: more is noise from the mouse. */
const PRECISION = 7;

function samePosition(a, b) {
  return a[0] === b[0] && a[1] === b[1];
}

/** A GeoJSON ring (closed, [lon, lat]) as Leaflet takes it (open, [lat, lon]). */
function leafletRing(ring) {
  const points = ring.map(([lon, lat]) => [lat, lon]);
  if (points.length > 1 && samePosition(points[0], points[points.length - 1])) points.pop();
  return points;
}

/** A Leaflet layer for an API geometry; `options` are Leaflet path options. */
export function layerOf(geometry, options = {}) {
  switch (geometry.type) {
    case 'Circle':
      return L.circle([geometry.center[1], geometry.center[0]], { ...options, radius: geometry.radius_m });
    case 'Polygon':
      return L.polygon(geometry.coordinates.map(leafletRing), options);
    case 'MultiPolygon':
      return L.polygon(geometry.coordinates.map((polygon) => polygon.map(leafletRing)), options);
    default:
      throw new Error(`a ${geometry.type} cannot be drawn`);
  }
}

function round(value, decimals) {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

/** The API geometry of a drawn or edited layer. */
export function geometryOf(layer) {
  if (layer instanceof L.Circle) {
    const center = layer.getLatLng();
    return {
      type: 'Circle',
      center: [round(center.lng, PRECISION), round(center.lat, PRECISION)],
      radius_m: round(layer.getRadius(), 2),
    };
  }
  // Closes the rings and writes [lon, lat], as GeoJSON wants.
  return layer.toGeoJSON(PRECISION).geometry;
}

/** `Polygon, 5 positions, 1 hole`, `Circle, radius 150 m`. */
export function describe(geometry) {
  if (geometry.type === 'Circle') return `Circle, radius ${Math.round(geometry.radius_m)} m`;
  const polygons = geometry.type === 'MultiPolygon' ? geometry.coordinates : [geometry.coordinates];
  const positions = polygons.flat().reduce((n, ring) => n + Math.max(ring.length - 1, 0), 0);
  const holes = polygons.reduce((n, rings) => n + rings.length - 1, 0);
  const parts = polygons.length > 1 ? `${polygons.length} parts, ` : '';
  const holeText = holes === 1 ? '1 hole' : `${holes} holes`;
  return `${geometry.type}, ${parts}${positions} positions${holes ? `, ${holeText}` : ''}`;
}

/** `features[1].geometry.coordinates[0][2]` → `['features', 1, 'geometry', 'coordinates', 0, 2]`. */
export function pathOf(field) {
  const tokens = [];
  for (const [, name, index] of String(field).matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    tokens.push(index !== undefined ? Number(index) : name);
  }
  return tokens;
}

function isPosition(value) {
  return Array.isArray(value) && value.length >= 2
    && Number.isFinite(value[0]) && Number.isFinite(value[1]);
}

/** The first position found in a geometry or a part of one, as [lat, lon]. */
function anchor(value) {
  if (isPosition(value)) return [value[1], value[0]];
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = anchor(item);
      if (found) return found;
    }
    return null;
  }
  if (value && typeof value === 'object') {
    return anchor(value.center) || anchor(value.coordinates) || anchor(value.geometry);
  }
  return null;
}

/**
 * The point an error message names with ` at [lon, lat]` (the server writes a
 * self-intersection's crossing so), as [lat, lon]; the last one if it names several.
 */
function namedPoint(message) {
  const points = [...String(message).matchAll(/\bat \[(-?\d+(?:\.\d+)?(?:e-?\d+)?), (-?\d+(?:\.\d+)?(?:e-?\d+)?)\]/gi)];
  if (!points.length) return null;
  const [, lon, lat] = points[points.length - 1];
  return [Number(lat), Number(lon)];
}

/**
 * Where an error of the API's problem+json (`{field, message}`) about the request `body`
 * belongs on the map, as [lat, lon]: the crossing its message names, if any, else the
 * position its field names (see `positionOf`); `null` for errors that are not about a
 * geometry.
 */
export function locate(body, error) {
  const position = positionOf(body, error.field);
  return position && (namedPoint(error.message) || position);
}

/**
 * Where the error named by `field` (a path into the request `body`, as the API's
 * problem+json `errors[].field` gives it) belongs on the map, as [lat, lon]; `null` for
 * errors that are not about a geometry (a name, a site). A path to a position is that
 * position (a self-intersection names the vertex where the offending edge starts); a path
 * to a ring, a circle's radius or a whole geometry is its first position or centre.
 */
function positionOf(body, field) {
  const tokens = pathOf(field);
  if (tokens[0] !== 'geometry' && tokens[0] !== 'features') return null;
  const reached = [];
  let value = body;
  for (const token of tokens) {
    if (value === null || typeof value !== 'object' || !(token in value)) break;
    value = value[token];
    reached.push(value);
  }
  for (let i = reached.length - 1; i >= 0; i -= 1) {
    const found = anchor(reached[i]);
    if (found) return found;
  }
  return null;
}
