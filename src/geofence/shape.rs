//! Parsing and validation of a fence's `geometry` (GeoJSON Polygon / MultiPolygon, or
//! `{"type": "Circle", "center": [lon, lat], "radius_m": r}`) into a [`FenceShape`].
//!
//! Every rule of the API contract answers with a [`FieldError`] whose `field` is the path
//! the client wrote (`geometry.coordinates[0][3]`), and all of them are collected where the
//! input is sound enough to go on: position errors in every ring, then ring rules, then the
//! antimeridian rules, and only for well-formed input the (costlier) topology checks. The
//! position limit is checked first, before any other work. Nothing is silently repaired:
//! `geo::Polygon::new` closes open rings, so closure is checked on the raw input.

use geo::orient::{Direction, Orient};
use geo::{Coord, GeodesicArea, LineString, Polygon, Rect};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::antimeridian;
use super::error::{Errors, Paths, fmt_coord};
use super::metric::{EARTH_RADIUS_M, LatLon, dot, unit_vector};
use super::topology::{self, Rings};
use crate::field::FieldError;

/// Limits on fence geometry; each is a named setting of the server.
#[derive(Debug, Clone, PartialEq)]
pub struct GeometryLimits {
    /// Positions in all rings of one geometry, closing positions included.
    pub max_positions: usize,
    pub min_circle_radius_m: f64,
    pub max_circle_radius_m: f64,
}

impl Default for GeometryLimits {
    fn default() -> Self {
        Self {
            max_positions: 10_000,
            min_circle_radius_m: 10.0,
            max_circle_radius_m: 50_000.0,
        }
    }
}

/// What kind of geometry a shape was written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ShapeKind {
    Polygon,
    MultiPolygon,
    Circle,
}

/// A validated fence geometry. Build it with [`parse_geometry`].
#[derive(Debug, Clone, PartialEq)]
pub struct FenceShape {
    pub(crate) geometry: Geometry,
    /// Altitudes as written, in ring order, when any position had one: kept only to echo
    /// the input (a `serde_json::Value` copy of it would cost ~100 bytes per position in
    /// every replica's index).
    altitudes: Option<Vec<Option<f64>>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Geometry {
    /// One part for a Polygon; each part in the longitude frame it was written in.
    Polygons {
        parts: Vec<Polygon<f64>>,
        multi: bool,
    },
    Circle {
        center: LatLon,
        radius_m: f64,
    },
}

impl FenceShape {
    pub fn kind(&self) -> ShapeKind {
        match &self.geometry {
            Geometry::Polygons { multi: false, .. } => ShapeKind::Polygon,
            Geometry::Polygons { multi: true, .. } => ShapeKind::MultiPolygon,
            Geometry::Circle { .. } => ShapeKind::Circle,
        }
    }

    /// The polygons as written (x = lon, y = lat), empty for a circle. Longitudes may run
    /// beyond ±180 in a polygon that crosses the antimeridian (see `antimeridian`).
    pub fn polygons(&self) -> &[Polygon<f64>] {
        match &self.geometry {
            Geometry::Polygons { parts, .. } => parts,
            Geometry::Circle { .. } => &[],
        }
    }

    /// Centre and radius in metres, for a circle.
    pub fn circle(&self) -> Option<(LatLon, f64)> {
        match &self.geometry {
            Geometry::Circle { center, radius_m } => Some((*center, *radius_m)),
            Geometry::Polygons { .. } => None,
        }
    }

    /// Positions in all rings, closing positions included (what the limit counts).
    pub fn position_count(&self) -> usize {
        self.polygons()
            .iter()
            .map(|p| p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>())
            .sum()
    }

