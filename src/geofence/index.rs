//! The per-organisation fence index: everything a decision needs, prepared once when the
//! org's active fences are loaded, so a check-in costs about a microsecond.
//!
//! The fences it is built from ([`Fence`]) and the reference a decision names
//! ([`FenceRef`], made once per fence when the index is built) are defined here, so that
//! `decision` builds on the index and the index needs nothing from it.
//!
//! * A packed R-tree (`bvh`) over every fence's box in unit-sphere space (no seam, no pole
//!   problem): the fences whose box holds the point are the only containment candidates,
//!   and the box distance is a lower bound for the nearest-fence search. Each site has its
//!   own small tree (or, for a few fences, just leaves), so a site filter never walks other
//!   sites' fences.
//! * Per polygon: a banded point-in-polygon structure per part (`planar`) and the boundary
//!   as great-circle arcs in chunks, with its own tree when large (`boundary`).
//! * All fences' geometry lives in a few flat arrays (`PlanarStore`, `SphereStore`), not in
//!   per-fence allocations: a decision over a big org is bound by cache misses (about
//!   200 ns each on the 2-core machine), so it follows offsets into compact data.
//! * One walk over the trees: down the nodes whose box holds the point (containment is all a
//!   point inside a fence needs), queueing everything else it meets; for a point outside,
//!   a best-first search carries on from that queue, which reads a handful of chunks of a
//!   handful of fences whatever the org's size.

use std::collections::HashMap;

use serde::Serialize;
use uuid::Uuid;

use super::antimeridian::frame_longitudes;
use super::boundary::{Boundary, SphereStore};
use super::bvh::{Bvh, Frontier, Tops, narrow};
use super::metric::{Box3, EARTH_RADIUS_M, LatLon, V3, box_union, cap_box, chord2, lon_lat_rect_box};
use super::planar::{Location, Part, PlanarStore};
use super::shape::{FenceShape, Geometry};

/// One active geofence as the decision sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fence {
    pub id: Uuid,
    pub version: i32,
    pub name: String,
    pub site_id: Uuid,
    pub shape: FenceShape,
}

/// The fence (and version) an event was judged against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FenceRef {
    pub id: Uuid,
    pub version: i32,
    pub name: String,
    pub site_id: Uuid,
}

impl From<&Fence> for FenceRef {
    fn from(f: &Fence) -> Self {
        Self {
            id: f.id,
            version: f.version,
            name: f.name.clone(),
            site_id: f.site_id,
        }
    }
}

/// Sites with fewer fences are bare leaves (two for ten fences); a root pays from about
/// this many.
const SITE_TREE_THRESHOLD: usize = 16;

/// What a decision needs of one fence; the bulky parts live in the index's stores. One
/// cache line (the fence's box, needed only to build the trees, is not kept): a decision
/// reads the records of the few fences it opens, each a likely cache miss.
#[derive(Debug)]
#[repr(align(64))]
pub(crate) enum Prepared {
    Circle {
        center: V3,
        /// Radius as an angle on the unit sphere.
        angle: f64,
        chord2_radius: f64,
    },
    Polygon {
        /// `parts[from..to]` of the index.
        parts: [u32; 2],
        boundary: Boundary,
        /// Whether a vertex lies on the pole: then the pole (where every longitude meets)
        /// is on the fence, which the planar test cannot see for other longitudes.
        north_pole: bool,
        south_pole: bool,
    },
}

/// A query point, in the forms the index needs.
pub(crate) struct Query {
    pub(crate) v: V3,
    /// `v` in `f32`, for the trees' bounds.
    v32: [f32; 3],
    pub(crate) lat: f64,
    pub(crate) lon: f64,
}

impl Query {
    pub(crate) fn new(p: LatLon) -> Self {
        let v = p.unit_vector();
        Self {
            v,
            v32: narrow(v),
            lat: p.lat(),
            lon: p.lon(),
        }
    }
}

/// Fence indices found by a lookup; a few live inline, so a decision does not allocate.
pub(crate) struct Hits {
    inline: [u32; 8],
    len: usize,
    spill: Vec<u32>,
}

impl Hits {
    pub(crate) fn new() -> Self {
        Self {
            inline: [0; 8],
            len: 0,
            spill: Vec::new(),
        }
    }

    fn push(&mut self, f: u32) {
        if self.len < self.inline.len() {
            self.inline[self.len] = f;
        } else {
            self.spill.push(f);
        }
        self.len += 1;
    }

    /// Ascending fence indices (index order decides between overlapping fences).
    pub(crate) fn sorted(&mut self) -> &[u32] {
        if self.spill.is_empty() {
            let hits = &mut self.inline[..self.len];
            hits.sort_unstable();
            hits
        } else {
            self.spill.extend_from_slice(&self.inline);
            self.spill.sort_unstable();
            &self.spill
        }
    }
}

