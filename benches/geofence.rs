//! Geofence decision benchmarks: `cargo bench --bench geofence`.
//!
//! * An org with 10,000 polygon fences of 30–70 vertices (50 on average), 10 fences per
//!   site clustered within ~2 km of the site, sites spread over ~60 km × 60 km around
//!   Bangalore; decisions for points inside fences and for points outside them, against
//!   every fence (`sites: None`) and against an employee's two sites.
//! * One fence of 10,000 positions (a wavy ring of ~2 km radius), points inside and out.
//! * Parsing a 10,000-position geometry and building the 10,000-fence index, for scale.
//!
//! Each iteration judges the next of 1,024 pre-generated points, so caches and branch
//! predictors see a realistic mix rather than one point again and again; the `hot8`
//! variants cycle through 8 points to show the cost without cache misses. Numbers are in
//! docs/PERFORMANCE.md, section "Geofence decision".

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use muster::geofence::{AccuracyRule, Fence, FenceIndex, GeometryLimits, parse_geometry};

#[path = "support/geofence_data.rs"]
mod data;

use data::{Rng, big_fence, org, org_queries};

fn bench(c: &mut Criterion) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let org = org(&mut rng);
    let inside = org_queries(&mut rng, &org, true);
    let outside = org_queries(&mut rng, &org, false);

    let mut group = c.benchmark_group("decide_10k_fences");
    for (name, queries) in [("inside", &inside), ("outside", &outside)] {
        for (rule_name, rule) in [("point", AccuracyRule::Point), ("strict", AccuracyRule::Strict)] {
            let mut i = 0;
            group.bench_function(format!("all_sites/{name}/{rule_name}"), |b| {
                b.iter(|| {
                    i = (i + 1) & 1_023;
                    let (p, _) = &queries[i];
                    black_box(org.index.decide(*p, 20.0, rule, None))
                })
            });
            let mut i = 0;
            group.bench_function(format!("two_sites/{name}/{rule_name}"), |b| {
                b.iter(|| {
                    i = (i + 1) & 1_023;
                    let (p, sites) = &queries[i];
                    black_box(org.index.decide(*p, 20.0, rule, Some(sites)))
                })
            });
        }
    }
    // The same eight points over and over: the org's data for them stays in cache, so this
    // is the arithmetic of a decision without the memory latency of a cold one.
    for (name, queries) in [("inside", &inside), ("outside", &outside)] {
        let mut i = 0;
        group.bench_function(format!("all_sites/{name}/strict/hot8"), |b| {
            b.iter(|| {
                i = (i + 1) & 7;
                let (p, _) = &queries[i];
                black_box(org.index.decide(*p, 20.0, AccuracyRule::Strict, None))
            })
        });
    }
    group.finish();

    let (geometry, big, big_inside, big_outside) = big_fence(&mut rng);
    let mut group = c.benchmark_group("decide_one_10k_vertex_fence");
    for (name, queries) in [("inside", &big_inside), ("outside", &big_outside)] {
        for (rule_name, rule) in [("point", AccuracyRule::Point), ("strict", AccuracyRule::Strict)] {
            let mut i = 0;
            group.bench_function(format!("{name}/{rule_name}"), |b| {
                b.iter(|| {
                    i = (i + 1) & 1_023;
                    black_box(big.decide(queries[i], 20.0, rule, None))
                })
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("setup");
    group.sample_size(10);
    let limits = GeometryLimits::default();
    group.bench_function("parse_geometry_10k_positions", |b| {
        b.iter(|| black_box(parse_geometry(&geometry, &limits).is_ok()))
    });
    let fences: Vec<Fence> = org.index.fences().to_vec();
    group.bench_function("index_build_10k_fences", |b| {
        b.iter(|| black_box(FenceIndex::new(fences.clone()).len()))
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
