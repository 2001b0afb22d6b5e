//! A packed, immutable R-tree over boxes on the unit sphere, built once and read by many
//! threads: the fences of an org (or of a site), and the arc chunks of a large fence.
//!
//! Why not `rstar`: a decision walks two levels of trees (fences, then a fence's chunks)
//! under one shared bound and must not allocate; in profiles of the first version, rstar's
//! point lookup among 10,000 fence boxes was the largest single cost of a decision, and its
//! nearest-neighbour search cannot share a bound across trees. This tree is flat (nodes and
//! items in two arrays, children contiguous), eight-way, bulk-loaded by median splits along
//! the longest axis, stores its boxes in `f32` rounded outwards (half the bytes, so more of
//! it stays in cache), and is searched depth-first in order of lower bounds with a
//! caller-held bound (branch and bound), using only the stack.

#[cfg(test)]
use super::metric::box_dist2;
use super::metric::{Box3, V3, box_union};

const FANOUT: usize = 8;
const LEAF: usize = 8;
/// Children of a node or items of a leaf, whichever is more.
const SLOTS: usize = if FANOUT > LEAF { FANOUT } else { LEAF };

/// A box in single precision, rounded outwards: half the memory of `Box3`, so more of an
/// org's tree stays in cache, and still a valid bound (it only grew, by < 1 m).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SmallBox([f32; 6]);

impl SmallBox {
    pub(crate) fn new(b: &Box3) -> Self {
        let down = |v: f64| {
            let f = v as f32;
            if f64::from(f) > v { f.next_down() } else { f }
        };
        let up = |v: f64| {
            let f = v as f32;
            if f64::from(f) < v { f.next_up() } else { f }
        };
        SmallBox([
            down(b[0][0]),
            down(b[0][1]),
            down(b[0][2]),
            up(b[1][0]),
            up(b[1][1]),
            up(b[1][2]),
        ])
    }

    pub(crate) fn to_box(self) -> Box3 {
        let b = self.0.map(f64::from);
        [[b[0], b[1], b[2]], [b[3], b[4], b[5]]]
    }

    /// Whether the box holds a point given in single precision. Rounding `p` to nearest
    /// cannot move it across a bound that is itself an `f32`, so this never misses a point
    /// the box holds (the outward-rounded bounds take care of the rest).
    #[inline]
    fn holds(&self, p: [f32; 3]) -> bool {
        let b = &self.0;
        p[0] >= b[0] && p[0] <= b[3] && p[1] >= b[1] && p[1] <= b[4] && p[2] >= b[2] && p[2] <= b[5]
    }

    /// Squared distance from `p` (0 inside).
    #[inline]
    pub(crate) fn dist2(&self, p: V3) -> f64 {
        let b = &self.0;
        let mut d = 0.0;
        for axis in 0..3 {
            let (lo, hi) = (f64::from(b[axis]), f64::from(b[axis + 3]));
            let e = (lo - p[axis]).max(p[axis] - hi).max(0.0);
            d += e * e;
        }
        d
    }
}

#[derive(Debug, Clone)]
struct Node {
    bbox: SmallBox,
    /// Children `nodes[start..start + len]`, or for a leaf `items[start..start + len]`.
    start: u32,
    len: u32,
    leaf: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Bvh {
    nodes: Vec<Node>,
    /// Item ids and boxes in leaf order, side by side for locality.
    ids: Vec<u32>,
    boxes: Vec<SmallBox>,
}

fn center(b: &Box3, axis: usize) -> f64 {
    (b[0][axis] + b[1][axis]) * 0.5
}

impl Bvh {
    pub(crate) fn new(mut items: Vec<(Box3, u32)>) -> Self {
        let mut tree = Bvh {
            nodes: Vec::with_capacity(items.len() / 4 + 1),
            ids: Vec::with_capacity(items.len()),
            boxes: Vec::with_capacity(items.len()),
        };
        tree.nodes.push(Node {
            bbox: SmallBox([0.0; 6]),
            start: 0,
            len: 0,
            leaf: true,
        });
        if !items.is_empty() {
            tree.build(&mut items, 0);
        }
        tree
    }

    fn build(&mut self, items: &mut [(Box3, u32)], node: usize) {
        let bbox = items.iter().map(|(b, _)| *b).reduce(box_union).unwrap_or([[0.0; 3]; 2]);
        if items.len() <= LEAF {
            self.nodes[node] = Node {
                bbox: SmallBox::new(&bbox),
                start: self.ids.len() as u32,
                len: items.len() as u32,
                leaf: true,
            };
            for (b, id) in items.iter() {
                self.ids.push(*id);
                self.boxes.push(SmallBox::new(b));
            }
            return;
        }
        // Three rounds of halving make up to eight groups of near-equal size.
        let mut groups: Vec<&mut [(Box3, u32)]> = vec![items];
        while groups.len() < FANOUT {
            let mut next = Vec::with_capacity(groups.len() * 2);
            let mut split_any = false;
            for g in groups {
                if g.len() <= LEAF {
                    next.push(g);
                    continue;
                }
                let axis = longest_axis(g);
                let mid = g.len() / 2;
                g.select_nth_unstable_by(mid, |a, b| center(&a.0, axis).total_cmp(&center(&b.0, axis)));
                let (left, right) = g.split_at_mut(mid);
                next.push(left);
                next.push(right);
                split_any = true;
            }
            groups = next;
            if !split_any {
                break;
            }
        }
        let first = self.nodes.len();
        let bbox = SmallBox::new(&bbox);
        for _ in 0..groups.len() {
            self.nodes.push(Node {
                bbox,
                start: 0,
                len: 0,
                leaf: true,
            });
        }
        self.nodes[node] = Node {
            bbox,
            start: first as u32,
            len: groups.len() as u32,
            leaf: false,
        };
        for (k, g) in groups.into_iter().enumerate() {
            self.build(g, first + k);
        }
    }

