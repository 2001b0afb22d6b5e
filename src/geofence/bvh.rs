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
//! caller-held bound (branch and bound), using only the stack. A node holds its eight
//! children's boxes coordinate by coordinate (a leaf, its items'), so one node is four
//! cache lines read in order and its eight lower bounds are a few vector instructions, in
//! `f32` with a slack that keeps them lower bounds.

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

/// Eight boxes side by side, coordinate by coordinate (a node's children, or a leaf's items):
/// the eight lower bounds of a query are computed together, which the compiler turns into
/// a few vector instructions instead of eight loops of conversions and branches. Unused
/// slots hold an empty box (lo = +inf, hi = -inf): infinitely far, never holding a point.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
struct Node {
    lo: [[f32; SLOTS]; 3],
    hi: [[f32; SLOTS]; 3],
    /// Children `nodes[start..start + len]`, or for a leaf items `ids[start..start + len]`.
    start: u32,
    len: u32,
    leaf: bool,
}

/// Slack taken off every gap computed in `f32` so that a lower bound never exceeds the true
/// distance: the point rounded to `f32` moves by up to 3e-8, each operation rounds by a
/// relative 6e-8; this removes 1e-7 (0.6 m) plus 2^-21 of the gap, more than both, so
/// the only cost is pruning about a metre later.
const GAP_SLACK: f32 = 1e-7;
const GAP_KEEP: f32 = 1.0 - 1.0 / (1 << 21) as f32;

impl Node {
    const EMPTY: Node = Node {
        lo: [[f32::INFINITY; SLOTS]; 3],
        hi: [[f32::NEG_INFINITY; SLOTS]; 3],
        start: 0,
        len: 0,
        leaf: true,
    };

    fn set_box(&mut self, slot: usize, b: &SmallBox) {
        for axis in 0..3 {
            self.lo[axis][slot] = b.0[axis];
            self.hi[axis][slot] = b.0[axis + 3];
        }
    }

