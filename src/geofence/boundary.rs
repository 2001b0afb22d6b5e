//! A fence's boundary as short great-circle arcs on the unit sphere, for distances in metres.
//!
//! The boundary the client drew is made of straight longitude/latitude edges (GeoJSON).
//! Each edge is split until every piece is within 1 cm of a great-circle arc (a long
//! east–west edge at 45° bows 49 m away from the great circle over 50 km; near a pole
//! a parallel is nothing like one), so the distance to the arcs is the distance to the
//! drawn boundary, on the sphere, to within a centimetre.
//!
//! Distance from a point to an arc costs a few cross and dot products and a square root, with
//! nothing precomputed per query: no projection, so nothing to break near the poles or
//! at ±180. Arcs are grouped in chunks of consecutive arcs with a bounding box each; a
//! large boundary also gets an R-tree over its chunks, so a query touches a few chunks.
//!
//! Edges that are not boundary on the sphere are left out: edges along a pole (a single
//! point) and the parts of seam edges covered from the other side of the antimeridian.

use super::antimeridian::{Seam, is_seam_edge, seam_side};
use super::bvh::{Bvh, Ordered, SmallBox, narrow};
use super::metric::{
    BOX_PAD, Box3, EARTH_RADIUS_M, V3, add, box_union, chord2, cross, dot, norm2, pad_box, sub, unit_vector,
};
use geo::{Coord, Polygon};

/// Largest distance between a drawn edge and the arcs that stand for it (1 cm).
const TOLERANCE: f64 = 0.01 / EARTH_RADIUS_M;
/// Arcs longer than this (about 12.7 km) are split anyway: chunk boxes stay useful and
/// vertices stored as `f32` offsets from their chunk's origin stay within ~1 mm.
const MAX_ARC_CHORD2: f64 = 4e-6;
/// A chunk's vertices lie within this chord of its origin (about 25 km; see above).
const MAX_ORIGIN_CHORD2: f64 = 1.6e-5;
const MAX_DEPTH: u32 = 16;
const CHUNK: usize = 8;
/// Up to this many chunks a scan of the chunk boxes beats walking a tree (and fits the
/// on-stack ordering): a tree node is four cache lines, sixteen chunk boxes six.
const TREE_THRESHOLD: usize = 16;

/// A great-circle arc from `a` to `b` with the unit normal of its plane (NaN for a
/// degenerate arc, which makes the in-arc test fail and leaves the endpoints).
#[derive(Debug, Clone, Copy)]
struct Arc {
    a: V3,
    b: V3,
    n: V3,
}

impl Arc {
    fn new(a: V3, b: V3) -> Self {
        let n = cross(a, b);
        let len = norm2(n).sqrt();
        let n = if len.is_nan() || len <= 1e-15 {
            [f64::NAN; 3]
        } else {
            [n[0] / len, n[1] / len, n[2] / len]
        };
        Arc { a, b, n }
    }

    #[cfg(test)]
    fn is_degenerate(&self) -> bool {
        self.n[0].is_nan()
    }

    /// How far the arc bulges beyond its chord (the box of the endpoints misses that).
    fn sagitta(&self) -> f64 {
        let c2 = chord2(self.a, self.b);
        1.0 - (1.0 - c2 * 0.25).max(0.0).sqrt()
    }
}

/// Squared chord from a point to the arc `a`→`b` with unit normal `n`, all but `n` given
/// relative to `origin` (`r` is the point); `pa`, `pb` are the squared chords to the ends.
#[inline]
fn arc_chord2(r: V3, origin: V3, a: V3, n: V3, b: V3, pa: f64, pb: f64) -> f64 {
    // Tangents at `a` towards `b` and at `b` towards `a`: the point projects inside the arc
    // when it lies on the inner side of both. Computed here rather than stored, to keep the
    // boundary small in memory (cache misses, not arithmetic, bound a decision).
    let ra = sub(r, a);
    let u = cross(n, add(origin, a));
    let v = cross(add(origin, b), n);
    if dot(ra, u) >= 0.0 && dot(sub(r, b), v) >= 0.0 {
        // Chord to the foot on the great circle: 2(1 - cos θ) with sin θ = (p - a)·n,
        // written to stay exact for tiny θ.
        let s = dot(ra, n);
        let s = s * s;
        2.0 * s / (1.0 + (1.0 - s).max(0.0).sqrt())
    } else {
        pa.min(pb)
    }
}

