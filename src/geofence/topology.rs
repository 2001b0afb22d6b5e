//! Topological validation of polygon input: zero area, self-intersection, holes crossing
//! or outside their shell, holes inside holes, MultiPolygon parts that overlap or touch
//! along a line (across the antimeridian too).
//!
//! `geo`'s `Validation` says *that* a ring self-intersects, not *where*, and its
//! self-intersection test compares every pair of edges (10^8 pairs at 10,000 positions),
//! so this module finds the intersecting edge pairs itself with an R-tree over the edges and
//! names the positions and the point in its messages. Whether a hole or part lies inside
//! another is decided on the pieces of its edges between touch points: with no crossing
//! left, each piece is wholly inside or wholly outside, and its midpoint tells which.

use std::collections::HashSet;

use geo::line_intersection::{LineIntersection, line_intersection};
use geo::{Coord, Line};
use rstar::{AABB, RTree, RTreeObject};

use super::antimeridian::is_seam_edge;
use super::error::{Errors, Paths, fmt_coord};
use super::planar::{Location, PlanarPolygon};
use geo::kernels::{Kernel, Orientation, RobustKernel};

/// One part (polygon) as written: rings of coordinates, exterior first.
pub(crate) type Rings = Vec<Vec<Coord<f64>>>;

#[derive(Debug, Clone)]
struct Segment {
    part: usize,
    ring: usize,
    /// Index of the start position in the ring as written.
    pos: usize,
    /// Index among the ring's non-degenerate segments, to tell neighbours.
    seq: usize,
    a: Coord<f64>,
    b: Coord<f64>,
    /// Longitude shift of this copy (0 for the written segment, ±360 for the copies that
    /// let parts on either side of the antimeridian meet).
    shift: f64,
}

struct SegmentBox {
    envelope: AABB<[f64; 2]>,
    index: usize,
}