    /// Squared distance from `p` to each slot's box, rounded down (never above the true
    /// distance; 0 when the box holds `p`, and for points within the slack of it).
    #[inline]
    fn lower_bounds(&self, p: [f32; 3]) -> [f32; SLOTS] {
        let mut d = [0.0f32; SLOTS];
        for ((lo, hi), &x) in self.lo.iter().zip(&self.hi).zip(&p) {
            for k in 0..SLOTS {
                // `if` rather than `f32::max`: maps to the vector max instruction.
                let below = lo[k] - x;
                let above = x - hi[k];
                let gap = if below > above { below } else { above };
                let gap = gap * GAP_KEEP - GAP_SLACK;
                let gap = if gap > 0.0 { gap } else { 0.0 };
                d[k] += gap * gap;
            }
        }
        d
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Bvh {
    nodes: Vec<Node>,
    /// Item ids in leaf order.
    ids: Vec<u32>,
}

fn center(b: &Box3, axis: usize) -> f64 {
    (b[0][axis] + b[1][axis]) * 0.5
}

fn narrow(p: V3) -> [f32; 3] {
    [p[0] as f32, p[1] as f32, p[2] as f32]
}

impl Bvh {
    pub(crate) fn new(mut items: Vec<(Box3, u32)>) -> Self {
        let mut tree = Bvh {
            nodes: Vec::with_capacity(items.len() / 4 + 1),
            ids: Vec::with_capacity(items.len()),
        };
        tree.nodes.push(Node::EMPTY);
        if !items.is_empty() {
            tree.build(&mut items, 0);
        }
        tree
    }

    /// Fills node `node` with `items`: a leaf when they fit, else up to eight children.
    fn build(&mut self, items: &mut [(Box3, u32)], node: usize) {
        if items.len() <= LEAF {
            let mut leaf = Node {
                start: self.ids.len() as u32,
                len: items.len() as u32,
                ..Node::EMPTY
            };
            for (slot, (b, id)) in items.iter().enumerate() {
                leaf.set_box(slot, &SmallBox::new(b));
                self.ids.push(*id);
            }
            self.nodes[node] = leaf;
            return;
        }
        // Halving at multiples of a full child subtree's size, until every group fits one:
        // at most eight groups, all full but the last.
        let capacity = child_capacity(items.len());
        let mut groups: Vec<&mut [(Box3, u32)]> = vec![items];
        while groups.iter().any(|g| g.len() > capacity) {
            let mut next = Vec::with_capacity(groups.len() * 2);
            for g in groups {
                if g.len() <= capacity {
                    next.push(g);
                    continue;
                }
                let axis = longest_axis(g);
                let mid = g.len().div_ceil(capacity).div_ceil(2) * capacity;
                g.select_nth_unstable_by(mid, |a, b| center(&a.0, axis).total_cmp(&center(&b.0, axis)));
                let (left, right) = g.split_at_mut(mid);
                next.push(left);
                next.push(right);
            }
            groups = next;
        }
        let first = self.nodes.len();
        let mut parent = Node {
            start: first as u32,
            len: groups.len() as u32,
            leaf: false,
            ..Node::EMPTY
        };
        for (slot, g) in groups.iter().enumerate() {
            let bbox = g.iter().map(|(b, _)| *b).reduce(box_union).unwrap_or([[0.0; 3]; 2]);
            parent.set_box(slot, &SmallBox::new(&bbox));
            self.nodes.push(Node::EMPTY);
        }
        self.nodes[node] = parent;
        for (k, g) in groups.into_iter().enumerate() {
            self.build(g, first + k);
        }
    }

    /// Walks the nodes whose box holds `p` and calls `seen(id, lower_bound)` for every item
    /// of the leaves reached: those with bound 0 may contain `p`, the others are near it
    /// (a cheap first guess for a nearest search).
    #[inline]
    pub(crate) fn locate(&self, p: V3, seen: &mut impl FnMut(u32, f64)) {
        if !self.ids.is_empty() {
            self.locate_in(0, narrow(p), seen);
        }
    }

    fn locate_in(&self, node: usize, p: [f32; 3], seen: &mut impl FnMut(u32, f64)) {
        let n = &self.nodes[node];
        let bounds = n.lower_bounds(p);
        for (k, &lb) in bounds.iter().enumerate().take(n.len as usize) {
            let at = n.start as usize + k;
            if n.leaf {
                seen(self.ids[at], f64::from(lb));
            } else if lb == 0.0 {
                self.locate_in(at, p, seen);
            }
        }
    }

    /// Branch and bound: calls `visit(id, lower_bound, best)` for the items whose box is
    /// closer than `*best` (squared chord), nearest boxes first; `visit` may lower `*best`.
    #[inline]
    pub(crate) fn nearest(&self, p: V3, best: &mut f64, visit: &mut impl FnMut(u32, f64, &mut f64)) {
        if !self.ids.is_empty() {
            self.descend(0, narrow(p), best, visit);
        }
    }

    fn descend(&self, node: usize, p: [f32; 3], best: &mut f64, visit: &mut impl FnMut(u32, f64, &mut f64)) {
        let n = &self.nodes[node];
        let bounds = n.lower_bounds(p);
        let mut order = Ordered::<SLOTS>::new();
        for (k, &lb) in bounds.iter().enumerate().take(n.len as usize) {
            let lb = f64::from(lb);
            if lb < *best {
                order.push(lb, n.start + k as u32);
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

/// How many items a full child subtree of a node over `n` items holds (`LEAF` times a
/// power of `FANOUT`, the smallest with at most `FANOUT` children). Splitting at multiples
/// of it fills every leaf but those along one edge of the tree: fewer, fuller nodes, and
/// so fewer cache lines for the same items (a node is four lines, however full).
fn child_capacity(n: usize) -> usize {
    let mut capacity = LEAF;
    while capacity * FANOUT < n {
        capacity *= FANOUT;
    }
    capacity
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

/// Up to `N` (bound, index) pairs, sorted by insertion: no allocation.
pub(crate) struct Ordered<const N: usize = SLOTS> {
    items: [(f64, u32); N],
    len: usize,
}

impl<const N: usize> Ordered<N> {
    #[inline]
    pub(crate) fn new() -> Self {
        Self {
            items: [(0.0, 0); N],
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

    /// A seeded generator of uniform numbers in [0, 1): reproducible test data.
    fn uniform(mut seed: u64) -> impl FnMut() -> f64 {
        move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn cube(c: [f64; 3], h: f64) -> Box3 {
        [[c[0] - h, c[1] - h, c[2] - h], [c[0] + h, c[1] + h, c[2] + h]]
    }

    #[test]
    fn nearest_matches_brute_force() {
        let mut next = uniform(7);
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

    proptest::proptest! {
        /// The `f32` lower bounds never exceed the exact distance to the box as stored, and
        /// are 0 for a point the box holds; from metres to the whole sphere.
        #[test]
        fn lower_bounds_never_exceed_the_distance(
            c in proptest::array::uniform3(-1.0..1.0f64),
            h in proptest::prop_oneof![1e-9..1e-6f64, 1e-6..1e-3f64, 1e-3..1.0f64],
            offsets in proptest::collection::vec(proptest::array::uniform3(-3.0..3.0f64), 8),
        ) {
            let b = SmallBox::new(&cube(c, h));
            let mut node = Node::EMPTY;
            node.set_box(0, &b);
            for o in offsets {
                let p = [c[0] + o[0] * h, c[1] + o[1] * h, c[2] + o[2] * h];
                let exact = box_dist2(&b.to_box(), p);
                let lb = f64::from(node.lower_bounds(narrow(p))[0]);
                proptest::prop_assert!(lb <= exact, "{lb:e} > {exact:e} at {p:?}");
                if exact == 0.0 {
                    proptest::prop_assert_eq!(lb, 0.0);
                }
                proptest::prop_assert!(node.lower_bounds(narrow(p))[1].is_infinite());
            }
        }
    }

    #[test]
    fn locate_reaches_every_box_holding_the_point() {
        let mut next = uniform(11);
        let boxes: Vec<(Box3, u32)> = (0..700)
            .map(|i| (cube([next(), next(), next()], 0.01 + 0.05 * next()), i))
            .collect();
        let tree = Bvh::new(boxes.clone());
        for _ in 0..300 {
            let p = [next(), next(), next()];
            let mut found = Vec::new();
            tree.locate(p, &mut |id, lb| {
                if lb == 0.0 {
                    found.push(id);
                }
            });
            for (b, id) in &boxes {
                if box_dist2(b, p) == 0.0 {
                    assert!(found.contains(id), "box {id} holds {p:?} but was not reached");
                }
            }
        }
    }
}