/// Boundaries of many fences in flat arrays (see `planar::PlanarStore` for why).
///
/// A chunk of `k` consecutive arcs keeps its first vertex as an `f64` origin and then
/// `v0, n0, v1, n1, …, v(k-1), n(k-1), vk` as `f32`: vertices as offsets from the origin
/// (within 25 km, so within ~1 mm), normals as they are. Distances are then computed
/// from `p - origin`, which keeps every difference small and exact enough; half the
/// bytes of `f64` vectors, and bytes are what a cold decision pays for.
#[derive(Debug, Clone, Default)]
pub(crate) struct SphereStore {
    chunk_boxes: Vec<SmallBox>,
    chunk_heads: Vec<ChunkHead>,
    data: Vec<[f32; 3]>,
    /// Chunk trees of the large boundaries (items are global chunk numbers).
    trees: Bvh,
}

#[derive(Debug, Clone)]
struct ChunkHead {
    origin: V3,
    start: u32,
    arcs: u32,
}

/// One fence's boundary in a `SphereStore`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Boundary {
    chunks: u32,
    chunk_count: u32,
    /// Root of its chunk tree in the store's forest, for more than `TREE_THRESHOLD` chunks.
    tree: Option<u32>,
    caps: Caps,
}

/// Slack for the caps' bounds, in radians: the arcs as `chunk_chord2` measures them (vertices
/// and normals rounded to `f32`) lie within about a millimetre of true great-circle arcs,
/// so a bound from the triangle inequality is kept this much (6 mm, plus a millionth of the
/// angle for rounding) on the safe side.
const CAP_SLACK: f64 = 1e-9;
const CAP_SLACK_RELATIVE: f64 = 1e-6;

/// Two caps around one point near a boundary, read before any of its chunks (they sit in
/// the fence's record, which the decision has loaded anyway): no arc comes nearer `center`
/// than `clear`, and none goes farther than `far`. By the triangle inequality on the sphere,
///
/// * a point within `clear - r` of `center` has no boundary within `r`: a `strict` check-in
///   deep inside a fence needs no arc at all;
/// * a point at `d` from `center` is at least `d - far` from every arc: the nearest-fence
///   search skips a fence whose caps say it cannot beat the best distance so far, without
///   reading its chunk boxes (a few cache lines each).
#[derive(Debug, Clone, Copy)]
struct Caps {
    center: [f32; 3],
    /// Radians, rounded down; 0 for no bound.
    clear: f32,
    /// Sine and cosine of half the farthest angle, rounded up; NaN (no bound) when that
    /// angle is not below a quarter turn, where the formulas below would stop holding.
    far_sin: f32,
    far_cos: f32,
}

impl Caps {
    const NONE: Caps = Caps {
        center: [0.0; 3],
        clear: 0.0,
        far_sin: f32::NAN,
        far_cos: f32::NAN,
    };

    /// Whether no arc comes within `angle` (radians) of `p`: `p` lies within
    /// `clear - angle` of the centre. The angle θ to the centre is not computed: with
    /// chord c = 2 sin(θ/2), θ ≤ c / √(1 - c²/4), so c² ≤ t² (1 - c²/4) implies θ ≤ t.
    #[inline]
    fn clear_of(&self, p: V3, angle: f64) -> bool {
        let t = f64::from(self.clear) - angle;
        if t.is_nan() || t <= 0.0 {
            return false;
        }
        let c2 = chord2(p, widen(self.center));
        c2 <= t * t * (1.0 - 0.25 * c2)
    }

