//! The bench's data, shared with `examples/geofence_cost.rs` (instruction and miss counts
//! under valgrind) so both measure the same org, fences and points.

use muster::geofence::{
    AccuracyRule, EARTH_RADIUS_M, Fence, FenceIndex, GeometryLimits, LatLon, Verdict, parse_geometry,
};
use serde_json::{Value, json};
use uuid::Uuid;

/// A small deterministic generator (xorshift*), so runs are comparable.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
}

const CENTER: (f64, f64) = (12.9716, 77.5946);

fn offset(lat: f64, lon: f64, north_m: f64, east_m: f64) -> (f64, f64) {
    (
        lat + (north_m / EARTH_RADIUS_M).to_degrees(),
        lon + (east_m / (EARTH_RADIUS_M * lat.to_radians().cos())).to_degrees(),
    )
}

fn star(rng: &mut Rng, lat: f64, lon: f64, n: usize, radius: f64) -> Value {
    let mut ring: Vec<[f64; 2]> = (0..n)
        .map(|k| {
            let t = (k as f64 + rng.range(0.0, 0.8)) / n as f64 * std::f64::consts::TAU;
            let r = radius * rng.range(0.6, 1.0);
            let (a, b) = offset(lat, lon, r * t.sin(), r * t.cos());
            [b, a]
        })
        .collect();
    ring.push(ring[0]);
    json!({"type": "Polygon", "coordinates": [ring]})
}

fn point(lat: f64, lon: f64) -> LatLon {
    match LatLon::new(lat, lon) {
        Ok(p) => p,
        Err(e) => panic!("bench point out of range: {e:?}"),
    }
}

pub struct Org {
    pub index: FenceIndex,
    pub sites: Vec<Uuid>,
    /// Per fence: centre and site number.
    pub fences: Vec<((f64, f64), usize)>,
}

pub fn org(rng: &mut Rng) -> Org {
    let limits = GeometryLimits::default();
    let sites: Vec<Uuid> = (0..1_000).map(|i| Uuid::from_u128(i + 1)).collect();
    let mut fences = Vec::with_capacity(10_000);
    let mut meta = Vec::with_capacity(10_000);
    for (s, site) in sites.iter().enumerate() {
        let (slat, slon) = offset(
            CENTER.0,
            CENTER.1,
            rng.range(-30_000.0, 30_000.0),
            rng.range(-30_000.0, 30_000.0),
        );
        for k in 0..10 {
            let (lat, lon) = offset(slat, slon, rng.range(-2_000.0, 2_000.0), rng.range(-2_000.0, 2_000.0));
            let n = 30 + (rng.next() * 41.0) as usize;
            let radius = rng.range(50.0, 300.0);
            let geometry = star(rng, lat, lon, n, radius);
            let shape = match parse_geometry(&geometry, &limits) {
                Ok(shape) => shape,
                Err(e) => panic!("bench fence rejected: {e:?}"),
            };
            fences.push(Fence {
                id: Uuid::from_u128((s * 10 + k) as u128),
                version: 1,
                name: format!("site {s} fence {k}"),
                site_id: *site,
                shape,
            });
            meta.push(((lat, lon), s));
        }
    }
    Org {
        index: FenceIndex::new(fences),
        sites,
        fences: meta,
    }
}

/// A point and the two sites of the employee who sent it.
pub type Query = (LatLon, [Uuid; 2]);

pub fn org_queries(rng: &mut Rng, org: &Org, inside: bool) -> Vec<Query> {
    let mut out = Vec::with_capacity(1_024);
    while out.len() < 1_024 {
        let f = (rng.next() * org.fences.len() as f64) as usize % org.fences.len();
        let ((lat, lon), s) = org.fences[f];
        let other = org.sites[(rng.next() * 1_000.0) as usize % 1_000];
        let p = if inside {
            let (a, b) = offset(lat, lon, rng.range(-20.0, 20.0), rng.range(-20.0, 20.0));
            point(a, b)
        } else {
            // 0.5–3 km from one of the employee's fences: a typical wrong place.
            let t = rng.range(0.0, std::f64::consts::TAU);
            let r = rng.range(500.0, 3_000.0);
            let (a, b) = offset(lat, lon, r * t.sin(), r * t.cos());
            point(a, b)
        };
        let verdict = org.index.decide(p, 0.0, AccuracyRule::Point, None).verdict;
        if (verdict == Verdict::Inside) == inside {
            out.push((p, [org.sites[s], other]));
        }
    }
    out
}

pub fn big_fence(rng: &mut Rng) -> (Value, FenceIndex, Vec<LatLon>, Vec<LatLon>) {
    let n = 9_999;
    let mut ring: Vec<[f64; 2]> = (0..n)
        .map(|i| {
            let t = i as f64 / n as f64 * std::f64::consts::TAU;
            let r = 2_000.0 + 100.0 * (12.0 * t).sin();
            let (a, b) = offset(CENTER.0, CENTER.1, r * t.sin(), r * t.cos());
            [b, a]
        })
        .collect();
    ring.push(ring[0]);
    let geometry = json!({"type": "Polygon", "coordinates": [ring]});
    let shape = match parse_geometry(&geometry, &GeometryLimits::default()) {
        Ok(shape) => shape,
        Err(e) => panic!("big fence rejected: {e:?}"),
    };
    let index = FenceIndex::new(vec![Fence {
        id: Uuid::nil(),
        version: 1,
        name: "city".into(),
        site_id: Uuid::nil(),
        shape,
    }]);
    let mut around = |lo: f64, hi: f64| -> Vec<LatLon> {
        (0..1_024)
            .map(|_| {
                let t = rng.range(0.0, std::f64::consts::TAU);
                let r = rng.range(lo, hi);
                let (a, b) = offset(CENTER.0, CENTER.1, r * t.sin(), r * t.cos());
                point(a, b)
            })
            .collect()
    };
    let inside = around(0.0, 1_800.0);
    let outside = around(2_200.0, 5_000.0);
    (geometry, index, inside, outside)
}