    /// Area in square metres. Polygons: geodesic area on the WGS 84 ellipsoid (Karney, via
    /// `geo::GeodesicArea`) of the drawn longitude/latitude polygon, its edges densified so
    /// that long east–west edges count as drawn. Circles: the exact spherical cap
    /// `2πR²(1 − cos(r/R))` on the mean-radius sphere, the same sphere that judges them.
    ///
    /// ```
    /// use muster::geofence::{parse_geometry, GeometryLimits};
    /// let circle = serde_json::json!({"type": "Circle", "center": [77.59, 12.97], "radius_m": 100});
    /// let shape = parse_geometry(&circle, &GeometryLimits::default()).unwrap();
    /// assert!((shape.area_m2() - std::f64::consts::PI * 100.0 * 100.0).abs() < 0.01);
    /// ```
    pub fn area_m2(&self) -> f64 {
        match &self.geometry {
            Geometry::Circle { radius_m, .. } => {
                let r = EARTH_RADIUS_M;
                2.0 * std::f64::consts::PI * r * r * (1.0 - (radius_m / r).cos())
            }
            Geometry::Polygons { parts, .. } => parts
                .iter()
                .map(|part| {
                    let dense = Polygon::new(
                        densify_for_area(part.exterior()),
                        part.interiors().iter().map(densify_for_area).collect(),
                    )
                    .orient(Direction::Default);
                    dense.geodesic_area_signed().abs()
                })
                .sum(),
        }
    }

    /// The geometry as the client wrote it (numbers normalised to JSON floats).
    pub fn to_geojson(&self) -> Value {
        match &self.geometry {
            Geometry::Circle { center, radius_m } => json!({
                "type": "Circle",
                "center": [center.lon(), center.lat()],
                "radius_m": radius_m,
            }),
            Geometry::Polygons { parts, multi } => {
                let mut altitudes = self.altitudes.iter().flatten();
                let mut position = |c: &Coord<f64>| match altitudes.next().copied().flatten() {
                    Some(z) => json!([c.x, c.y, z]),
                    None => json!([c.x, c.y]),
                };
                let polygons: Vec<Value> = parts
                    .iter()
                    .map(|p| {
                        Value::Array(
                            std::iter::once(p.exterior())
                                .chain(p.interiors())
                                .map(|ring| Value::Array(ring.0.iter().map(&mut position).collect()))
                                .collect(),
                        )
                    })
                    .collect();
                if *multi {
                    json!({"type": "MultiPolygon", "coordinates": polygons})
                } else {
                    json!({"type": "Polygon", "coordinates": polygons.into_iter().next()})
                }
            }
        }
    }