/// An index of fences for decisions. Build it once per organisation (and again when a fence
/// changes); it is immutable, `Send` and `Sync`, so one copy serves every request.
///
/// ```
/// use muster::geofence::{parse_geometry, AccuracyRule, Fence, FenceIndex, GeometryLimits, LatLon, Verdict};
/// use serde_json::json;
/// use uuid::Uuid;
///
/// let shape = parse_geometry(
///     &json!({"type": "Polygon", "coordinates": [[[179, -1], [181, -1], [181, 1], [179, 1], [179, -1]]]}),
///     &GeometryLimits::default(),
/// ).unwrap();
/// let site = Uuid::new_v4();
/// let index = FenceIndex::new(vec![Fence { id: Uuid::new_v4(), version: 1, name: "dateline".into(), site_id: site, shape }]);
///
/// let at = |lat, lon| LatLon::new(lat, lon).unwrap();
/// assert_eq!(index.decide(at(0.0, 179.5), 0.0, AccuracyRule::Point, None).verdict, Verdict::Inside);
/// assert_eq!(index.decide(at(0.0, -179.5), 0.0, AccuracyRule::Point, Some(&[site])).verdict, Verdict::Inside);
/// let far = index.decide(at(0.0, 0.0), 0.0, AccuracyRule::Point, None);
/// assert_eq!(far.verdict, Verdict::Outside);
/// assert!(far.distance_m.unwrap() > 19_000_000.0);
/// assert_eq!(index.decide(at(0.0, 179.5), 0.0, AccuracyRule::Point, Some(&[])).verdict, Verdict::NoGeofence);
/// ```
pub struct FenceIndex {
    pub(crate) fences: Vec<Fence>,
    prepared: Vec<Prepared>,
    refs: Vec<FenceRef>,
    parts: Vec<Part>,
    planar: PlanarStore,
    sphere: SphereStore,
    /// The tree over all fences (`all`) and each site's (`sites`).
    trees: Bvh,
    all: Tops,
    sites: HashMap<Uuid, Tops>,
}

impl std::fmt::Debug for FenceIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FenceIndex")
            .field("fences", &self.fences.len())
            .field("sites", &self.sites.len())
            .finish()
    }
}

impl FenceIndex {
    pub fn new(fences: Vec<Fence>) -> Self {
        let mut parts = Vec::new();
        let mut planar = PlanarStore::default();
        let mut sphere = SphereStore::default();
        let (prepared, boxes): (Vec<Prepared>, Vec<Box3>) = fences
            .iter()
            .map(|f| match &f.shape.geometry {
                Geometry::Circle { center, radius_m } => {
                    let angle = radius_m / EARTH_RADIUS_M;
                    let v = center.unit_vector();
                    let c = 2.0 * (angle * 0.5).sin();
                    let circle = Prepared::Circle {
                        center: v,
                        angle,
                        chord2_radius: c * c,
                    };
                    (circle, cap_box(v, angle))
                }
                Geometry::Polygons { parts: polygons, .. } => {
                    let from = parts.len() as u32;
                    let mut bbox = None::<Box3>;
                    for polygon in polygons {
                        let part = planar.add(polygon);
                        let b = part.bbox;
                        let part_box = lon_lat_rect_box(b[0], b[2], b[1], b[3]);
                        bbox = Some(bbox.map_or(part_box, |acc| box_union(acc, part_box)));
                        parts.push(part);
                    }
                    let on_lat = |lat: f64| polygons.iter().flat_map(|p| p.exterior().0.iter()).any(|c| c.y == lat);
                    let polygon = Prepared::Polygon {
                        parts: [from, parts.len() as u32],
                        boundary: sphere.add(polygons),
                        north_pole: on_lat(90.0),
                        south_pole: on_lat(-90.0),
                    };
                    (polygon, bbox.unwrap_or([[0.0; 3]; 2]))
                }
            })
            .unzip();
        let boxes: Vec<(Box3, u32)> = boxes.into_iter().zip(0..).collect();
        let mut by_site: HashMap<Uuid, Vec<u32>> = HashMap::new();
        for (i, f) in fences.iter().enumerate() {
            by_site.entry(f.site_id).or_default().push(i as u32);
        }
        let mut trees = Bvh::default();
        let sites = by_site
            .into_iter()
            .map(|(site, members)| {
                let items = members.iter().map(|&i| boxes[i as usize]).collect();
                let tops = if members.len() < SITE_TREE_THRESHOLD {
                    trees.add_leaves(items)
                } else {
                    let root = trees.add(items);
                    [root, root + 1]
                };
                (site, tops)
            })
            .collect();
        let root = trees.add(boxes);
        Self {
            all: [root, root + 1],
            trees,
            refs: fences.iter().map(FenceRef::from).collect(),
            fences,
            prepared,
            parts,
            planar,
            sphere,
            sites,
        }
    }

