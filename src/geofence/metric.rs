//! The one place where latitude/longitude become geometry and where metres are measured.
//!
//! * [`LatLon`] is a validated WGS 84 point; [`LatLon::to_point`] is the only function in the
//!   crate that builds a `geo::Point` from it (x = lon, y = lat).
//! * Distances are great-circle distances on a sphere of radius [`EARTH_RADIUS_M`] (the
//!   IUGG mean radius, the same one `geo`'s haversine uses), never degrees.
//! * Internally, the index works on unit vectors ("3-D points on the unit sphere"): they have
//!   no seam at ±180° and no singularity at the poles, which is why the hot path uses them
//!   instead of a local equirectangular projection (that one breaks down near the poles,
//!   where one degree of longitude shrinks to metres). Lengths are compared as squared
//!   chords, which are monotone in the great-circle distance and cost no trigonometry.

use serde::{Deserialize, Serialize};

use crate::field::FieldError;

/// Mean Earth radius (IUGG), metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A validated point: latitude in [-90, 90], longitude in [-180, 180], both finite.
///
/// ```
/// use muster::geofence::LatLon;
/// let p = LatLon::new(12.9716, 77.5946).unwrap();
/// assert_eq!(p.to_point().x(), 77.5946); // x is the longitude
/// assert!(LatLon::new(91.0, 0.0).is_err());
/// assert_eq!(LatLon::new(f64::NAN, 200.0).unwrap_err().len(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawLatLon")]
pub struct LatLon {
    lat: f64,
    lon: f64,
}

#[derive(Deserialize)]
struct RawLatLon {
    lat: f64,
    lon: f64,
}

impl TryFrom<RawLatLon> for LatLon {
    type Error = String;
    fn try_from(raw: RawLatLon) -> Result<Self, Self::Error> {
        LatLon::new(raw.lat, raw.lon)
            .map_err(|errors| errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))
    }
}

impl LatLon {
    /// Checks both coordinates and reports every problem, on fields `lat` and `lon`.
    pub fn new(lat: f64, lon: f64) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if !lat.is_finite() {
            errors.push(FieldError::new("lat", "must be a finite number"));
        } else if !(-90.0..=90.0).contains(&lat) {
            errors.push(FieldError::new("lat", format!("latitude {lat} is outside [-90, 90]")));
        }
        if !lon.is_finite() {
            errors.push(FieldError::new("lon", "must be a finite number"));
        } else if !(-180.0..=180.0).contains(&lon) {
            errors.push(FieldError::new(
                "lon",
                format!("longitude {lon} is outside [-180, 180]"),
            ));
        }
        if errors.is_empty() {
            Ok(Self { lat, lon })
        } else {
            Err(errors)
        }
    }

    pub fn lat(&self) -> f64 {
        self.lat
    }

    pub fn lon(&self) -> f64 {
        self.lon
    }

    /// The `geo` point of this location: x = longitude, y = latitude.
    pub fn to_point(self) -> geo::Point<f64> {
        geo::Point::new(self.lon, self.lat)
    }

    pub(crate) fn unit_vector(self) -> V3 {
        unit_vector(self.lat, self.lon)
    }
}

impl From<LatLon> for geo::Point<f64> {
    fn from(p: LatLon) -> Self {
        p.to_point()
    }
}

/// Great-circle distance in metres (haversine formula, mean Earth radius).
///
/// ```
/// use muster::geofence::{haversine_m, LatLon};
/// let a = LatLon::new(0.0, 179.9995).unwrap();
/// let b = LatLon::new(0.0, -179.9995).unwrap();
/// // 0.001° of longitude at the equator, across the antimeridian: about 111 m, not 40,000 km.
/// assert!((haversine_m(a, b) - 111.2).abs() < 0.1);
/// ```
pub fn haversine_m(a: LatLon, b: LatLon) -> f64 {
    let (p1, p2) = (a.lat.to_radians(), b.lat.to_radians());
    let dp = p2 - p1;
    let dl = (b.lon - a.lon).to_radians();
    let h = (dp * 0.5).sin().powi(2) + p1.cos() * p2.cos() * (dl * 0.5).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.clamp(0.0, 1.0).sqrt().asin()
}

