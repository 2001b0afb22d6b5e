//! Instruction and cache-miss counts of geofence decisions, for valgrind (load-independent,
//! unlike the criterion bench's wall times on a shared machine). Same data as
//! `benches/geofence.rs`. One case per run, chosen by `MODE`:
//!
//! ```text
//! cargo build --release --example geofence_cost
//! MODE=all_outside_point valgrind --tool=callgrind --cache-sim=yes --LL=2097152,16,64 \
//!     --toggle-collect='*geofence_cost::measure*' target/release/examples/geofence_cost
//! ```
//!
//! Only `measure` (4,096 decisions) is counted; divide by 4,096. Modes:
//! `{all,two}_{inside,outside}_{point,strict}`, `hot8_{inside,outside}_strict`,
//! `big_{inside,outside}_{point,strict}`.

use std::hint::black_box;

use muster::geofence::{AccuracyRule, FenceIndex, LatLon};
use uuid::Uuid;

#[path = "../benches/support/geofence_data.rs"]
mod data;

use data::{Rng, big_fence, org, org_queries};

const DECISIONS: usize = 4_096;

/// The counted part: `DECISIONS` decisions cycling through `points` (`mask + 1` of them).
#[inline(never)]
fn measure(index: &FenceIndex, points: &[(LatLon, [Uuid; 2])], mask: usize, rule: AccuracyRule, two_sites: bool) {
    for n in 0..DECISIONS {
        let (p, sites) = &points[(n + 1) & mask];
        let sites = two_sites.then_some(&sites[..]);
        black_box(index.decide(*p, 20.0, rule, sites));
    }
}

fn main() {
    let mode = std::env::var("MODE").unwrap_or_else(|_| "all_outside_point".into());
    let rule = if mode.ends_with("strict") {
        AccuracyRule::Strict
    } else {
        AccuracyRule::Point
    };
    let inside = mode.contains("inside");
    // The same generator calls as the bench, in the same order, so the same points.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let org = org(&mut rng);
    let org_inside = org_queries(&mut rng, &org, true);
    let org_outside = org_queries(&mut rng, &org, false);
    let org_points = if inside { &org_inside } else { &org_outside };
    if mode.starts_with("big") {
        let (_, big, big_inside, big_outside) = big_fence(&mut rng);
        let points: Vec<(LatLon, [Uuid; 2])> = if inside { big_inside } else { big_outside }
            .into_iter()
            .map(|p| (p, [Uuid::nil(); 2]))
            .collect();
        drop(org);
        measure(&big, &points, 1_023, rule, false);
    } else if mode.starts_with("hot8") {
        measure(&org.index, org_points, 7, rule, false);
    } else {
        measure(&org.index, org_points, 1_023, rule, mode.starts_with("two"));
    }
}