    /// Whether every arc is at least as far from `p` as the squared chord `best`: θ (to the
    /// centre) ≥ far + β (β the angle of `best`), compared as chords, which needs only
    /// square roots: 2 sin((far + β)/2) from the stored half-angle sine and cosine.
    #[inline]
    fn beyond(&self, p: V3, best: f64) -> bool {
        // β below a quarter turn and `far` below one keep far + β below π, where the chord
        // grows with the angle. (NaN `far_*` or an infinite `best` fail the comparisons.)
        if best.is_nan() || best >= 2.0 {
            return false;
        }
        let (sb, cb) = (0.5 * best.sqrt(), (1.0 - 0.25 * best).sqrt());
        let t = 2.0 * (f64::from(self.far_sin) * cb + f64::from(self.far_cos) * sb);
        chord2(p, widen(self.center)) >= t * t
    }
}

/// The nearest `f32` at or below `v` (or above, with `up`).
fn round_f32(v: f64, up: bool) -> f32 {
    let f = v as f32;
    match (up, f64::from(f).partial_cmp(&v)) {
        (true, Some(std::cmp::Ordering::Less)) => f.next_up(),
        (false, Some(std::cmp::Ordering::Greater)) => f.next_down(),
        _ => f,
    }
}

#[inline]
fn widen(v: [f32; 3]) -> V3 {
    [f64::from(v[0]), f64::from(v[1]), f64::from(v[2])]
}

impl SphereStore {
    /// Adds the boundary of a fence made of `parts`, each in its own longitude frame.
    pub(crate) fn add(&mut self, parts: &[Polygon<f64>]) -> Boundary {
        let edges = boundary_edges(parts);
        let budget = 8 * edges.len() + 1024;
        let (mut tolerance, mut max_chord2) = (TOLERANCE, MAX_ARC_CHORD2);
        let arcs = loop {
            // Once any length is allowed, an edge is at most a few arcs: always fits.
            let last_try = max_chord2 >= 4.0;
            match densify(&edges, tolerance, max_chord2, budget) {
                Some(arcs) => break arcs,
                None if last_try => {
                    break densify(&edges, tolerance, max_chord2, usize::MAX).unwrap_or_default();
                }
                // A pathological fence (thousands of very long edges) gets coarser arcs
                // rather than unbounded memory.
                None => {
                    tolerance *= 4.0;
                    max_chord2 *= 4.0;
                }
            }
        };
        let origin_cap = MAX_ORIGIN_CHORD2.max(4.0 * max_chord2);

        let first = self.chunk_heads.len();
        // The chunk being filled: its box (f64 until closed), widest bow, last vertex.
        let mut open: Option<(Box3, f64, V3)> = None;
        for arc in &arcs {
            let continues = match (&open, self.chunk_heads.last()) {
                (Some((_, _, last)), Some(head)) => {
                    head.arcs < CHUNK as u32 && *last == arc.a && chord2(arc.b, head.origin) <= origin_cap
                }
                _ => false,
            };
            if !continues {
                if let Some((bbox, bow, _)) = open.take() {
                    self.chunk_boxes.push(SmallBox::new(&pad_box(bbox, bow + BOX_PAD)));
                }
                self.chunk_heads.push(ChunkHead {
                    origin: arc.a,
                    start: self.data.len() as u32,
                    arcs: 0,
                });
                self.data.push([0.0; 3]);
                open = Some(([arc.a, arc.a], 0.0, arc.a));
            }
            let (Some(head), Some((bbox, bow, last))) = (self.chunk_heads.last_mut(), open.as_mut()) else {
                continue;
            };
            self.data.push(narrow(arc.n));
            self.data.push(narrow(sub(arc.b, head.origin)));
            head.arcs += 1;
            *bbox = box_union(*bbox, [arc.b, arc.b]);
            *bow = bow.max(arc.sagitta());
            *last = arc.b;
        }
        if let Some((bbox, bow, _)) = open {
            self.chunk_boxes.push(SmallBox::new(&pad_box(bbox, bow + BOX_PAD)));
        }
        let count = self.chunk_heads.len() - first;
        let tree = (count > TREE_THRESHOLD).then(|| {
            self.trees.add(
                (first..first + count)
                    .map(|c| (self.chunk_boxes[c].to_box(), c as u32))
                    .collect(),
            )
        });
        let mut boundary = Boundary {
            chunks: first as u32,
            chunk_count: count as u32,
            tree,
            caps: Caps::NONE,
        };
        boundary.caps = self.caps(&boundary);
        boundary
    }

