//! Geofences: validated fence geometry, a per-organisation index, and the check-in decision.
//!
//! Pure and self-contained (no I/O, nothing from other modules of the crate): the routes
//! parse a request's `geometry` with [`parse_geometry`], storage keeps
//! [`FenceShape::to_geojson`], and the attendance service builds a [`FenceIndex`] from an
//! org's active fences and calls [`FenceIndex::decide`] for each event.
//!
//! Conventions, once for the whole crate: coordinates are WGS 84 degrees; GeoJSON order is
//! `[lon, lat]` and a `geo::Point` has x = lon, y = lat (built only by [`LatLon::to_point`]);
//! polygon edges are straight in longitude/latitude as GeoJSON says; distances are metres on
//! the sphere ([`haversine_m`]), never degrees; a boundary point counts as inside.
//!
//! ```
//! use muster::geofence::{parse_geometry, AccuracyRule, Fence, FenceIndex, GeometryLimits, LatLon, Verdict};
//! use serde_json::json;
//! use uuid::Uuid;
//!
//! let office = parse_geometry(
//!     &json!({"type": "Circle", "center": [77.5946, 12.9716], "radius_m": 150}),
//!     &GeometryLimits::default(),
//! ).unwrap();
//! let site = Uuid::new_v4();
//! let index = FenceIndex::new(vec![Fence {
//!     id: Uuid::new_v4(), version: 1, name: "HQ".into(), site_id: site, shape: office,
//! }]);
//!
//! // 100 m north of the centre, ±80 m: inside for the point, uncertain when strict.
//! let p = LatLon::new(12.9716 + 100.0 / 111_195.0, 77.5946).unwrap();
//! assert_eq!(index.decide(p, 80.0, AccuracyRule::Point, Some(&[site])).verdict, Verdict::Inside);
//! assert_eq!(index.decide(p, 80.0, AccuracyRule::Strict, Some(&[site])).verdict, Verdict::Uncertain);
//!
//! // 200 m north: 50 m outside the rim.
//! let q = LatLon::new(12.9716 + 200.0 / 111_195.0, 77.5946).unwrap();
//! let d = index.decide(q, 60.0, AccuracyRule::Lenient, None);
//! assert_eq!(d.verdict, Verdict::Inside);
//! assert!((d.distance_m.unwrap() - 50.0).abs() < 0.1);
//! ```

mod antimeridian;
mod boundary;
mod bvh;
mod decision;
mod error;
mod index;
mod metric;
mod planar;
mod shape;
mod topology;

pub use decision::{AccuracyRule, FenceDecision, Verdict};
pub use error::GeofenceError;
pub use index::{Fence, FenceIndex, FenceRef};
pub use metric::{EARTH_RADIUS_M, LatLon, haversine_m};
pub use shape::{FenceShape, GeometryLimits, ShapeKind, parse_geometry};