impl RTreeObject for SegmentBox {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

/// Caps how many intersection errors one geometry reports: the first few explain it.
const MAX_INTERSECTION_ERRORS: usize = 10;

pub(crate) fn check(parts: &[Rings], paths: &Paths, errors: &mut Errors) {
    let mut good = vec![true; parts.len()];
    for (p, rings) in parts.iter().enumerate() {
        for (r, ring) in rings.iter().enumerate() {
            if collinear(ring) {
                errors.push(
                    paths.ring(p, r),
                    format!(
                        "{} has zero area (its positions are collinear or repeated)",
                        paths.ring_label(p, r)
                    ),
                );
                good[p] = false;
            }
        }
    }

    let (segments, ring_segments) = collect_segments(parts, &good);
    let touches = intersections(&segments, parts, paths, &mut good, errors);

    // With no crossing left, place holes and parts by their pieces.
    let planar: Vec<Option<PlanarPolygon>> = parts
        .iter()
        .enumerate()
        .map(|(p, rings)| {
            good[p].then(|| {
                let mut poly = geo::Polygon::new(geo::LineString(rings[0].clone()), vec![]);
                for hole in &rings[1..] {
                    poly.interiors_push(geo::LineString(hole.clone()));
                }
                PlanarPolygon::new(&poly)
            })
        })
        .collect();
    let pieces = Pieces {
        segments: &segments,
        ring_segments: &ring_segments,
        touches: &touches,
    };

    for (p, rings) in parts.iter().enumerate() {
        if !good[p] || rings.len() < 2 {
            continue;
        }
        let shell = PlanarPolygon::from_ring(&rings[0]);
        let holes: Vec<PlanarPolygon> = rings[1..].iter().map(|h| PlanarPolygon::from_ring(h)).collect();
        for h in 1..rings.len() {
            if pieces.first_at(p, h, 0.0, &shell, Location::Outside).is_some() {
                errors.push(
                    paths.ring(p, h),
                    format!("{} lies outside its polygon's exterior ring", paths.ring_label(p, h)),
                );
                continue;
            }
            for other in 1..rings.len() {
                if other == h || !bbox_meet(&holes[h - 1].bbox, &holes[other - 1].bbox, 0.0) {
                    continue;
                }
                if let Some(at) = pieces.first_at(p, h, 0.0, &holes[other - 1], Location::Inside) {
                    errors.push(
                        paths.ring(p, h),
                        format!(
                            "{} overlaps {} (at {}); holes must not overlap",
                            paths.ring_label(p, h),
                            paths.ring_label(p, other),
                            fmt_coord(at)
                        ),
                    );
                    break;
                }
            }
        }
    }

    for p in 0..parts.len() {
        for q in p + 1..parts.len() {
            let (Some(pp), Some(pq)) = (&planar[p], &planar[q]) else {
                continue;
            };
            for shift in [0.0, 360.0, -360.0] {
                if !bbox_meet(&pp.bbox, &pq.bbox, shift) {
                    continue;
                }
                // q's exterior, moved by `shift`, entering p; or p's, moved back, entering q.
                let hit = pieces
                    .first_at(q, 0, shift, pp, Location::Inside)
                    .or_else(|| pieces.first_at(p, 0, -shift, pq, Location::Inside));
                if let Some(at) = hit {
                    errors.push(
                        paths.part(q),
                        format!(
                            "polygon {q} overlaps polygon {p} (near {}); the polygons of a \
                             MultiPolygon must not overlap",
                            fmt_coord(at)
                        ),
                    );
                    break;
                }
            }
        }
    }
}

/// Whether all positions lie on one line (or coincide): no area at all. A bowtie's signed
/// area can be zero too, but that one is a self-intersection and is reported as such.
fn collinear(ring: &[Coord<f64>]) -> bool {
    let Some(&a) = ring.first() else {
        return true;
    };
    let Some(&b) = ring.iter().find(|c| **c != a) else {
        return true;
    };
    ring.iter()
        .all(|&c| RobustKernel::orient2d(a, b, c) == Orientation::Collinear)
}

fn bbox_meet(a: &[f64; 4], b: &[f64; 4], shift_b: f64) -> bool {
    a[0] <= b[2] + shift_b && b[0] + shift_b <= a[2] && a[1] <= b[3] && b[1] <= a[3]
}

/// Segments of the good parts, plus shifted copies of those reaching ±180, and for each
/// (part, ring, shift) the range of its segments.
#[allow(clippy::type_complexity)]
fn collect_segments(
    parts: &[Rings],
    good: &[bool],
) -> (Vec<Segment>, Vec<(usize, usize, f64, std::ops::Range<usize>)>) {
    let mut segments = Vec::new();
    let mut ranges = Vec::new();
    for (p, rings) in parts.iter().enumerate() {
        if !good[p] {
            continue;
        }
        let (min_x, max_x) = rings
            .iter()
            .flatten()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| {
                (lo.min(c.x), hi.max(c.x))
            });
        let mut shifts = vec![0.0];
        if max_x >= 180.0 {
            shifts.push(-360.0);
        }
        if min_x <= -180.0 {
            shifts.push(360.0);
        }
        for shift in shifts {
            for (r, ring) in rings.iter().enumerate() {
                let start = segments.len();
                let mut seq = 0;
                for (i, w) in ring.windows(2).enumerate() {
                    if w[0] == w[1] {
                        continue;
                    }
                    let moved = |c: Coord<f64>| Coord { x: c.x + shift, y: c.y };
                    segments.push(Segment {
                        part: p,
                        ring: r,
                        pos: i,
                        seq,
                        a: moved(w[0]),
                        b: moved(w[1]),
                        shift,
                    });
                    seq += 1;
                }
                ranges.push((p, r, shift, start..segments.len()));
            }
        }
    }
    (segments, ranges)
}