    /// The stored vertices of a boundary's arcs as `chunk_chord2` sees them: each chunk's
    /// first to last with `ends`, else only the arcs' starts (each vertex of a closed ring
    /// once, for a fair mean).
    fn vertices(&self, boundary: &Boundary, ends: bool) -> impl Iterator<Item = V3> + '_ {
        let first = boundary.chunks as usize;
        self.chunk_heads[first..first + boundary.chunk_count as usize]
            .iter()
            .flat_map(move |head| {
                let start = head.start as usize;
                let count = head.arcs as usize + usize::from(ends);
                let data = &self.data[start..start + 2 * head.arcs as usize + 1];
                data.iter()
                    .step_by(2)
                    .take(count)
                    .map(move |&v| add(head.origin, widen(v)))
            })
    }

    /// Caps around the mean of the vertices (inside a round fence, near the middle of most;
    /// anywhere is correct, the bounds only get looser).
    fn caps(&self, boundary: &Boundary) -> Caps {
        let sum = self.vertices(boundary, false).fold([0.0; 3], add);
        let len = norm2(sum).sqrt();
        if len.is_nan() || len <= 1e-6 {
            return Caps::NONE;
        }
        // Rounded to `f32` first: the bounds are measured from the centre as stored.
        let center = narrow([sum[0] / len, sum[1] / len, sum[2] / len]);
        let c = widen(center);
        let angle = |c2: f64| 2.0 * (0.5 * c2.sqrt()).min(1.0).asin();

        let mut nearest = f64::INFINITY;
        Boundary {
            caps: Caps::NONE,
            ..*boundary
        }
        .nearest(self, c, &mut nearest);
        let clear = angle(nearest);
        let clear = clear - CAP_SLACK - CAP_SLACK_RELATIVE * clear;
        // Along an arc shorter than π the cosine of the angle to `c` is a sinusoid with no
        // minimum inside while it stays positive, so while every vertex is within a quarter
        // turn the farthest point of every arc is a vertex.
        let far = self
            .vertices(boundary, true)
            .map(|v| angle(chord2(v, c)))
            .fold(0.0, f64::max);
        let far = far + CAP_SLACK + CAP_SLACK_RELATIVE * far;
        let quarter = std::f64::consts::FRAC_PI_2;
        Caps {
            center,
            clear: if clear > 0.0 { round_f32(clear, false) } else { 0.0 },
            far_sin: if far < quarter {
                round_f32((0.5 * far).sin(), true)
            } else {
                f32::NAN
            },
            far_cos: if far < quarter {
                round_f32((0.5 * far).cos(), true)
            } else {
                f32::NAN
            },
        }
    }

    /// Smallest squared chord from `p` to the arcs of one chunk.
    #[inline]
    fn chunk_chord2(&self, chunk: u32, p: V3) -> f64 {
        let head = &self.chunk_heads[chunk as usize];
        let start = head.start as usize;
        let data = &self.data[start..start + 2 * head.arcs as usize + 1];
        let o = head.origin;
        let r = sub(p, o);
        let mut a = widen(data[0]);
        let mut pa = norm2(sub(r, a));
        let mut best = pa;
        for pair in data[1..].chunks_exact(2) {
            let (n, b) = (widen(pair[0]), widen(pair[1]));
            let pb = norm2(sub(r, b));
            best = best.min(arc_chord2(r, o, a, n, b, pa, pb));
            (a, pa) = (b, pb);
        }
        best
    }
}