/// A point on the unit sphere (x towards lon 0 on the equator, z towards the north pole).
pub(crate) type V3 = [f64; 3];

/// Latitude and longitude in degrees, any longitude (the vector has no seam).
pub(crate) fn unit_vector(lat: f64, lon: f64) -> V3 {
    let (sp, cp) = lat.to_radians().sin_cos();
    let (sl, cl) = lon.to_radians().sin_cos();
    [cp * cl, cp * sl, sp]
}

/// Degrees of latitude and longitude back from a unit vector (used for midpoints of
/// densified edges, which are computed in degrees anyway; kept for tests of the inverse).
#[cfg(test)]
pub(crate) fn lat_lon_of(v: V3) -> (f64, f64) {
    let lat = v[2].clamp(-1.0, 1.0).asin().to_degrees();
    let lon = v[1].atan2(v[0]).to_degrees();
    (lat, lon)
}

#[inline]
pub(crate) fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

#[inline]
pub(crate) fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

#[inline]
pub(crate) fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

#[inline]
pub(crate) fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

#[inline]
pub(crate) fn norm2(a: V3) -> f64 {
    dot(a, a)
}

/// Squared chord between two unit vectors; accurate for tiny separations, unlike 1 - a·b.
#[inline]
pub(crate) fn chord2(a: V3, b: V3) -> f64 {
    norm2(sub(a, b))
}

/// Great-circle metres for a squared chord.
#[inline]
pub(crate) fn chord2_to_m(c2: f64) -> f64 {
    let half = (c2.max(0.0).sqrt() * 0.5).min(1.0);
    2.0 * EARTH_RADIUS_M * half.asin()
}

/// Squared chord for a great-circle distance in metres (saturates at the antipode).
#[inline]
pub(crate) fn m_to_chord2(m: f64) -> f64 {
    let theta = m.max(0.0) / EARTH_RADIUS_M;
    if theta >= std::f64::consts::PI {
        return 4.0;
    }
    let c = 2.0 * (theta * 0.5).sin();
    c * c
}

/// An axis-aligned box in unit-sphere space, as `[min, max]`.
pub(crate) type Box3 = [V3; 2];

/// Slack added to every box so that rounding in sin/cos never excludes a point that lies
/// on a fence's edge; 1e-9 on the unit sphere is about 6 mm.
pub(crate) const BOX_PAD: f64 = 1e-9;

pub(crate) fn pad_box(b: Box3, pad: f64) -> Box3 {
    let [lo, hi] = b;
    [
        [lo[0] - pad, lo[1] - pad, lo[2] - pad],
        [hi[0] + pad, hi[1] + pad, hi[2] + pad],
    ]
}

pub(crate) fn box_union(a: Box3, b: Box3) -> Box3 {
    [
        [a[0][0].min(b[0][0]), a[0][1].min(b[0][1]), a[0][2].min(b[0][2])],
        [a[1][0].max(b[1][0]), a[1][1].max(b[1][1]), a[1][2].max(b[1][2])],
    ]
}

/// Whether some `at + k·360` (k an integer) lies in `[lo, hi]` (degrees).
fn reaches(lo: f64, hi: f64, at: f64) -> bool {
    let k = ((lo - at) / 360.0).ceil();
    at + k * 360.0 <= hi
}

/// Range of `f` over `[lo, hi]` degrees, where `f` peaks at `max_at` and bottoms at `min_at`
/// (mod 360): the extremes are at the ends unless a peak or trough lies inside.
fn trig_range(lo: f64, hi: f64, f: fn(f64) -> f64, max_at: f64, min_at: f64) -> (f64, f64) {
    let (a, b) = (f(lo.to_radians()), f(hi.to_radians()));
    let mut range = (a.min(b), a.max(b));
    if reaches(lo, hi, max_at) {
        range.1 = 1.0;
    }
    if reaches(lo, hi, min_at) {
        range.0 = -1.0;
    }
    range
}