/// Finds every intersecting pair of segments; reports the bad ones and returns, per segment,
/// the points where other rings or parts merely touch it.
fn intersections(
    segments: &[Segment],
    parts: &[Rings],
    paths: &Paths,
    good: &mut [bool],
    errors: &mut Errors,
) -> Vec<Vec<Coord<f64>>> {
    let mut touches = vec![Vec::new(); segments.len()];
    let tree = RTree::bulk_load(
        segments
            .iter()
            .enumerate()
            .map(|(index, s)| SegmentBox {
                envelope: AABB::from_corners(
                    [s.a.x.min(s.b.x), s.a.y.min(s.b.y)],
                    [s.a.x.max(s.b.x), s.a.y.max(s.b.y)],
                ),
                index,
            })
            .collect(),
    );
    let ring_lens: Vec<Vec<usize>> = parts
        .iter()
        .map(|rings| {
            rings
                .iter()
                .map(|ring| ring.windows(2).filter(|w| w[0] != w[1]).count())
                .collect()
        })
        .collect();
    let ring_len = |s: &Segment| ring_lens[s.part][s.ring];
    let mut reported = 0usize;
    let mut reported_pairs: HashSet<(usize, usize)> = HashSet::new();
    for (i, s) in segments.iter().enumerate() {
        let envelope = AABB::from_corners(
            [s.a.x.min(s.b.x), s.a.y.min(s.b.y)],
            [s.a.x.max(s.b.x), s.a.y.max(s.b.y)],
        );
        for other in tree.locate_in_envelope_intersecting(&envelope) {
            let j = other.index;
            if j <= i {
                continue;
            }
            let t = &segments[j];
            // Two copies, or a part against a copy of itself, repeat a written relation.
            if (s.shift != 0.0 && t.shift != 0.0) || (s.part == t.part && s.shift != t.shift) {
                continue;
            }
            let Some(hit) = line_intersection(Line::new(s.a, s.b), Line::new(t.a, t.b)) else {
                continue;
            };
            let (first, second) = if (t.part, t.ring, t.pos) > (s.part, s.ring, s.pos) {
                (s, t)
            } else {
                (t, s)
            };
            let problem = if s.part == t.part && s.ring == t.ring {
                same_ring(first, second, &hit, ring_len(first), paths)
            } else if s.part == t.part {
                between_rings(first, second, &hit, paths)
            } else {
                between_parts(first, second, &hit, paths, &mut reported_pairs)
            };
            match problem {
                Some(Problem::Report(field, message)) => {
                    good[s.part] = false;
                    good[t.part] = false;
                    if reported < MAX_INTERSECTION_ERRORS {
                        errors.push(field, message);
                    }
                    reported += 1;
                }
                Some(Problem::Silent) => {
                    good[s.part] = false;
                    good[t.part] = false;
                }
                None => {
                    if let LineIntersection::SinglePoint { intersection, .. } = hit {
                        touches[i].push(intersection);
                        touches[j].push(intersection);
                    }
                }
            }
        }
    }
    touches
}

enum Problem {
    Report(String, String),
    /// Already reported for this pair of parts.
    Silent,
}

fn edge_text(s: &Segment, paths: &Paths) -> String {
    let unshift = |c: Coord<f64>| Coord {
        x: c.x - s.shift,
        y: c.y,
    };
    format!(
        "the edge from {} {} to {}",
        paths.short(s.part, s.ring, s.pos),
        fmt_coord(unshift(s.a)),
        fmt_coord(unshift(s.b))
    )
}

fn hit_text(hit: &LineIntersection<f64>) -> String {
    match hit {
        LineIntersection::SinglePoint { intersection, .. } => {
            format!("at {}", fmt_coord(*intersection))
        }
        LineIntersection::Collinear { intersection } => format!(
            "along {}–{}",
            fmt_coord(intersection.start),
            fmt_coord(intersection.end)
        ),
    }
}

fn same_ring(
    first: &Segment,
    second: &Segment,
    hit: &LineIntersection<f64>,
    ring_len: usize,
    paths: &Paths,
) -> Option<Problem> {
    let gap = second.seq.abs_diff(first.seq);
    let adjacent = gap == 1 || (ring_len > 2 && gap == ring_len - 1);
    if adjacent {
        // Neighbours share their joint; anything more is the ring folding back on itself.
        if let LineIntersection::Collinear { intersection } = hit
            && intersection.start != intersection.end
        {
            return Some(Problem::Report(
                paths.pos(second.part, second.ring, second.pos),
                format!(
                    "{} folds back over the previous edge {}: self-intersection",
                    edge_text(second, paths),
                    hit_text(&LineIntersection::Collinear {
                        intersection: *intersection
                    })
                ),
            ));
        }
        return None;
    }
    Some(Problem::Report(
        paths.pos(second.part, second.ring, second.pos),
        format!(
            "self-intersection: {} meets {} {}",
            edge_text(second, paths),
            edge_text(first, paths),
            hit_text(hit)
        ),
    ))
}