    /// Longitude/latitude box (x = lon, y = lat) in the shape's own longitude frame: it may
    /// extend beyond ±180 for a polygon written across the antimeridian or a circle near it,
    /// and spans all longitudes for a circle reaching a pole.
    pub fn bounding_rect(&self) -> Rect<f64> {
        match &self.geometry {
            Geometry::Circle { center, radius_m } => {
                let angle = radius_m / EARTH_RADIUS_M;
                let dlat = angle.to_degrees();
                let (lat, lon) = (center.lat(), center.lon());
                let (lo, hi) = (lat - dlat, lat + dlat);
                let cos_lat = lat.to_radians().cos();
                if lo <= -90.0 || hi >= 90.0 || angle.sin() >= cos_lat {
                    Rect::new(
                        Coord {
                            x: -180.0,
                            y: lo.max(-90.0),
                        },
                        Coord {
                            x: 180.0,
                            y: hi.min(90.0),
                        },
                    )
                } else {
                    let dlon = (angle.sin() / cos_lat).asin().to_degrees();
                    Rect::new(Coord { x: lon - dlon, y: lo }, Coord { x: lon + dlon, y: hi })
                }
            }
            Geometry::Polygons { parts, .. } => {
                let (mut lo, mut hi) = (
                    Coord {
                        x: f64::INFINITY,
                        y: f64::INFINITY,
                    },
                    Coord {
                        x: f64::NEG_INFINITY,
                        y: f64::NEG_INFINITY,
                    },
                );
                for c in parts.iter().flat_map(|p| p.exterior().0.iter()) {
                    lo = Coord {
                        x: lo.x.min(c.x),
                        y: lo.y.min(c.y),
                    };
                    hi = Coord {
                        x: hi.x.max(c.x),
                        y: hi.y.max(c.y),
                    };
                }
                Rect::new(lo, hi)
            }
        }
    }
}

/// Splits long edges so that a geodesic area sees (within ~0.1 m) the drawn straight
/// longitude/latitude edges rather than great circles.
fn densify_for_area(ring: &LineString<f64>) -> LineString<f64> {
    const TOLERANCE: f64 = 0.1 / EARTH_RADIUS_M;
    let mut out = Vec::with_capacity(ring.0.len());
    for w in ring.0.windows(2) {
        let (a, b) = (w[0], w[1]);
        out.push(a);
        let (va, vb) = (unit_vector(a.y, a.x), unit_vector(b.y, b.x));
        let mid = unit_vector((a.y + b.y) * 0.5, (a.x + b.x) * 0.5);
        let n = super::metric::cross(va, vb);
        let len = dot(n, n).sqrt();
        let bow = if len > 1e-15 { (dot(mid, n) / len).abs() } else { 0.0 };
        // The bow shrinks with the square of the piece length.
        let pieces = ((bow / TOLERANCE).sqrt().ceil() as usize).clamp(1, 256);
        for k in 1..pieces {
            let t = k as f64 / pieces as f64;
            out.push(Coord {
                x: a.x + (b.x - a.x) * t,
                y: a.y + (b.y - a.y) * t,
            });
        }
    }
    if let Some(last) = ring.0.last() {
        out.push(*last);
    }
    LineString(out)
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses and validates the `geometry` member of a geofence request.
///
/// ```
/// use muster::geofence::{parse_geometry, GeometryLimits, ShapeKind};
/// use serde_json::json;
/// let limits = GeometryLimits::default();
/// let square = json!({"type": "Polygon", "coordinates": [[[179, -1], [181, -1], [181, 1], [179, 1], [179, -1]]]});
/// assert_eq!(parse_geometry(&square, &limits).unwrap().kind(), ShapeKind::Polygon);
///
/// let open = json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]});
/// let errors = parse_geometry(&open, &limits).unwrap_err();
/// assert_eq!(errors[0].field, "geometry.coordinates[0]");
/// assert!(errors[0].message.contains("not closed"));
/// ```
pub fn parse_geometry(value: &Value, limits: &GeometryLimits) -> Result<FenceShape, Vec<FieldError>> {
    let mut errors = Errors::new();
    let Some(object) = value.as_object() else {
        errors.push(
            "geometry",
            format!(
                "must be a GeoJSON Polygon or MultiPolygon, or a Circle, not {}",
                kind_of(value)
            ),
        );
        return Err(errors.finish());
    };
    let kind = match object.get("type") {
        None => {
            errors.push("geometry.type", "is required");
            return Err(errors.finish());
        }
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            errors.push("geometry.type", format!("must be a string, not {}", kind_of(other)));
            return Err(errors.finish());
        }
    };
    let shape = match kind {
        "Polygon" => parse_polygonal(object, false, limits, &mut errors),
        "MultiPolygon" => parse_polygonal(object, true, limits, &mut errors),
        "Circle" => parse_circle(object, limits, &mut errors),
        "Point" | "MultiPoint" | "LineString" | "MultiLineString" | "GeometryCollection" => {
            errors.push(
                "geometry.type",
                format!("a geofence must be a Polygon, MultiPolygon or Circle, not a {kind}"),
            );
            None
        }
        "Feature" | "FeatureCollection" => {
            errors.push(
                "geometry.type",
                format!(
                    "expected a geometry, not a {kind}; send the feature's `geometry` member \
                     (or use POST /v1/geofences:import for a FeatureCollection)"
                ),
            );
            None
        }
        _ => {
            errors.push(
                "geometry.type",
                format!("unknown type {kind:?}; expected \"Polygon\", \"MultiPolygon\" or \"Circle\""),
            );
            None
        }
    };
    match shape {
        Some(shape) if errors.is_empty() => Ok(shape),
        _ => Err(errors.finish()),
    }
}

fn check_members(object: &Map<String, Value>, allowed: &[&str], errors: &mut Errors) {
    for key in object.keys() {
        if !allowed.contains(&key.as_str()) {
            errors.push(
                format!("geometry.{key}"),
                format!("unknown member; this geometry type takes only {}", allowed.join(", ")),
            );
        }
    }
}

fn parse_circle(object: &Map<String, Value>, limits: &GeometryLimits, errors: &mut Errors) -> Option<FenceShape> {
    check_members(object, &["type", "center", "radius_m"], errors);
    let center = match object.get("center") {
        None => {
            errors.push("geometry.center", "is required: [longitude, latitude]");
            None
        }
        Some(Value::Array(pair)) if pair.len() == 2 => match (pair[0].as_f64(), pair[1].as_f64()) {
            (Some(lon), Some(lat)) => match LatLon::new(lat, lon) {
                Ok(p) => Some(p),
                Err(problems) => {
                    for e in problems {
                        let what = if e.field == "lat" { "latitude" } else { "longitude" };
                        errors.push("geometry.center", format!("{what}: {}", e.message));
                    }
                    None
                }
            },
            _ => {
                errors.push("geometry.center", "must be [longitude, latitude], two numbers");
                None
            }
        },
        Some(other) => {
            errors.push(
                "geometry.center",
                format!(
                    "must be [longitude, latitude], two numbers; got {}",
                    match other {
                        Value::Array(a) => format!("an array of {}", a.len()),
                        v => kind_of(v).to_string(),
                    }
                ),
            );
            None
        }
    };
    let radius = match object.get("radius_m") {
        None => {
            errors.push("geometry.radius_m", "is required");
            None
        }
        Some(v) => match v.as_f64() {
            Some(r) if !r.is_finite() => {
                errors.push("geometry.radius_m", "must be a finite number");
                None
            }
            Some(r) if r < limits.min_circle_radius_m || r > limits.max_circle_radius_m => {
                errors.push(
                    "geometry.radius_m",
                    format!(
                        "{r} m is outside [{}, {}] m",
                        limits.min_circle_radius_m, limits.max_circle_radius_m
                    ),
                );
                None
            }
            Some(r) => Some(r),
            None => {
                errors.push(
                    "geometry.radius_m",
                    format!("must be a number of metres, not {}", kind_of(v)),
                );
                None
            }
        },
    };
    let (center, radius_m) = (center?, radius?);
    Some(FenceShape {
        geometry: Geometry::Circle { center, radius_m },
        altitudes: None,
    })
}

/// A parsed position: coordinate and the optional altitude, kept for the echo.
type Position = (Coord<f64>, Option<f64>);

fn parse_polygonal(
    object: &Map<String, Value>,
    multi: bool,
    limits: &GeometryLimits,
    errors: &mut Errors,
) -> Option<FenceShape> {
    check_members(object, &["type", "coordinates", "bbox"], errors);
    let paths = Paths { multi };
    let coordinates = match object.get("coordinates") {
        None => {
            errors.push("geometry.coordinates", "is required");
            return None;
        }
        Some(Value::Array(a)) => a,
        Some(other) => {
            errors.push(
                "geometry.coordinates",
                format!(
                    "must be an array of {}, not {}",
                    if multi { "polygons" } else { "linear rings" },
                    kind_of(other)
                ),
            );
            return None;
        }
    };
    // Polygons as arrays of ring values; a Polygon is one part.
    let part_values: Vec<Option<&Vec<Value>>> = if multi {
        coordinates.iter().map(Value::as_array).collect()
    } else {
        vec![Some(coordinates)]
    };

    // The limit comes before any other work.
    let count: usize = part_values
        .iter()
        .flatten()
        .flat_map(|rings| rings.iter())
        .filter_map(Value::as_array)
        .map(Vec::len)
        .sum();
    if count > limits.max_positions {
        errors.push(
            "geometry.coordinates",
            format!(
                "the geometry has {count} positions; at most {} are allowed",
                limits.max_positions
            ),
        );
        return None;
    }
    if part_values.is_empty() {
        errors.push("geometry.coordinates", "a MultiPolygon needs at least one polygon");
        return None;
    }

    let mut parts: Vec<Option<Vec<Vec<Position>>>> = Vec::with_capacity(part_values.len());
    for (p, rings) in part_values.iter().enumerate() {
        let Some(rings) = rings else {
            errors.push(paths.part(p), "must be a polygon: an array of linear rings");
            parts.push(None);
            continue;
        };
        if rings.is_empty() {
            errors.push(paths.part(p), "a polygon needs at least its exterior ring");
            parts.push(None);
            continue;
        }
        let parsed: Vec<Option<Vec<Position>>> = rings
            .iter()
            .enumerate()
            .map(|(r, ring)| parse_ring(ring, &paths, p, r, errors))
            .collect();
        parts.push(parsed.into_iter().collect());
    }
    let parts: Vec<Vec<Vec<Position>>> = parts.into_iter().collect::<Option<_>>()?;

    let rings_of: Vec<Rings> = parts
        .iter()
        .map(|rings| {
            rings
                .iter()
                .map(|ring| ring.iter().map(|(c, _)| *c).collect())
                .collect()
        })
        .collect();
    for (p, rings) in rings_of.iter().enumerate() {
        let mut found = Vec::new();
        antimeridian::check_polygon(rings, &|r, i| paths.pos(p, r, i), &paths.part(p), &mut found);
        for (field, message) in found {
            errors.push(field, message);
        }
    }
    if !errors.is_empty() {
        return None;
    }
    topology::check(&rings_of, &paths, errors);
    if !errors.is_empty() {
        return None;
    }

    let altitudes: Vec<Option<f64>> = parts.iter().flatten().flatten().map(|(_, z)| *z).collect();
    let altitudes = altitudes.iter().any(Option::is_some).then_some(altitudes);
    let polygons = rings_of
        .into_iter()
        .map(|mut rings| {
            let exterior = LineString(rings.remove(0));
            Polygon::new(exterior, rings.into_iter().map(LineString).collect())
        })
        .collect();
    Some(FenceShape {
        geometry: Geometry::Polygons { parts: polygons, multi },
        altitudes,
    })
}

fn parse_ring(value: &Value, paths: &Paths, p: usize, r: usize, errors: &mut Errors) -> Option<Vec<Position>> {
    let Some(values) = value.as_array() else {
        errors.push(
            paths.ring(p, r),
            format!("must be a linear ring (an array of positions), not {}", kind_of(value)),
        );
        return None;
    };
    let positions: Vec<Option<Position>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| parse_position(v, &|| paths.pos(p, r, i), errors))
        .collect();
    let mut ok = true;
    if values.len() < 4 {
        errors.push(
            paths.ring(p, r),
            format!(
                "a linear ring needs at least 4 positions (the first repeated as the last); \
                 {} has {}",
                paths.ring_label(p, r),
                values.len()
            ),
        );
        ok = false;
    }
    let positions: Vec<Position> = positions.into_iter().collect::<Option<_>>()?;
    if let (Some(first), Some(last)) = (positions.first(), positions.last())
        && positions.len() >= 2
        && first != last
    {
        errors.push(
            paths.ring(p, r),
            format!(
                "{} is not closed: its last position {} differs from its first {} \
                 (rings are not closed automatically)",
                paths.ring_label(p, r),
                fmt_coord(last.0),
                fmt_coord(first.0)
            ),
        );
        ok = false;
    }
    ok.then_some(positions)
}