/// The exact box of the spherical region covered by a longitude/latitude rectangle
/// (longitudes may run beyond ±180; the span is at most 360°).
pub(crate) fn lon_lat_rect_box(min_lon: f64, max_lon: f64, min_lat: f64, max_lat: f64) -> Box3 {
    let cos_lat = trig_range(min_lat, max_lat, f64::cos, 0.0, 180.0);
    // cos(lat) is never negative for lat in [-90, 90]; rounding at ±90 can give -6e-17.
    let cos_lat = (cos_lat.0.max(0.0), cos_lat.1.max(0.0));
    let cos_lon = trig_range(min_lon, max_lon, f64::cos, 0.0, 180.0);
    let sin_lon = trig_range(min_lon, max_lon, f64::sin, 90.0, -90.0);
    let product = |(a0, a1): (f64, f64), (b0, b1): (f64, f64)| {
        let c = [a0 * b0, a0 * b1, a1 * b0, a1 * b1];
        (
            c.iter().copied().fold(f64::INFINITY, f64::min),
            c.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    };
    let x = product(cos_lat, cos_lon);
    let y = product(cos_lat, sin_lon);
    let z = (min_lat.to_radians().sin(), max_lat.to_radians().sin());
    pad_box([[x.0, y.0, z.0], [x.1, y.1, z.1]], BOX_PAD)
}

/// The box of a spherical cap (all points within `angle` radians of `center`).
pub(crate) fn cap_box(center: V3, angle: f64) -> Box3 {
    let mut b = [[0.0; 3]; 2];
    for axis in 0..3 {
        let to_plus = center[axis].clamp(-1.0, 1.0).acos();
        let to_minus = std::f64::consts::PI - to_plus;
        b[1][axis] = if to_plus <= angle { 1.0 } else { (to_plus - angle).cos() };
        b[0][axis] = if to_minus <= angle {
            -1.0
        } else {
            -(to_minus - angle).cos()
        };
    }
    pad_box(b, BOX_PAD)
}

/// Squared distance from a point to a box (0 inside): a lower bound of the squared chord
/// to anything inside the box. (The index uses the `f32` twin, `bvh::SmallBox::dist2`.)
#[cfg(test)]
pub(crate) fn box_dist2(b: &Box3, p: V3) -> f64 {
    let mut d = 0.0;
    for axis in 0..3 {
        let v = p[axis];
        let e = if v < b[0][axis] {
            b[0][axis] - v
        } else if v > b[1][axis] {
            v - b[1][axis]
        } else {
            0.0
        };
        d += e * e;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chord_round_trip() {
        for m in [0.0, 0.01, 1.0, 150.0, 50_000.0, 1.0e6] {
            let back = chord2_to_m(m_to_chord2(m));
            assert!((back - m).abs() <= 1e-9 * m.max(1.0), "{m} -> {back}");
        }
    }

    #[test]
    fn unit_vector_inverse() {
        let (lat, lon) = lat_lon_of(unit_vector(-33.5, 151.25));
        assert!((lat + 33.5).abs() < 1e-12 && (lon - 151.25).abs() < 1e-12);
    }

    #[test]
    fn rect_box_holds_its_corners_and_inside() {
        let b = lon_lat_rect_box(170.0, 190.0, -10.0, 80.0);
        for lat in [-10.0, 0.0, 45.0, 80.0] {
            for lon in [170.0, 179.0, 180.0, 185.0, 190.0] {
                assert_eq!(box_dist2(&b, unit_vector(lat, lon)), 0.0);
            }
        }
        assert!(box_dist2(&b, unit_vector(0.0, 0.0)) > 0.1);
    }

    #[test]
    fn cap_box_holds_the_cap() {
        let c = unit_vector(89.99, 10.0);
        let angle = 5_000.0 / EARTH_RADIUS_M;
        let b = cap_box(c, angle);
        assert_eq!(box_dist2(&b, unit_vector(90.0, 0.0)), 0.0);
        assert_eq!(box_dist2(&b, unit_vector(89.99, -170.0)), 0.0);
    }
}