fn between_rings(first: &Segment, second: &Segment, hit: &LineIntersection<f64>, paths: &Paths) -> Option<Problem> {
    let what = match hit {
        LineIntersection::SinglePoint { is_proper: true, .. } => "crosses",
        LineIntersection::Collinear { intersection } if intersection.start != intersection.end => "runs along",
        // Rings may touch at a point.
        _ => return None,
    };
    Some(Problem::Report(
        paths.pos(second.part, second.ring, second.pos),
        format!(
            "{}: {} {what} {} of {} {}",
            paths.ring_label(second.part, second.ring),
            edge_text(second, paths),
            edge_text(first, paths),
            paths.ring_label(first.part, first.ring),
            hit_text(hit)
        ),
    ))
}

fn between_parts(
    first: &Segment,
    second: &Segment,
    hit: &LineIntersection<f64>,
    paths: &Paths,
    reported_pairs: &mut HashSet<(usize, usize)>,
) -> Option<Problem> {
    let what = match hit {
        LineIntersection::SinglePoint { is_proper: true, .. } => "overlaps",
        LineIntersection::Collinear { intersection } if intersection.start != intersection.end => {
            let unshift = |s: &Segment| {
                (
                    Coord {
                        x: s.a.x - s.shift,
                        y: s.a.y,
                    },
                    Coord {
                        x: s.b.x - s.shift,
                        y: s.b.y,
                    },
                )
            };
            let (fa, fb) = unshift(first);
            let (sa, sb) = unshift(second);
            // Parts split at the antimeridian meet there from both sides: that is the
            // split notation, not a touch.
            if first.shift != second.shift && is_seam_edge(fa, fb) && is_seam_edge(sa, sb) {
                return None;
            }
            "touches along a line"
        }
        _ => return None,
    };
    if !reported_pairs.insert((first.part, second.part)) {
        return Some(Problem::Silent);
    }
    let advice = if what == "overlaps" {
        "the polygons of a MultiPolygon must not overlap"
    } else {
        "polygons that share an edge must be merged into one"
    };
    Some(Problem::Report(
        paths.pos(second.part, second.ring, second.pos),
        format!(
            "polygon {} {what} polygon {}: {} meets {} {}; {advice}",
            second.part,
            first.part,
            edge_text(second, paths),
            edge_text(first, paths),
            hit_text(hit)
        ),
    ))
}

struct Pieces<'a> {
    segments: &'a [Segment],
    ring_segments: &'a [(usize, usize, f64, std::ops::Range<usize>)],
    touches: &'a [Vec<Coord<f64>>],
}

impl Pieces<'_> {
    /// The midpoint of the first piece of ring (`part`, `ring`), moved by `shift`, that lies
    /// at `want` relative to `target`. Pieces run between a ring's positions and the points
    /// where other rings touch it. Falls back to the written segments moved by `shift`
    /// when no copy with that shift exists (touches are then irrelevant: none were found).
    fn first_at(
        &self,
        part: usize,
        ring: usize,
        shift: f64,
        target: &PlanarPolygon,
        want: Location,
    ) -> Option<Coord<f64>> {
        let exact = self
            .ring_segments
            .iter()
            .find(|(p, r, s, _)| *p == part && *r == ring && *s == shift);
        let (range, moved_by) = match exact {
            Some((_, _, _, range)) => (range.clone(), 0.0),
            None => {
                let written = self
                    .ring_segments
                    .iter()
                    .find(|(p, r, s, _)| *p == part && *r == ring && *s == 0.0)?;
                (written.3.clone(), shift)
            }
        };
        for i in range {
            let s = &self.segments[i];
            let a = Coord {
                x: s.a.x + moved_by,
                y: s.a.y,
            };
            let b = Coord {
                x: s.b.x + moved_by,
                y: s.b.y,
            };
            let mut cuts: Vec<f64> = self.touches[i]
                .iter()
                .map(|c| {
                    let along = if (b.x - a.x).abs() >= (b.y - a.y).abs() {
                        (c.x + moved_by - a.x) / (b.x - a.x)
                    } else {
                        (c.y - a.y) / (b.y - a.y)
                    };
                    along.clamp(0.0, 1.0)
                })
                .collect();
            cuts.push(0.0);
            cuts.push(1.0);
            cuts.sort_by(f64::total_cmp);
            for w in cuts.windows(2) {
                if w[1] - w[0] <= 0.0 {
                    continue;
                }
                let t = (w[0] + w[1]) * 0.5;
                let m = Coord {
                    x: a.x + (b.x - a.x) * t,
                    y: a.y + (b.y - a.y) * t,
                };
                if target.locate(m.x, m.y) == want {
                    return Some(m);
                }
            }
        }
        None
    }
}
