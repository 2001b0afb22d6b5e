//! Fences that cross the antimeridian (±180° longitude).
//!
//! GeoJSON edges are straight lines in longitude/latitude, so a ring that jumps from 179 to
//! -179 goes the long way round the Earth, and plain `geo` then finds lon 0 inside it.
//! Two notations are accepted instead, and everything else is rejected with a clear error:
//!
//! 1. **Continued longitudes.** Every latitude is in [-90, 90] and every longitude in
//!    [-360, 360]. A polygon whose longitudes all lie in [-180, 180] is taken as written.
//!    A polygon may use longitudes beyond ±180 only when its exterior ring *crosses the
//!    antimeridian in that notation*: it has longitudes on both sides of +180 (some below,
//!    some above) or on both sides of -180; and all of its positions, holes included, lie
//!    within one window narrower than 360° (max − min < 360). So
//!    `[[179,-1],[181,-1],[181,1],[179,1],[179,-1]]` is accepted (it spans 179°E–179°W),
//!    while a ring lying wholly beyond 180 (`[[181,0],[182,0],[182,1],[181,0]]`, write it
//!    as -179..-178) or one mixing 181 and -181 is not. Holes use their shell's notation.
//! 2. **Split at the seam.** A MultiPolygon whose parts meet at +180 and -180 is one fence.
//!    The stretch of the seam covered from both sides is not a boundary: the distance and
//!    the `strict` rule see through it, and a point on it (lon 180 or -180) is inside.
//!    The same holds for one polygon spanning all longitudes (a band round the Earth, or a
//!    cap written as `[-180, 180] × [89.9, 90]`), whose two seam edges cover each other.
//!
//! And in both notations no edge may span more than 180° of longitude (edges lying on a
//! pole, lat ±90, excepted: longitude means nothing there).
//!
//! For a query, a fence keeps its own frame; the point's longitude is tried as `lon`,
//! `lon + 360` and `lon - 360`, whichever fall inside the fence's longitude range.

use geo::Coord;

/// `(lon + k·360)` for k in -1..=1 that fall within `[min_x, max_x]`.
#[inline]
pub(crate) fn frame_longitudes(lon: f64, min_x: f64, max_x: f64) -> impl Iterator<Item = f64> {
    [lon, lon + 360.0, lon - 360.0]
        .into_iter()
        .filter(move |x| *x >= min_x && *x <= max_x)
}

/// Longitude rules of one polygon (exterior first), in the order the client wrote it.
/// `path(ring, position)` names a position.
pub(crate) fn check_polygon(
    rings: &[Vec<Coord<f64>>],
    path: &dyn Fn(usize, usize) -> String,
    polygon_path: &str,
    errors: &mut Vec<(String, String)>,
) {
    let beyond = |c: &Coord<f64>| c.x.abs() > 180.0;
    let first_beyond = rings
        .iter()
        .enumerate()
        .find_map(|(r, ring)| ring.iter().position(beyond).map(|i| (r, i, ring[i].x)));
    if let Some((r, i, x)) = first_beyond {
        let exterior = rings.first().map(Vec::as_slice).unwrap_or(&[]);
        let crosses = |seam: f64| exterior.iter().any(|c| c.x < seam) && exterior.iter().any(|c| c.x > seam);
        if !(crosses(180.0) || crosses(-180.0)) {
            errors.push((
                path(r, i),
                format!(
                    "longitude {x} is beyond ±180; longitudes up to ±360 are accepted only in a \
                     polygon whose exterior ring crosses the antimeridian in that notation \
                     (e.g. 179 to 181); write this position with longitude {}",
                    if x > 0.0 { x - 360.0 } else { x + 360.0 }
                ),
            ));
        } else {
            let (lo, hi) = rings
                .iter()
                .flatten()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| {
                    (lo.min(c.x), hi.max(c.x))
                });
            if hi - lo >= 360.0 {
                errors.push((
                    polygon_path.to_string(),
                    format!(
                        "longitudes run from {lo} to {hi}; a polygon written with longitudes \
                         beyond ±180 must lie within less than 360° of longitude"
                    ),
                ));
            }
        }
    }
    for (r, ring) in rings.iter().enumerate() {
        for (i, w) in ring.windows(2).enumerate() {
            let (a, b) = (w[0], w[1]);
            let along_pole = a.y == b.y && a.y.abs() == 90.0;
            if (b.x - a.x).abs() > 180.0 && !along_pole {
                errors.push((
                    path(r, i),
                    format!(
                        "the edge from [{}, {}] to [{}, {}] spans more than 180° of longitude, \
                         so it goes the long way round the Earth; if the ring crosses the \
                         antimeridian, continue its longitudes beyond ±180 (e.g. 181 for -179) \
                         or split it at ±180 into a MultiPolygon",
                        a.x, a.y, b.x, b.y
                    ),
                ));
                // One such edge is enough to explain the ring.
                break;
            }
        }
    }
}