impl Boundary {
    /// Whether the caps alone show that no arc comes within `angle` (radians) of `p`;
    /// `false` means "don't know", not "near".
    #[inline]
    pub(crate) fn clear_of(&self, p: V3, angle: f64) -> bool {
        self.caps.clear_of(p, angle)
    }

    /// Lowers `*best` to the squared chord from `p` to the nearest arc, if nearer; returns
    /// whether it did.
    #[inline]
    pub(crate) fn nearest(&self, store: &SphereStore, p: V3, best: &mut f64) -> bool {
        if self.caps.beyond(p, *best) {
            return false;
        }
        let before = *best;
        match self.tree {
            Some(root) => store.trees.nearest(root, p, best, &mut |c, _, best| {
                *best = best.min(store.chunk_chord2(c, p));
            }),
            None => {
                // Nearest chunk boxes first, so the bound tightens early.
                let mut order = Ordered::<TREE_THRESHOLD>::new();
                let first = self.chunks as usize;
                let boxes = &store.chunk_boxes[first..first + self.chunk_count as usize];
                for (c, bbox) in boxes.iter().enumerate() {
                    let lb = bbox.dist2(p);
                    if lb < *best {
                        order.push(lb, (first + c) as u32);
                    }
                }
                for &(lb, c) in order.sorted() {
                    if lb >= *best {
                        break;
                    }
                    *best = best.min(store.chunk_chord2(c, p));
                }
            }
        }
        *best < before
    }
}

/// Shoelace area, positive for counter-clockwise rings.
pub(crate) fn signed_area(ring: &[Coord<f64>]) -> f64 {
    ring.windows(2).map(|w| w[0].x * w[1].y - w[1].x * w[0].y).sum::<f64>() * 0.5
}

/// The drawn edges that are boundary on the sphere, in ring order (seam pieces last).
fn boundary_edges(parts: &[Polygon<f64>]) -> Vec<(Coord<f64>, Coord<f64>)> {
    let mut seam = Seam::default();
    let mut seam_edges = Vec::new();
    let mut edges = Vec::new();
    for part in parts {
        for (r, ring) in std::iter::once(part.exterior()).chain(part.interiors()).enumerate() {
            let ccw = signed_area(&ring.0) > 0.0;
            let interior_left = ccw != (r > 0);
            for w in ring.0.windows(2) {
                let (a, b) = (w[0], w[1]);
                if a == b || (a.y == b.y && a.y.abs() == 90.0) {
                    continue;
                }
                if is_seam_edge(a, b) {
                    let side = seam_side(a, b, interior_left);
                    seam.add(side, a.y, b.y);
                    seam_edges.push((side, a.x, a.y, b.y));
                    continue;
                }
                edges.push((a, b));
            }
        }
    }
    for (side, x, lat_a, lat_b) in seam_edges {
        for (lo, hi) in seam.exposed(side, lat_a, lat_b) {
            edges.push((Coord { x, y: lo }, Coord { x, y: hi }));
        }
    }
    edges
}

/// Arcs within `tolerance` of the drawn edges, or `None` past `budget` arcs.
fn densify(edges: &[(Coord<f64>, Coord<f64>)], tolerance: f64, max_chord2: f64, budget: usize) -> Option<Vec<Arc>> {
    let mut arcs = Vec::with_capacity(edges.len());
    for &(a, b) in edges {
        split(
            a,
            b,
            unit_vector(a.y, a.x),
            unit_vector(b.y, b.x),
            0,
            tolerance,
            max_chord2,
            &mut arcs,
        );
        if arcs.len() > budget {
            return None;
        }
    }
    Some(arcs)
}

