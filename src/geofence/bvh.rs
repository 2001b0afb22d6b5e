//! Packed, immutable R-trees over boxes on the unit sphere, built once and read by many
//! threads: the fences of an org and of its sites, and the arc chunks of large fences. One
//! `Bvh` is a forest: all trees of an index share its two arrays, and a tree is named by
//! its root node, so a search over several trees keeps one queue of plain numbers.
//!
//! Why not `rstar`: a decision walks two levels of trees (fences, then a fence's chunks)
//! under one shared bound and must not allocate; in profiles of the first version, rstar's
//! point lookup among 10,000 fence boxes was the largest single cost of a decision, and its
//! nearest-neighbour search cannot share a bound across trees. This tree is flat (nodes and
//! items in two arrays, children contiguous), eight-way, bulk-loaded by median splits along
//! the longest axis, stores its boxes in `f32` rounded outwards (half the bytes, so more of
//! it stays in cache), and is searched in order of lower bounds with a caller-held bound
//! (branch and bound), without allocating in all but extreme cases. A node holds its eight
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
/// What the slots hold is in the node's last cache line, so a leaf needs no other read.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
struct Node {
    lo: [[f32; SLOTS]; 3],
    hi: [[f32; SLOTS]; 3],
    /// `slots[..len]`: item ids, or child node numbers marked with `NODE`, as a frontier
    /// queues them.
    slots: [u32; SLOTS],
    len: u32,
}

/// Slack taken off every gap computed in `f32` so that a lower bound never exceeds the true
/// distance: the point rounded to `f32` moves by up to 3e-8, each operation rounds by a
/// relative 6e-8; this removes 1e-7 (0.6 m) plus 2^-21 of the gap, more than both, so
/// the only cost is pruning about a metre later.
const GAP_SLACK: f32 = 1e-7;
const GAP_KEEP: f32 = 1.0 - 1.0 / (1 << 21) as f32;

/// The squared gap from `x` to `[lo, hi]`, rounded down with the slack above (0 inside).
#[inline(always)]
fn gap2(lo: f32, hi: f32, x: f32) -> f32 {
    // `if` rather than `f32::max`: maps to the vector max instruction.
    let below = lo - x;
    let above = x - hi;
    let gap = if below > above { below } else { above };
    let gap = gap * GAP_KEEP - GAP_SLACK;
    let gap = if gap > 0.0 { gap } else { 0.0 };
    gap * gap
}

impl Node {
    const EMPTY: Node = Node {
        lo: [[f32::INFINITY; SLOTS]; 3],
        hi: [[f32::NEG_INFINITY; SLOTS]; 3],
        slots: [0; SLOTS],
        len: 0,
    };

    /// Puts `b` and `entry` (an item id, or a node number with `NODE`) in the next slot.
    fn add(&mut self, b: &Box3, entry: u32) {
        let (slot, b) = (self.len as usize, SmallBox::new(b));
        for axis in 0..3 {
            self.lo[axis][slot] = b.0[axis];
            self.hi[axis][slot] = b.0[axis + 3];
        }
        self.slots[slot] = entry;
        self.len += 1;
    }

    /// Squared distance from `p` to each slot's box, rounded down (never above the true
    /// distance; 0 when the box holds `p`, and for points within the slack of it).
    #[inline]
    fn lower_bounds(&self, p: [f32; 3]) -> [f32; SLOTS] {
        let mut d = [0.0f32; SLOTS];
        for ((lo, hi), &x) in self.lo.iter().zip(&self.hi).zip(&p) {
            for k in 0..SLOTS {
                d[k] += gap2(lo[k], hi[k], x);
            }
        }
        d
    }
}

/// A forest of trees in one array of nodes; a tree is named by its top nodes (a root, or
/// for a few items the leaves that hold them, a root being one more node to read).
#[derive(Debug, Clone, Default)]
pub(crate) struct Bvh {
    nodes: Vec<Node>,
}

fn center(b: &Box3, axis: usize) -> f64 {
    (b[0][axis] + b[1][axis]) * 0.5
}

pub(crate) fn narrow(p: V3) -> [f32; 3] {
    [p[0] as f32, p[1] as f32, p[2] as f32]
}

/// Top nodes `from..to` of one tree in a forest.
pub(crate) type Tops = [u32; 2];