fn parse_position(value: &Value, path: &dyn Fn() -> String, errors: &mut Errors) -> Option<Position> {
    let Some(numbers) = value.as_array() else {
        errors.push(
            path(),
            format!("must be a position [longitude, latitude], not {}", kind_of(value)),
        );
        return None;
    };
    if !(2..=3).contains(&numbers.len()) {
        errors.push(
            path(),
            format!(
                "a position is [longitude, latitude] (an altitude may follow); this one has {} \
                 element(s)",
                numbers.len()
            ),
        );
        return None;
    }
    const NAMES: [&str; 3] = ["longitude", "latitude", "altitude"];
    let mut values = [0.0; 3];
    let mut ok = true;
    for (k, v) in numbers.iter().enumerate() {
        match v.as_f64() {
            Some(x) if x.is_finite() => values[k] = x,
            Some(_) => {
                errors.push(path(), format!("{} must be a finite number", NAMES[k]));
                ok = false;
            }
            None => {
                errors.push(path(), format!("{} must be a number, not {}", NAMES[k], kind_of(v)));
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    let (lon, lat) = (values[0], values[1]);
    if !(-90.0..=90.0).contains(&lat) {
        errors.push(path(), format!("latitude {lat} is outside [-90, 90]"));
        ok = false;
    }
    if !(-360.0..=360.0).contains(&lon) {
        errors.push(
            path(),
            format!(
                "longitude {lon} is outside [-180, 180] (longitudes up to ±360 are accepted \
                 only to continue a ring across the antimeridian)"
            ),
        );
        ok = false;
    }
    ok.then(|| (Coord { x: lon, y: lat }, (numbers.len() == 3).then_some(values[2])))
}