#[allow(clippy::too_many_arguments)]
fn split(
    a: Coord<f64>,
    b: Coord<f64>,
    va: V3,
    vb: V3,
    depth: u32,
    tolerance: f64,
    max_chord2: f64,
    out: &mut Vec<Arc>,
) {
    let arc = Arc::new(va, vb);
    if depth < MAX_DEPTH {
        let mid = Coord {
            x: (a.x + b.x) * 0.5,
            y: (a.y + b.y) * 0.5,
        };
        let vm = unit_vector(mid.y, mid.x);
        let bow = dot(vm, arc.n).abs();
        // Near-antipodal ends make a degenerate arc (NaN normal): split those too.
        let degenerate = bow.is_nan() && chord2(va, vb) > 1e-12;
        if degenerate || bow > tolerance || chord2(va, vb) > max_chord2 {
            split(a, mid, va, vm, depth + 1, tolerance, max_chord2, out);
            split(mid, b, vm, vb, depth + 1, tolerance, max_chord2, out);
            return;
        }
    }
    out.push(arc);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geofence::metric::chord2_to_m;

    fn to_arc(arc: &Arc, p: V3) -> f64 {
        let o = arc.a;
        let (a, b) = (sub(arc.a, o), sub(arc.b, o));
        arc_chord2(sub(p, o), o, a, arc.n, b, chord2(p, arc.a), chord2(p, arc.b))
    }

    #[test]
    fn arc_distance_interior_and_ends() {
        let arc = Arc::new(unit_vector(0.0, 0.0), unit_vector(0.0, 1.0));
        // 0.001° north of the middle of an equator arc: 111.2 m.
        let d = chord2_to_m(to_arc(&arc, unit_vector(0.001, 0.5)));
        assert!((d - 111.195).abs() < 0.01, "{d}");
        // Beyond the end: distance to the endpoint.
        let d = chord2_to_m(to_arc(&arc, unit_vector(0.0, 1.001)));
        assert!((d - 111.195).abs() < 0.01, "{d}");
        // A degenerate arc is its endpoints.
        let point = Arc::new(unit_vector(0.0, 0.0), unit_vector(0.0, 0.0));
        assert!(point.is_degenerate());
        let d = chord2_to_m(to_arc(&point, unit_vector(0.0, 0.001)));
        assert!((d - 111.195).abs() < 0.01, "{d}");
    }

    #[test]
    fn parallel_edges_are_densified() {
        let ring = geo::LineString::from(vec![(0.0, 45.0), (1.0, 45.0), (1.0, 46.0), (0.0, 46.0), (0.0, 45.0)]);
        let mut store = SphereStore::default();
        let b = store.add(&[Polygon::new(ring, vec![])]);
        assert!(store.data.len() > 2 * 4 + 1);
        // A point on the drawn parallel, mid-edge, is on the boundary to within 1 cm.
        let p = unit_vector(45.0, 0.5);
        let mut d = f64::INFINITY;
        assert!(b.nearest(&store, p, &mut d));
        assert!(chord2_to_m(d) < 0.011, "{}", chord2_to_m(d));
    }

    /// Squared chord to the nearest arc, every chunk scanned, no bound consulted.
    fn brute_nearest(store: &SphereStore, b: &Boundary, p: V3) -> f64 {
        (b.chunks..b.chunks + b.chunk_count)
            .map(|c| store.chunk_chord2(c, p))
            .fold(f64::INFINITY, f64::min)
    }

    /// A ring of `radii.len()` vertices around (lat, lon), `scale` radians across, in
    /// continued longitudes (beyond ±180 where it crosses); not necessarily simple: the
    /// caps bound arcs, whatever polygon they make.
    fn ring(lat: f64, lon: f64, scale: f64, radii: &[f64]) -> Polygon<f64> {
        let n = radii.len();
        let mut coords: Vec<(f64, f64)> = radii
            .iter()
            .enumerate()
            .map(|(k, r)| {
                let t = k as f64 / n as f64 * std::f64::consts::TAU;
                let north = (r * scale * t.sin()).to_degrees();
                let east = (r * scale * t.cos()).to_degrees() / lat.to_radians().cos().max(0.05);
                (lon + east, (lat + north).clamp(-90.0, 90.0))
            })
            .collect();
        coords.push(coords[0]);
        Polygon::new(geo::LineString::from(coords), vec![])
    }

    /// Checks both caps at `p` against the brute-force distance: just past the true
    /// distance, neither bound may claim the arcs are clear or beyond.
    fn check_caps(store: &SphereStore, b: &Boundary, p: V3) -> Result<(), String> {
        let exact = brute_nearest(store, b, p);
        let above = exact * (1.0 + 1e-12) + 1e-300;
        if b.caps.beyond(p, above) {
            return Err(format!("beyond at {p:?}: exact chord² {exact:e}"));
        }
        let angle = 2.0 * (0.5 * exact.sqrt()).min(1.0).asin();
        if b.clear_of(p, angle * (1.0 + 1e-12) + 1e-300) {
            return Err(format!("clear at {p:?}: exact angle {angle:e}"));
        }
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        /// The caps never exceed the true distance: not near the poles, not across the
        /// antimeridian, not for fences from metres to thousands of kilometres.
        #[test]
        fn caps_never_overstate_the_distance(
            lat in proptest::prop_oneof![-89.9..89.9f64, 85.0..89.99f64, -89.99..-85.0f64],
            lon in proptest::prop_oneof![-180.0..180.0f64, 179.0..181.0f64],
            scale in proptest::prop_oneof![1e-7..1e-5f64, 1e-5..1e-3f64, 1e-3..0.5f64],
            radii in proptest::collection::vec(0.2..1.0f64, 4..40),
            points in proptest::collection::vec((0.0..std::f64::consts::TAU, 0.0..4.0f64), 16),
        ) {
            let mut store = SphereStore::default();
            let b = store.add(&[ring(lat, lon, scale, &radii)]);
            let centre = unit_vector(lat, lon);
            let mut probes = vec![centre, widen(b.caps.center)];
            for (bearing, reach) in points {
                let angle = reach * scale;
                let north = (angle * bearing.sin()).to_degrees();
                let east = (angle * bearing.cos()).to_degrees() / lat.to_radians().cos().max(0.05);
                probes.push(unit_vector((lat + north).clamp(-90.0, 90.0), lon + east));
            }
            for p in probes {
                check_caps(&store, &b, p).map_err(proptest::test_runner::TestCaseError::fail)?;
            }
        }
    }

    #[test]
    fn caps_prune_and_clear_where_they_should() {
        // A 1 km-wide octagon on the equator: its middle is clear of 400 m, a point 10 km
        // away is beyond 8 km, and a huge cap (beyond a quarter turn) bounds nothing.
        let mut store = SphereStore::default();
        let b = store.add(&[ring(0.0, 0.0, 500.0 / EARTH_RADIUS_M, &[1.0; 8])]);
        assert!(b.clear_of(unit_vector(0.0, 0.0), 400.0 / EARTH_RADIUS_M));
        let far = unit_vector(0.0, (10_000.0 / EARTH_RADIUS_M).to_degrees());
        let eight_km = 2.0 * (4_000.0 / EARTH_RADIUS_M).sin();
        assert!(b.caps.beyond(far, eight_km * eight_km));
        let huge = store.add(&[ring(0.0, 0.0, 2.0, &[1.0; 16])]);
        assert!(!huge.caps.beyond(far, 1e-12));
        // Around the north pole (a ring along 85° N): the caps are centred on it.
        let mut coords: Vec<(f64, f64)> = (0..24).map(|k| (-180.0 + 15.0 * k as f64, 85.0)).collect();
        coords.push(coords[0]);
        let polar = store.add(&[Polygon::new(geo::LineString::from(coords), vec![])]);
        assert!(polar.clear_of(unit_vector(90.0, 0.0), 4.0_f64.to_radians()));
        for p in [
            unit_vector(90.0, 0.0),
            unit_vector(80.0, 179.0),
            unit_vector(89.0, -180.0),
        ] {
            check_caps(&store, &polar, p).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