impl Bvh {
    /// A forest of one tree, whose root is node 0.
    #[cfg(test)]
    fn new(items: Vec<(Box3, u32)>) -> Self {
        let mut forest = Bvh::default();
        forest.add(items);
        forest
    }

    /// Adds a tree over `items` (ids below 2^31, see `NODE`) and returns its root.
    pub(crate) fn add(&mut self, mut items: Vec<(Box3, u32)>) -> u32 {
        let root = self.nodes.len();
        self.nodes.push(Node::EMPTY);
        if !items.is_empty() {
            self.build(&mut items, root);
        }
        self.check(&items);
        root as u32
    }

    /// Adds `items` as leaves only, in the order given: for a handful of items, reading a
    /// root as well costs more than bounding every leaf.
    pub(crate) fn add_leaves(&mut self, items: Vec<(Box3, u32)>) -> Tops {
        let first = self.nodes.len() as u32;
        for group in items.chunks(LEAF) {
            let mut leaf = Node::EMPTY;
            for (b, id) in group {
                leaf.add(b, *id);
            }
            self.nodes.push(leaf);
        }
        self.check(&items);
        [first, self.nodes.len() as u32]
    }

    fn check(&self, items: &[(Box3, u32)]) {
        assert!(
            self.nodes.len() <= NODE as usize && items.iter().all(|(_, id)| id & NODE == 0),
            "a tree of 2^31 entries would not fit in memory"
        );
    }