    pub(crate) fn fence_ref(&self, f: u32) -> FenceRef {
        self.refs[f as usize].clone()
    }

    /// Point on or inside fence `f` (boundary counts as inside).
    #[inline]
    fn contains(&self, f: u32, q: &Query) -> bool {
        match &self.prepared[f as usize] {
            Prepared::Circle {
                center, chord2_radius, ..
            } => chord2(q.v, *center) <= *chord2_radius,
            Prepared::Polygon {
                parts,
                north_pole,
                south_pole,
                ..
            } => {
                if q.lat == 90.0 {
                    return *north_pole;
                }
                if q.lat == -90.0 {
                    return *south_pole;
                }
                self.parts[parts[0] as usize..parts[1] as usize].iter().any(|part| {
                    frame_longitudes(q.lon, part.bbox[0], part.bbox[2])
                        .any(|x| part.locate(&self.planar, x, q.lat) != Location::Outside)
                })
            }
        }
    }

    /// Lowers `*best` to the squared chord from the point to fence `f`'s boundary (from
    /// inside or out), if nearer; returns whether it did.
    #[inline]
    fn boundary_nearest(&self, f: u32, q: &Query, best: &mut f64) -> bool {
        match &self.prepared[f as usize] {
            Prepared::Circle { center, angle, .. } => {
                // Judged on the sphere: angle to the centre against the radius.
                let to_center = 2.0 * (chord2(q.v, *center).sqrt() * 0.5).min(1.0).asin();
                let gap = (to_center - angle).abs();
                let c = 2.0 * (gap * 0.5).sin();
                if c * c < *best {
                    *best = c * c;
                    return true;
                }
                false
            }
            Prepared::Polygon { boundary, .. } => boundary.nearest(&self.sphere, q.v, best),
        }
    }

    pub fn len(&self) -> usize {
        self.fences.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fences.is_empty()
    }

    pub fn fences(&self) -> &[Fence] {
        &self.fences
    }

    /// Calls `f` with the tree of each group of applicable fences: all, or those of the
    /// given sites (unknown and repeated site ids add nothing). Returns whether any fence
    /// applies.
    fn each_tree(&self, sites: Option<&[Uuid]>, mut f: impl FnMut(Tops)) -> bool {
        match sites {
            None => {
                if self.fences.is_empty() {
                    return false;
                }
                f(self.all);
                true
            }
            Some(ids) => {
                let mut any = false;
                for (k, id) in ids.iter().enumerate() {
                    if let Some(&tops) = self.sites.get(id)
                        && !ids[..k].contains(id)
                    {
                        f(tops);
                        any = true;
                    }
                }
                any
            }
        }
    }

    /// Collects the applicable fences that contain the point into `hits`; when there are
    /// none, returns (squared chord, fence) of the nearest boundary. `None` when no fence
    /// applies.
    ///
    /// One walk: first down the tree nodes whose box holds the point (containment is all a
    /// point inside a fence needs), queueing every other node and fence met on the way with
    /// its box's distance; then, for a point outside every fence, a best-first search from
    /// that queue, across all the applicable sites at once, nearest box first, so the bound
    /// tightens early and no node or fence farther than the answer is opened.
    pub(crate) fn search(&self, sites: Option<&[Uuid]>, q: &Query, hits: &mut Hits) -> Option<(f64, Option<u32>)> {
        let mut frontier = Frontier::new();
        let mut holds = |f: u32| {
            let inside = self.contains(f, q);
            if inside {
                hits.push(f);
            }
            inside
        };
        let applies = self.each_tree(sites, |tops| self.trees.locate(tops, q.v32, &mut frontier, &mut holds));
        if !applies {
            return None;
        }
        if hits.len > 0 {
            return Some((0.0, None));
        }
        let mut best = f64::INFINITY;
        let mut who = None;
        frontier.nearest(&self.trees, q.v32, &mut best, &mut |f, best| {
            if self.boundary_nearest(f, q, best) {
                who = Some(f);
            }
        });
        Some((best, who))
    }

    /// Whether fence `f`'s boundary comes nearer the point than `angle` (radians), whose
    /// squared chord is `chord2`.
    pub(crate) fn boundary_within(&self, f: u32, q: &Query, angle: f64, chord2: f64) -> bool {
        if let Prepared::Polygon { boundary, .. } = &self.prepared[f as usize]
            && boundary.clear_of(q.v, angle)
        {
            return false;
        }
        let mut best = chord2;
        self.boundary_nearest(f, q, &mut best)
    }
}