/// Which side of the antimeridian the fence's interior lies on, next to a seam edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeamSide {
    /// Towards smaller longitudes: the 179°E side.
    East179,
    /// Towards larger longitudes: the 179°W side.
    West179,
}

/// Whether an edge lies on the antimeridian (in any notation the frame rules allow).
#[inline]
pub(crate) fn is_seam_edge(a: Coord<f64>, b: Coord<f64>) -> bool {
    a.x == b.x && a.x.abs() == 180.0 && a.y != b.y
}

/// Side of the interior next to a seam edge: `interior_left` says whether the fence's
/// interior lies to the left of the edge's direction (CCW exterior, CW hole).
pub(crate) fn seam_side(a: Coord<f64>, b: Coord<f64>, interior_left: bool) -> SeamSide {
    let going_north = b.y > a.y;
    // Left of a northbound edge is towards smaller longitudes.
    if going_north == interior_left {
        SeamSide::East179
    } else {
        SeamSide::West179
    }
}

/// Seam edges of one fence, collected so that the parts covered from both sides can be
/// dropped from the boundary.
#[derive(Debug, Default)]
pub(crate) struct Seam {
    east: Vec<(f64, f64)>,
    west: Vec<(f64, f64)>,
}

impl Seam {
    pub(crate) fn add(&mut self, side: SeamSide, lat_a: f64, lat_b: f64) {
        let interval = (lat_a.min(lat_b), lat_a.max(lat_b));
        match side {
            SeamSide::East179 => self.east.push(interval),
            SeamSide::West179 => self.west.push(interval),
        }
    }

    /// The latitude intervals of a seam edge on `side` that are true boundary: those not
    /// covered by the fence on the other side of the seam.
    pub(crate) fn exposed(&self, side: SeamSide, lat_a: f64, lat_b: f64) -> Vec<(f64, f64)> {
        let other = match side {
            SeamSide::East179 => &self.west,
            SeamSide::West179 => &self.east,
        };
        let mut pieces = vec![(lat_a.min(lat_b), lat_a.max(lat_b))];
        for &(lo, hi) in other {
            let mut next = Vec::with_capacity(pieces.len() + 1);
            for (a, b) in pieces {
                if hi <= a || lo >= b {
                    next.push((a, b));
                    continue;
                }
                if lo > a {
                    next.push((a, lo));
                }
                if hi < b {
                    next.push((hi, b));
                }
            }
            pieces = next;
        }
        pieces
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seam_coverage() {
        let mut s = Seam::default();
        s.add(SeamSide::East179, -1.0, 1.0);
        s.add(SeamSide::West179, 0.0, 2.0);
        assert_eq!(s.exposed(SeamSide::East179, 1.0, -1.0), vec![(-1.0, 0.0)]);
        assert_eq!(s.exposed(SeamSide::West179, 0.0, 2.0), vec![(1.0, 2.0)]);
    }

    #[test]
    fn frames() {
        let xs: Vec<f64> = frame_longitudes(-179.5, 179.0, 181.0).collect();
        assert_eq!(xs, vec![180.5]);
        let xs: Vec<f64> = frame_longitudes(180.0, -180.0, 180.0).collect();
        assert_eq!(xs, vec![180.0, -180.0]);
        let xs: Vec<f64> = frame_longitudes(-180.0, -180.0, 180.0).collect();
        assert_eq!(xs, vec![-180.0, 180.0]);
    }
}