    /// Fills node `node` with `items`: a leaf when they fit, else up to eight children.
    fn build(&mut self, items: &mut [(Box3, u32)], node: usize) {
        if items.len() <= LEAF {
            let mut leaf = Node::EMPTY;
            for (b, id) in items.iter() {
                leaf.add(b, *id);
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
        let mut parent = Node::EMPTY;
        for (k, g) in groups.iter().enumerate() {
            let bbox = g.iter().map(|(b, _)| *b).reduce(box_union).unwrap_or([[0.0; 3]; 2]);
            parent.add(&bbox, (first + k) as u32 | NODE);
            self.nodes.push(Node::EMPTY);
        }
        self.nodes[node] = parent;
        for (k, g) in groups.into_iter().enumerate() {
            self.build(g, first + k);
        }
    }

    /// Walks the nodes of a tree whose box holds `p`, from its top nodes. Each item met
    /// there with bound 0 is offered to `holds`; everything else met (the items it does not
    /// take, the other items of the leaves reached, the children whose box misses `p`)
    /// waits in `frontier` with its bound, so a nearest search that follows carries on from
    /// this walk instead of walking down from the root again.
    pub(crate) fn locate(&self, tops: Tops, p: [f32; 3], frontier: &mut Frontier, holds: &mut impl FnMut(u32) -> bool) {
        for node in tops[0]..tops[1] {
            self.locate_in(node, p, frontier, holds);
        }
    }

    fn locate_in(&self, node: u32, p: [f32; 3], frontier: &mut Frontier, holds: &mut impl FnMut(u32) -> bool) {
        let n = &self.nodes[node as usize];
        let bounds = n.lower_bounds(p);
        for (&lb, &entry) in bounds.iter().zip(&n.slots).take(n.len as usize) {
            let taken = lb == 0.0
                && if entry & NODE != 0 {
                    self.locate_in(entry & !NODE, p, frontier, holds);
                    true
                } else {
                    holds(entry)
                };
            if !taken {
                frontier.push(lb, entry);
            }
        }
    }

    /// Queues the children (or items) of `node` that are nearer than `best`, in heap order
    /// or not (see `Frontier::nearest`).
    #[inline]
    fn expand(&self, node: u32, p: [f32; 3], best: f64, frontier: &mut Frontier, ordered: bool) {
        let n = &self.nodes[node as usize];
        let bounds = n.lower_bounds(p);
        for (&lb, &entry) in bounds.iter().zip(&n.slots).take(n.len as usize) {
            if f64::from(lb) < best {
                if ordered {
                    frontier.insert(lb, entry);
                } else {
                    frontier.push(lb, entry);
                }
            }
        }
    }

    /// Branch and bound in the tree at `root`: calls `visit(id, lower_bound, best)` for the
    /// items whose box is closer than `*best` (squared chord), nearest boxes first; `visit`
    /// may lower `*best`.
    #[inline]
    pub(crate) fn nearest(&self, root: u32, p: V3, best: &mut f64, visit: &mut impl FnMut(u32, f64, &mut f64)) {
        self.descend(root as usize, narrow(p), best, visit);
    }

    fn descend(&self, node: usize, p: [f32; 3], best: &mut f64, visit: &mut impl FnMut(u32, f64, &mut f64)) {
        let n = &self.nodes[node];
        let bounds = n.lower_bounds(p);
        let mut order = Ordered::<SLOTS>::new();
        for (&lb, &entry) in bounds.iter().zip(&n.slots).take(n.len as usize) {
            let lb = f64::from(lb);
            if lb < *best {
                order.push(lb, entry);
            }
        }
        for &(lb, entry) in order.sorted() {
            if lb >= *best {
                break;
            }
            if entry & NODE == 0 {
                visit(entry, lb, best);
            } else {
                self.descend((entry & !NODE) as usize, p, best, visit);
            }
        }
    }
}

/// Marks a frontier entry as a node of the forest (clear: an item id).
const NODE: u32 = 1 << 31;
/// Entries a frontier holds on the stack; a search meets ~10–40 (the children and leaf
/// items beside the walk down, then those of the nodes opened), so it allocates only
/// when a point lies in the boxes of very many fences at once.
const INLINE: usize = 64;

/// The nodes and items a search has still to look at, each as `bound << 32 | entry`: a
/// non-negative `f32` orders like its bits, so entries compare as plain integers, and an
/// entry is an item id or, with `NODE`, a node of the forest (of whichever tree: the site
/// trees of one decision share one queue). Kept as a binary min-heap once a
/// bound is known (see `nearest`).
pub(crate) struct Frontier {
    inline: [u64; INLINE],
    len: usize,
    /// All entries while there are more than `INLINE`.
    spill: Vec<u64>,
}

fn bound(key: u64) -> f64 {
    f64::from(f32::from_bits((key >> 32) as u32))
}

impl Frontier {
    pub(crate) fn new() -> Self {
        Self {
            inline: [0; INLINE],
            len: 0,
            spill: Vec::new(),
        }
    }

    fn entries(&mut self) -> &mut [u64] {
        if self.len <= INLINE {
            &mut self.inline[..self.len]
        } else {
            &mut self.spill
        }
    }

    /// Queues `entry` without keeping the heap order: a point inside a fence, which needs
    /// no nearest search, pays only for the stores.
    #[inline]
    pub(crate) fn push(&mut self, lb: f32, entry: u32) {
        let key = u64::from(lb.to_bits()) << 32 | u64::from(entry);
        if self.len < INLINE {
            self.inline[self.len] = key;
        } else {
            self.spill_push(key);
        }
        self.len += 1;
    }

    #[cold]
    fn spill_push(&mut self, key: u64) {
        if self.len == INLINE {
            self.spill.clear();
            self.spill.extend_from_slice(&self.inline);
        }
        self.spill.push(key);
    }

    fn truncate(&mut self, len: usize) {
        if self.len > INLINE {
            if len <= INLINE {
                self.inline[..len].copy_from_slice(&self.spill[..len]);
            } else {
                self.spill.truncate(len);
            }
        }
        self.len = len;
    }

    /// Queues `entry` keeping the heap order.
    #[inline]
    fn insert(&mut self, lb: f32, entry: u32) {
        self.push(lb, entry);
        let heap = self.entries();
        let mut i = heap.len() - 1;
        while i > 0 {
            let parent = (i - 1) / 2;
            if heap[parent] <= heap[i] {
                break;
            }
            heap.swap(parent, i);
            i = parent;
        }
    }

    /// Takes the entry with the least bound: from the top of the heap when `ordered`, else
    /// by a scan.
    #[inline]
    fn take_least(&mut self, ordered: bool) -> Option<u64> {
        let entries = self.entries();
        let last = entries.len().checked_sub(1)?;
        let at = if ordered {
            0
        } else {
            (0..=last).min_by_key(|&i| entries[i]).unwrap_or(0)
        };
        let least = entries[at];
        entries[at] = entries[last];
        self.truncate(last);
        if ordered {
            sift_down(self.entries(), 0);
        }
        Some(least)
    }

    /// Best-first nearest search over the queued entries: takes the one with the least
    /// bound until that bound reaches `*best`, opening nodes of `forest` and calling
    /// `visit(id, best)` for items, which may lower `*best`. Best-first opens no node whose
    /// box is farther than the answer, whichever trees the entries came from.
    ///
    /// Until the first fence gives a bound, entries are taken by a scan; once there is one,
    /// most of what the walk down queued lies beyond it, so only the rest is ordered as a
    /// heap (ordering all of it first cost more than the search).
    pub(crate) fn nearest(&mut self, forest: &Bvh, p: [f32; 3], best: &mut f64, visit: &mut impl FnMut(u32, &mut f64)) {
        let mut ordered = false;
        while let Some(key) = self.take_least(ordered) {
            if bound(key) >= *best {
                break;
            }
            let entry = key as u32;
            if entry & NODE == 0 {
                visit(entry, best);
            } else {
                forest.expand(entry & !NODE, p, *best, self, ordered);
            }
            if !ordered && best.is_finite() {
                let entries = self.entries();
                let mut kept = 0;
                for i in 0..entries.len() {
                    if bound(entries[i]) < *best {
                        entries[kept] = entries[i];
                        kept += 1;
                    }
                }
                let kept = &mut entries[..kept];
                for i in (0..kept.len() / 2).rev() {
                    sift_down(kept, i);
                }
                let kept = kept.len();
                self.truncate(kept);
                ordered = true;
            }
        }
    }
}

fn sift_down(heap: &mut [u64], mut i: usize) {
    loop {
        let left = 2 * i + 1;
        let Some(&l) = heap.get(left) else {
            break;
        };
        let child = match heap.get(left + 1) {
            Some(&r) if r < l => left + 1,
            _ => left,
        };
        if heap[i] <= heap[child] {
            break;
        }
        heap.swap(i, child);
        i = child;
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
            tree.nearest(0, p, &mut best, &mut |id, _, best| {
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
            node.add(&b.to_box(), 0);
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

    /// The walk down (`locate`) offers every box holding the point, and the best-first search
    /// that carries on from its queue finds the brute-force nearest of the rest, over a
    /// tree and a set of bare leaves of one forest queued together; with large boxes the
    /// queue outgrows its inline storage and shrinks back.
    #[test]
    fn one_walk_matches_brute_force() {
        let mut next = uniform(11);
        for (count, size) in [(700, 0.05), (300, 0.6)] {
            let boxes: Vec<(Box3, u32)> = (0..count)
                .map(|i| (cube([next(), next(), next()], 0.01 + size * next()), i))
                .collect();
            let mut forest = Bvh::default();
            let (some, rest) = boxes.split_at(count as usize / 3);
            let root = forest.add(rest.to_vec());
            let tops = [[root, root + 1], forest.add_leaves(some.to_vec())];
            // Items taken by `holds` (every third) are not queued; the others' values are
            // their box distance plus a little, different per item.
            let value = |id: u32, p: V3| box_dist2(&boxes[id as usize].0, p) + 1e-3 * f64::from(1 + id % 7);
            for _ in 0..300 {
                let p = [next(), next(), next()];
                let mut frontier = Frontier::new();
                let mut offered = Vec::new();
                for tops in tops {
                    forest.locate(tops, narrow(p), &mut frontier, &mut |id| {
                        offered.push(id);
                        id.is_multiple_of(3)
                    });
                }
                let mut best = f64::INFINITY;
                frontier.nearest(&forest, narrow(p), &mut best, &mut |id, best| {
                    *best = best.min(value(id, p));
                });
                let taken = |id: u32| id.is_multiple_of(3) && offered.contains(&id);
                let want = boxes
                    .iter()
                    .filter(|(_, id)| !taken(*id))
                    .map(|(_, id)| value(*id, p))
                    .fold(f64::INFINITY, f64::min);
                assert_eq!(best, want);
                for (b, id) in &boxes {
                    if box_dist2(b, p) == 0.0 {
                        assert!(offered.contains(id), "box {id} holds {p:?} but was not offered");
                    }
                }
            }
        }
    }
}