    /// Walks the nodes whose box holds `p` and calls `seen(id, lower_bound)` for every item
    /// of the leaves reached: those with bound 0 may contain `p`, the others are near it
    /// (a cheap first guess for a nearest search).
    #[inline]
    pub(crate) fn locate(&self, p: V3, seen: &mut impl FnMut(u32, f64)) {
        let small = [p[0] as f32, p[1] as f32, p[2] as f32];
        if !self.ids.is_empty() && self.nodes[0].bbox.holds(small) {
            self.locate_in(0, p, small, seen);
        }
    }

    fn locate_in(&self, node: usize, p: V3, small: [f32; 3], seen: &mut impl FnMut(u32, f64)) {
        let n = &self.nodes[node];
        let range = n.start as usize..(n.start + n.len) as usize;
        if n.leaf {
            for k in range {
                seen(self.ids[k], self.boxes[k].dist2(p));
            }
        } else {
            for child in range {
                if self.nodes[child].bbox.holds(small) {
                    self.locate_in(child, p, small, seen);
                }
            }
        }
    }

    /// Branch and bound: calls `visit(id, lower_bound, best)` for the items whose box is
    /// closer than `*best` (squared chord), nearest boxes first; `visit` may lower `*best`.
    #[inline]
    pub(crate) fn nearest(&self, p: V3, best: &mut f64, visit: &mut impl FnMut(u32, f64, &mut f64)) {
        if self.ids.is_empty() {
            return;
        }
        if self.nodes[0].bbox.dist2(p) < *best {
            self.descend(0, p, best, visit);
        }
    }

    fn descend(&self, node: usize, p: V3, best: &mut f64, visit: &mut impl FnMut(u32, f64, &mut f64)) {
        let n = &self.nodes[node];
        let mut order = Ordered::new();
        for k in n.start as usize..(n.start + n.len) as usize {
            let b = if n.leaf { &self.boxes[k] } else { &self.nodes[k].bbox };
            let lb = b.dist2(p);
            if lb < *best {
                order.push(lb, k as u32);
            }
        }
        for &(lb, k) in order.sorted() {
            if lb >= *best {
                break;
            }
            if n.leaf {
                visit(self.ids[k as usize], lb, best);
            } else {
                self.descend(k as usize, p, best, visit);
            }
        }
    }
}

fn longest_axis(items: &[(Box3, u32)]) -> usize {
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for (b, _) in items {
        for axis in 0..3 {
            let c = center(b, axis);
            lo[axis] = lo[axis].min(c);
            hi[axis] = hi[axis].max(c);
        }
    }
    let spread = [hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]];
    if spread[0] >= spread[1] && spread[0] >= spread[2] {
        0
    } else if spread[1] >= spread[2] {
        1
    } else {
        2
    }
}

/// Up to eight (bound, index) pairs, sorted by insertion: no allocation.
pub(crate) struct Ordered {
    items: [(f64, u32); SLOTS],
    len: usize,
}

impl Ordered {
    #[inline]
    pub(crate) fn new() -> Self {
        Self {
            items: [(0.0, 0); SLOTS],
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, lb: f64, k: u32) {
        if self.len == self.items.len() {
            return;
        }
        let mut i = self.len;
        while i > 0 && self.items[i - 1].0 > lb {
            self.items[i] = self.items[i - 1];
            i -= 1;
        }
        self.items[i] = (lb, k);
        self.len += 1;
    }

    #[inline]
    pub(crate) fn sorted(&self) -> &[(f64, u32)] {
        &self.items[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cube(c: [f64; 3], h: f64) -> Box3 {
        [[c[0] - h, c[1] - h, c[2] - h], [c[0] + h, c[1] + h, c[2] + h]]
    }

    #[test]
    fn nearest_matches_brute_force() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let boxes: Vec<(Box3, u32)> = (0..1000)
            .map(|i| (cube([next(), next(), next()], 0.01 + 0.02 * next()), i))
            .collect();
        let tree = Bvh::new(boxes.clone());
        for _ in 0..200 {
            let p = [next(), next(), next()];
            let mut best = f64::INFINITY;
            tree.nearest(p, &mut best, &mut |id, _, best| {
                let d = box_dist2(&boxes[id as usize].0, p) + 1e-3;
                if d < *best {
                    *best = d;
                }
            });
            let want = boxes
                .iter()
                .map(|(b, _)| box_dist2(b, p) + 1e-3)
                .fold(f64::INFINITY, f64::min);
            assert_eq!(best, want);
        }
    }
}
