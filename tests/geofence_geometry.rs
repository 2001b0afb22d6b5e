//! Geofence geometry: known answers for the decision (edges, vertices, holes, multipolygons,
//! the antimeridian both ways, poles, tiny and huge fences, circles, every accuracy rule,
//! site filters), one test per validation rule checking the error's field path, and
//! property tests against a brute-force reference (plain point-in-polygon and sampled
//! haversine distances).

use muster::field::FieldError;
use muster::geofence::{
    AccuracyRule, EARTH_RADIUS_M, Fence, FenceIndex, GeometryLimits, LatLon, ShapeKind, Verdict, haversine_m,
    parse_geometry,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

// ---------------------------------------------------------------- helpers

fn limits() -> GeometryLimits {
    GeometryLimits::default()
}

fn at(lat: f64, lon: f64) -> LatLon {
    LatLon::new(lat, lon).unwrap_or_else(|e| panic!("bad test point {lat},{lon}: {e:?}"))
}

fn fence(name: &str, site: Uuid, geometry: Value) -> Fence {
    let shape = parse_geometry(&geometry, &limits()).unwrap_or_else(|e| panic!("fence {name} rejected: {e:#?}"));
    Fence {
        id: Uuid::new_v4(),
        version: 1,
        name: name.to_string(),
        site_id: site,
        shape,
    }
}

fn errors(geometry: Value) -> Vec<FieldError> {
    match parse_geometry(&geometry, &limits()) {
        Ok(_) => panic!("accepted: {geometry}"),
        Err(e) => e,
    }
}

/// Asserts that some error names `field` and mentions every one of `words`.
fn assert_error(geometry: Value, field: &str, words: &[&str]) {
    let errors = errors(geometry);
    assert!(
        errors
            .iter()
            .any(|e| e.field == field && words.iter().all(|w| e.message.contains(w))),
        "no error on {field} mentioning {words:?}; got {errors:#?}"
    );
}

/// A point `north_m` north and `east_m` east of (lat, lon), on the sphere (small offsets).
fn offset(lat: f64, lon: f64, north_m: f64, east_m: f64) -> (f64, f64) {
    let lat2 = lat + (north_m / EARTH_RADIUS_M).to_degrees();
    let lon2 = lon + (east_m / (EARTH_RADIUS_M * lat.to_radians().cos())).to_degrees();
    (lat2, lon2)
}

fn rect(west: f64, south: f64, east: f64, north: f64) -> Vec<[f64; 2]> {
    vec![
        [west, south],
        [east, south],
        [east, north],
        [west, north],
        [west, south],
    ]
}

fn polygon(rings: &[Vec<[f64; 2]>]) -> Value {
    json!({"type": "Polygon", "coordinates": rings})
}

/// Cross-track distance from a point to a meridian at `lon`, metres (exact on the sphere).
fn to_meridian_m(lat: f64, lon: f64, meridian: f64) -> f64 {
    EARTH_RADIUS_M * (lat.to_radians().cos() * (lon - meridian).to_radians().sin().abs()).asin()
}

fn close(actual: f64, expected: f64, relative: f64, absolute: f64) -> bool {
    (actual - expected).abs() <= (expected.abs() * relative).max(absolute)
}

// ---------------------------------------------------------------- known answers

struct Case {
    name: &'static str,
    point: (f64, f64),
    accuracy_m: f64,
    rule: AccuracyRule,
    verdict: Verdict,
    fence: Option<&'static str>,
    /// Expected distance and its relative tolerance (absolute floor 2 cm).
    distance: Option<(f64, f64)>,
}

fn case(name: &'static str, point: (f64, f64), verdict: Verdict) -> Case {
    Case {
        name,
        point,
        accuracy_m: 0.0,
        rule: AccuracyRule::Point,
        verdict,
        fence: None,
        distance: None,
    }
}

impl Case {
    fn rule(mut self, rule: AccuracyRule, accuracy_m: f64) -> Self {
        self.rule = rule;
        self.accuracy_m = accuracy_m;
        self
    }
    fn fence(mut self, name: &'static str) -> Self {
        self.fence = Some(name);
        self
    }
    fn distance(mut self, metres: f64, relative: f64) -> Self {
        self.distance = Some((metres, relative));
        self
    }
}

fn run(index: &FenceIndex, sites: Option<&[Uuid]>, cases: &[Case]) {
    for c in cases {
        let d = index.decide(at(c.point.0, c.point.1), c.accuracy_m, c.rule, sites);
        assert_eq!(d.verdict, c.verdict, "{}: {d:?}", c.name);
        if let Some(name) = c.fence {
            assert_eq!(
                d.fence.as_ref().map(|f| f.name.as_str()),
                Some(name),
                "{}: {d:?}",
                c.name
            );
        }
        if let Some((metres, relative)) = c.distance {
            let got = d.distance_m.unwrap_or(f64::NAN);
            assert!(
                close(got, metres, relative, 0.02),
                "{}: distance {got}, expected {metres}",
                c.name
            );
        }
        if c.verdict == Verdict::NoGeofence {
            assert!(d.fence.is_none() && d.distance_m.is_none(), "{}", c.name);
        } else {
            assert!(d.fence.is_some() && d.distance_m.is_some(), "{}", c.name);
        }
    }
}

#[test]
fn square_edges_vertices_and_outside() {
    let site = Uuid::new_v4();
    let index = FenceIndex::new(vec![fence(
        "office",
        site,
        polygon(&[rect(77.59, 12.97, 77.60, 12.98)]),
    )]);
    let east = 77.60 + (10.0 / (EARTH_RADIUS_M * 12.975f64.to_radians().cos())).to_degrees();
    run(
        &index,
        Some(&[site]),
        &[
            case("centre", (12.975, 77.595), Verdict::Inside)
                .fence("office")
                .distance(0.0, 0.0),
            case("on the east edge", (12.975, 77.60), Verdict::Inside).distance(0.0, 0.0),
            case("on the south edge", (12.97, 77.595), Verdict::Inside),
            case("on a vertex", (12.98, 77.59), Verdict::Inside),
            case("10 m east", (12.975, east), Verdict::Outside)
                .fence("office")
                .distance(to_meridian_m(12.975, east, 77.60), 1e-3),
            case("1.112 km north", (12.99, 77.595), Verdict::Outside)
                .distance(0.01f64.to_radians() * EARTH_RADIUS_M, 1e-4),
            case("far away", (0.0, 0.0), Verdict::Outside).distance(haversine_m(at(0.0, 0.0), at(12.97, 77.59)), 1e-3),
        ],
    );
}

#[test]
fn holes_are_outside_and_their_edges_are_boundary() {
    let site = Uuid::new_v4();
    let index = FenceIndex::new(vec![fence(
        "campus",
        site,
        polygon(&[rect(10.0, 50.0, 10.02, 50.02), rect(10.005, 50.005, 10.015, 50.015)]),
    )]);
    let to_hole_edge = 0.005f64.to_radians() * EARTH_RADIUS_M; // 556 m along the meridian
    run(
        &index,
        None,
        &[
            case("in the hole", (50.01, 10.01), Verdict::Outside)
                .fence("campus")
                .distance(to_hole_edge.min(to_meridian_m(50.01, 10.01, 10.005)), 1e-3),
            case("on the hole's edge", (50.005, 10.01), Verdict::Inside),
            case("between shell and hole", (50.0025, 10.01), Verdict::Inside),
            case(
                "strict, circle reaching into the hole",
                (50.0025, 10.01),
                Verdict::Uncertain,
            )
            .rule(AccuracyRule::Strict, 300.0),
            case(
                "strict, circle between hole and shell",
                (50.0025, 10.01),
                Verdict::Inside,
            )
            .rule(AccuracyRule::Strict, 250.0),
            case("lenient from the hole", (50.01, 10.01), Verdict::Inside).rule(AccuracyRule::Lenient, 600.0),
        ],
    );
}

#[test]
fn multipolygon_parts() {
    let site = Uuid::new_v4();
    let index = FenceIndex::new(vec![fence(
        "two yards",
        site,
        json!({"type": "MultiPolygon", "coordinates": [
            [rect(0.0, 0.0, 0.01, 0.01)],
            [rect(0.02, 0.0, 0.03, 0.01)],
        ]}),
    )]);
    let gap = 0.005f64.to_radians() * EARTH_RADIUS_M;
    run(
        &index,
        None,
        &[
            case("first part", (0.005, 0.005), Verdict::Inside),
            case("second part", (0.005, 0.025), Verdict::Inside),
            case("between the parts", (0.005, 0.015), Verdict::Outside).distance(gap, 1e-3),
            case(
                "strict between, circle reaching both",
                (0.005, 0.015),
                Verdict::Uncertain,
            )
            .rule(AccuracyRule::Strict, gap + 1.0),
        ],
    );
}

#[test]
fn antimeridian_with_continued_longitudes() {
    let index = FenceIndex::new(vec![fence(
        "dateline",
        Uuid::new_v4(),
        polygon(&[rect(179.0, -1.0, 181.0, 1.0)]),
    )]);
    let degree = 1f64.to_radians() * EARTH_RADIUS_M;
    run(
        &index,
        None,
        &[
            case("179.5", (0.0, 179.5), Verdict::Inside),
            case("-179.5", (0.0, -179.5), Verdict::Inside),
            case("on the seam, +180", (0.5, 180.0), Verdict::Inside),
            case("on the seam, -180", (0.5, -180.0), Verdict::Inside),
            case("on the east edge, -179", (0.0, -179.0), Verdict::Inside),
            case("lon 0 is not inside", (0.0, 0.0), Verdict::Outside),
            case("178 is a degree away", (0.0, 178.0), Verdict::Outside).distance(degree, 1e-3),
            case("-178 is a degree away", (0.0, -178.0), Verdict::Outside).distance(degree, 1e-3),
            case("strict across the seam", (0.0, 179.9999), Verdict::Inside).rule(AccuracyRule::Strict, 1_000.0),
        ],
    );
}

#[test]
fn antimeridian_split_into_a_multipolygon() {
    let index = FenceIndex::new(vec![fence(
        "split",
        Uuid::new_v4(),
        json!({"type": "MultiPolygon", "coordinates": [
            [rect(179.0, -1.0, 180.0, 1.0)],
            [rect(-180.0, -1.0, -179.0, 1.0)],
        ]}),
    )]);
    let degree = 1f64.to_radians() * EARTH_RADIUS_M;
    run(
        &index,
        None,
        &[
            case("179.5", (0.0, 179.5), Verdict::Inside),
            case("-179.5", (0.0, -179.5), Verdict::Inside),
            case("seam +180", (0.3, 180.0), Verdict::Inside),
            case("seam -180", (-0.3, -180.0), Verdict::Inside),
            case("0", (0.0, 0.0), Verdict::Outside),
            case("178", (0.0, 178.0), Verdict::Outside).distance(degree, 1e-3),
            // The seam is not a boundary: the whole circle is inside the fence.
            case("strict on the seam", (0.0, 180.0), Verdict::Inside).rule(AccuracyRule::Strict, 50_000.0),
            case("strict next to the seam", (0.0, -179.9999), Verdict::Inside).rule(AccuracyRule::Strict, 1_000.0),
            case("strict near the north edge", (0.999, 180.0), Verdict::Uncertain).rule(AccuracyRule::Strict, 1_000.0),
        ],
    );
}

#[test]
fn split_fence_with_a_seam_covered_on_one_side_only() {
    // East part spans lat -1..1 at the seam, west part only 0..1: from -1 to 0 the seam is
    // a real boundary.
    let index = FenceIndex::new(vec![fence(
        "uneven",
        Uuid::new_v4(),
        json!({"type": "MultiPolygon", "coordinates": [
            [rect(179.0, -1.0, 180.0, 1.0)],
            [rect(-180.0, 0.0, -179.0, 1.0)],
        ]}),
    )]);
    let d = index.decide(at(-0.5, -179.99), 0.0, AccuracyRule::Point, None);
    assert_eq!(d.verdict, Verdict::Outside);
    assert!(close(
        d.distance_m.unwrap_or(0.0),
        to_meridian_m(-0.5, -179.99, 180.0),
        1e-3,
        0.02
    ));
    let strict = |lat, lon, acc| index.decide(at(lat, lon), acc, AccuracyRule::Strict, None).verdict;
    assert_eq!(strict(-0.5, 179.99, 500.0), Verdict::Inside);
    assert_eq!(strict(-0.5, 179.99, 2_000.0), Verdict::Uncertain);
    assert_eq!(strict(0.5, 179.99, 2_000.0), Verdict::Inside);
}

#[test]
fn near_the_north_pole() {
    let index = FenceIndex::new(vec![fence(
        "station",
        Uuid::new_v4(),
        polygon(&[rect(0.0, 89.9, 10.0, 89.91)]),
    )]);
    let per_degree = 1f64.to_radians() * EARTH_RADIUS_M;
    run(
        &index,
        None,
        &[
            case("inside", (89.905, 5.0), Verdict::Inside),
            case("on the top edge", (89.91, 5.0), Verdict::Inside),
            case("0.01° north of the top edge", (89.92, 5.0), Verdict::Outside).distance(0.01 * per_degree, 1e-3),
            // Across the pole the nearest point is along the meridian 5/-175: 0.05° to the
            // pole and 0.09° down to the top edge. A local equirectangular projection
            // would be kilometres off here.
            case("across the pole", (89.95, -175.0), Verdict::Outside).distance(0.14 * per_degree, 1e-3),
            case("the pole itself", (90.0, 0.0), Verdict::Outside).distance(0.09 * per_degree, 1e-3),
        ],
    );
}

#[test]
fn a_cap_around_the_north_pole() {
    let cap = polygon(&[vec![
        [-180.0, 89.9],
        [-90.0, 89.9],
        [0.0, 89.9],
        [90.0, 89.9],
        [180.0, 89.9],
        [180.0, 90.0],
        [-180.0, 90.0],
        [-180.0, 89.9],
    ]]);
    let shape = parse_geometry(&cap, &limits()).expect("cap accepted");
    // Spherical cap of 0.1°: 388 km²; on the ellipsoid near the pole a little more.
    let sphere = 2.0 * std::f64::consts::PI * EARTH_RADIUS_M.powi(2) * (1.0 - 0.1f64.to_radians().cos());
    assert!(
        close(shape.area_m2(), sphere, 0.02, 0.0),
        "{} vs {sphere}",
        shape.area_m2()
    );
    let index = FenceIndex::new(vec![fence("cap", Uuid::new_v4(), cap)]);
    let per_degree = 1f64.to_radians() * EARTH_RADIUS_M;
    run(
        &index,
        None,
        &[
            case("inside", (89.95, 123.0), Verdict::Inside),
            case("the pole", (90.0, 0.0), Verdict::Inside),
            case("outside", (89.8, 45.0), Verdict::Outside).distance(0.1 * per_degree, 1e-3),
            // The seam edges at ±180 and the pole edge are not boundary.
            case("strict, 5 km from the rim", (89.95, 180.0), Verdict::Inside).rule(AccuracyRule::Strict, 5_000.0),
            case("strict at the pole", (90.0, 0.0), Verdict::Inside).rule(AccuracyRule::Strict, 11_000.0),
            case("strict, circle over the rim", (89.95, -60.0), Verdict::Uncertain).rule(AccuracyRule::Strict, 6_000.0),
        ],
    );
}

#[test]
fn tiny_and_huge_fences() {
    // A 3 m square and a 40 km square.
    let (lat, lon) = (-33.86, 151.21);
    let (n, e) = offset(lat, lon, 3.0, 3.0);
    let (far_n, far_e) = offset(lat, lon, 40_000.0, 40_000.0);
    let index = FenceIndex::new(vec![
        fence("kiosk", Uuid::new_v4(), polygon(&[rect(lon, lat, e, n)])),
        fence(
            "county",
            Uuid::new_v4(),
            polygon(&[rect(lon + 1.0, lat, far_e + 1.0, far_n)]),
        ),
    ]);
    let mid = offset(lat, lon, 1.5, 1.5);
    let one_m_out = offset(lat, lon, 1.5, 4.0);
    let county_mid = (lat + (far_n - lat) / 2.0, lon + 1.0 + (far_e - lon) / 2.0);
    run(
        &index,
        None,
        &[
            case("kiosk middle", mid, Verdict::Inside).fence("kiosk"),
            case("kiosk, 1 m out", one_m_out, Verdict::Outside)
                .fence("kiosk")
                .distance(1.0, 0.01),
            case("kiosk strict 1 m", mid, Verdict::Inside).rule(AccuracyRule::Strict, 1.0),
            case("kiosk strict 2 m", mid, Verdict::Uncertain).rule(AccuracyRule::Strict, 2.0),
            case("county middle strict 15 km", county_mid, Verdict::Inside)
                .fence("county")
                .rule(AccuracyRule::Strict, 15_000.0),
            case("county middle strict 25 km", county_mid, Verdict::Uncertain).rule(AccuracyRule::Strict, 25_000.0),
            case(
                "20 km south of the county",
                (lat - (20_000.0 / EARTH_RADIUS_M).to_degrees(), county_mid.1),
                Verdict::Outside,
            )
            .fence("county")
            .distance(20_000.0, 5e-3),
        ],
    );
}

#[test]
fn circles() {
    let site = Uuid::new_v4();
    let (lat, lon) = (12.9716, 77.5946);
    let index = FenceIndex::new(vec![fence(
        "hq",
        site,
        json!({"type": "Circle", "center": [lon, lat], "radius_m": 150}),
    )]);
    let north = |m: f64| offset(lat, lon, m, 0.0);
    run(
        &index,
        Some(&[site]),
        &[
            case("centre", (lat, lon), Verdict::Inside).fence("hq"),
            case("100 m", north(100.0), Verdict::Inside),
            case("149.9 m", north(149.9), Verdict::Inside),
            case("200 m", north(200.0), Verdict::Outside).distance(50.0, 1e-3),
            case("strict 100 m ±30", north(100.0), Verdict::Inside).rule(AccuracyRule::Strict, 30.0),
            case("strict 100 m ±60", north(100.0), Verdict::Uncertain).rule(AccuracyRule::Strict, 60.0),
            case("strict 200 m ±60", north(200.0), Verdict::Uncertain).rule(AccuracyRule::Strict, 60.0),
            case("strict 200 m ±40", north(200.0), Verdict::Outside).rule(AccuracyRule::Strict, 40.0),
            case("lenient 200 m ±60", north(200.0), Verdict::Inside)
                .rule(AccuracyRule::Lenient, 60.0)
                .distance(50.0, 1e-3),
            case("lenient 200 m ±40", north(200.0), Verdict::Outside).rule(AccuracyRule::Lenient, 40.0),
        ],
    );
    // Judged by haversine to the centre.
    let p = at(north(150.0 - 0.01).0, lon);
    assert!(haversine_m(p, at(lat, lon)) < 150.0);
    assert_eq!(index.decide(p, 0.0, AccuracyRule::Point, None).verdict, Verdict::Inside);
}

#[test]
fn circles_across_the_antimeridian_and_at_a_pole() {
    let index = FenceIndex::new(vec![
        fence(
            "dateline",
            Uuid::new_v4(),
            json!({"type": "Circle", "center": [179.9995, 0.0], "radius_m": 200}),
        ),
        fence(
            "pole",
            Uuid::new_v4(),
            json!({"type": "Circle", "center": [0.0, 90.0], "radius_m": 1000}),
        ),
    ]);
    run(
        &index,
        None,
        &[
            case("other side of the seam", (0.0, -179.9995), Verdict::Inside).fence("dateline"),
            case("west of it", (0.0, 179.99), Verdict::Outside)
                .distance(0.0095f64.to_radians() * EARTH_RADIUS_M - 200.0, 1e-3),
            case("near the pole", (89.995, 123.0), Verdict::Inside).fence("pole"),
            case("outside the pole cap", (89.98, -45.0), Verdict::Outside)
                .fence("pole")
                .distance(0.02f64.to_radians() * EARTH_RADIUS_M - 1000.0, 1e-3),
        ],
    );
}

#[test]
fn accuracy_rules_on_a_polygon() {
    let index = FenceIndex::new(vec![fence(
        "yard",
        Uuid::new_v4(),
        polygon(&[rect(0.0, 0.0, 0.01, 0.01)]),
    )]);
    // 10 m inside and 10 m outside the west edge (the meridian 0).
    let inside = (0.005, (10.0 / EARTH_RADIUS_M).to_degrees());
    let outside = (0.005, -(10.0 / EARTH_RADIUS_M).to_degrees());
    use AccuracyRule::*;
    use Verdict::*;
    run(
        &index,
        None,
        &[
            case("point in", inside, Inside).rule(Point, 100.0).distance(0.0, 0.0),
            case("point out", outside, Outside)
                .rule(Point, 100.0)
                .distance(10.0, 1e-3),
            case("strict in ±5", inside, Inside).rule(Strict, 5.0),
            case("strict in ±20", inside, Uncertain)
                .rule(Strict, 20.0)
                .distance(0.0, 0.0),
            case("strict out ±20", outside, Uncertain)
                .rule(Strict, 20.0)
                .distance(10.0, 1e-3),
            case("strict out ±5", outside, Outside).rule(Strict, 5.0),
            case("lenient in ±20", inside, Inside).rule(Lenient, 20.0),
            case("lenient out ±20", outside, Inside)
                .rule(Lenient, 20.0)
                .distance(10.0, 1e-3),
            case("lenient out ±5", outside, Outside).rule(Lenient, 5.0),
            case("negative accuracy counts as 0", inside, Inside).rule(Strict, -3.0),
        ],
    );
}

#[test]
fn site_filter_overlaps_and_nearest() {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let index = FenceIndex::new(vec![
        fence("a-big", a, polygon(&[rect(0.0, 0.0, 0.02, 0.02)])),
        fence("b-small", b, polygon(&[rect(0.009, 0.009, 0.011, 0.011)])),
        fence("b-far", b, polygon(&[rect(1.0, 1.0, 1.01, 1.01)])),
    ]);
    let centre = (0.01, 0.01);
    run(
        &index,
        None,
        &[
            // Both contain it: the first in index order.
            case("point, both contain", centre, Verdict::Inside).fence("a-big"),
            // Strict: a-big holds a 500 m circle, b-small does not.
            case("strict picks the holding fence", centre, Verdict::Inside)
                .fence("a-big")
                .rule(AccuracyRule::Strict, 500.0),
        ],
    );
    run(
        &index,
        Some(&[b]),
        &[
            case("only b's fences", (0.005, 0.01), Verdict::Outside)
                .fence("b-small")
                .distance(0.004f64.to_radians() * EARTH_RADIUS_M, 1e-3),
            case("strict, b-small too small", centre, Verdict::Uncertain)
                .fence("b-small")
                .rule(AccuracyRule::Strict, 500.0),
            case("nearest of b's", (1.02, 1.005), Verdict::Outside).fence("b-far"),
        ],
    );
    run(
        &index,
        Some(&[a, a, Uuid::new_v4()]),
        &[case("duplicates and unknown ids", centre, Verdict::Inside).fence("a-big")],
    );
    run(
        &index,
        Some(&[Uuid::new_v4()]),
        &[case("unknown site", centre, Verdict::NoGeofence)],
    );
    run(&index, Some(&[]), &[case("no sites", centre, Verdict::NoGeofence)]);
}

#[test]
fn no_fences_at_all() {
    let index = FenceIndex::new(vec![]);
    assert!(index.is_empty());
    run(
        &index,
        None,
        &[
            case("empty", (1.0, 2.0), Verdict::NoGeofence),
            case("empty strict", (1.0, 2.0), Verdict::NoGeofence).rule(AccuracyRule::Strict, 5.0),
        ],
    );
}

#[test]
fn a_site_with_many_fences_uses_its_own_tree() {
    let site = Uuid::new_v4();
    let other = Uuid::new_v4();
    let mut fences: Vec<Fence> = (0..40)
        .map(|i| {
            let x = i as f64 * 0.01;
            fence("s", site, polygon(&[rect(x, 0.0, x + 0.005, 0.005)]))
        })
        .collect();
    fences.push(fence("other", other, polygon(&[rect(0.0, 0.1, 0.005, 0.105)])));
    let index = FenceIndex::new(fences);
    assert_eq!(index.len(), 41);
    let d = index.decide(at(0.09, 0.002), 0.0, AccuracyRule::Point, Some(&[site]));
    assert_eq!(d.verdict, Verdict::Outside);
    assert!(close(
        d.distance_m.unwrap_or(0.0),
        0.085f64.to_radians() * EARTH_RADIUS_M,
        1e-3,
        0.0
    ));
    let d = index.decide(at(0.09, 0.002), 0.0, AccuracyRule::Point, None);
    assert_eq!(d.fence.map(|f| f.name), Some("other".to_string()));
    let d = index.decide(at(0.0025, 0.3125), 0.0, AccuracyRule::Point, Some(&[site]));
    assert_eq!(d.verdict, Verdict::Inside);
}

#[test]
fn a_large_polygon() {
    // 5,000 vertices on a wavy ring of ~2 km radius.
    let (lat, lon) = (48.85, 2.35);
    let n = 5_000;
    let mut ring: Vec<[f64; 2]> = (0..n)
        .map(|i| {
            let t = i as f64 / n as f64 * std::f64::consts::TAU;
            let r = 2_000.0 + 100.0 * (12.0 * t).sin();
            let (a, b) = offset(lat, lon, r * t.sin(), r * t.cos());
            [b, a]
        })
        .collect();
    ring.push(ring[0]);
    let index = FenceIndex::new(vec![fence(
        "city",
        Uuid::new_v4(),
        polygon(std::slice::from_ref(&ring)),
    )]);
    let inside = index.decide(at(lat, lon), 1_000.0, AccuracyRule::Strict, None);
    assert_eq!(inside.verdict, Verdict::Inside);
    let out = offset(lat, lon, 0.0, 3_000.0);
    let d = index.decide(at(out.0, out.1), 0.0, AccuracyRule::Point, None);
    assert_eq!(d.verdict, Verdict::Outside);
    // East vertex at t = 0 is at r = 2,000 m, so ~1,000 m away (the ring bulges there).
    let got = d.distance_m.unwrap_or(0.0);
    let reference = reference_distance(&[ring], at(out.0, out.1));
    assert!(close(got, reference, 1e-3, 0.02), "{got} vs {reference}");
}

// ---------------------------------------------------------------- shapes

#[test]
fn echo_kinds_bounding_rect_and_altitude() {
    let input = json!({"type": "Polygon", "coordinates": [[[0, 0, 5], [1, 0, 5], [1, 1, 5], [0, 0, 5]]]});
    let shape = parse_geometry(&input, &limits()).expect("altitude accepted");
    assert_eq!(shape.kind(), ShapeKind::Polygon);
    assert_eq!(
        shape.to_geojson(),
        json!({"type": "Polygon", "coordinates": [[[0.0, 0.0, 5.0], [1.0, 0.0, 5.0], [1.0, 1.0, 5.0], [0.0, 0.0, 5.0]]]})
    );
    assert_eq!(shape.position_count(), 4);
    let r = shape.bounding_rect();
    assert_eq!((r.min().x, r.max().y), (0.0, 1.0));

    let circle = json!({"type": "Circle", "center": [10.5, 20.25], "radius_m": 150.0});
    let shape = parse_geometry(&circle, &limits()).expect("circle");
    assert_eq!(shape.to_geojson(), circle);
    assert_eq!(shape.kind(), ShapeKind::Circle);
    let r = shape.bounding_rect();
    assert!(r.min().y < 20.25 && r.max().y > 20.25 && r.max().x - r.min().x < 0.01);

    let multi = json!({"type": "MultiPolygon", "coordinates": [[rect(179.0, 0.0, 180.0, 1.0)], [rect(-180.0, 0.0, -179.0, 1.0)]]});
    assert_eq!(
        parse_geometry(&multi, &limits()).map(|s| s.kind()),
        Ok(ShapeKind::MultiPolygon)
    );
}

#[test]
fn areas() {
    // 0.01° square at the equator on WGS 84: 1,113.19 m of longitude by 1,105.74 m of
    // latitude.
    let square = parse_geometry(&polygon(&[rect(0.0, 0.0, 0.01, 0.01)]), &limits()).unwrap();
    assert!(
        close(square.area_m2(), 1_113.195 * 1_105.743, 1e-4, 0.0),
        "{}",
        square.area_m2()
    );
    // A hole removes its area; winding does not matter.
    let clockwise: Vec<[f64; 2]> = rect(0.0, 0.0, 0.01, 0.01).into_iter().rev().collect();
    let holed = parse_geometry(&polygon(&[clockwise, rect(0.0025, 0.0025, 0.0075, 0.0075)]), &limits()).unwrap();
    assert!(close(holed.area_m2(), 0.75 * square.area_m2(), 1e-3, 0.0));
    // Both antimeridian notations give the same area.
    let continued = parse_geometry(&polygon(&[rect(179.0, -1.0, 181.0, 1.0)]), &limits()).unwrap();
    let split = parse_geometry(
        &json!({"type": "MultiPolygon", "coordinates": [[rect(179.0, -1.0, 180.0, 1.0)], [rect(-180.0, -1.0, -179.0, 1.0)]]}),
        &limits(),
    )
    .unwrap();
    assert!(close(continued.area_m2(), split.area_m2(), 1e-9, 1.0));
    // 2° × 2° on the equator: a little less than 200² of the small square.
    assert!(
        close(continued.area_m2(), 40_000.0 * square.area_m2(), 1e-3, 0.0),
        "{}",
        continued.area_m2()
    );
}

// ---------------------------------------------------------------- validation, one rule each

#[test]
fn rejects_an_open_ring() {
    assert_error(
        json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}),
        "geometry.coordinates[0]",
        &["not closed", "[0, 1]"],
    );
}

#[test]
fn rejects_fewer_than_four_positions() {
    assert_error(
        json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}),
        "geometry.coordinates[0]",
        &["at least 4 positions", "has 3"],
    );
}

#[test]
fn rejects_self_intersection_with_its_position() {
    assert_error(
        polygon(&[vec![[0.0, 0.0], [2.0, 2.0], [2.0, 0.0], [0.0, 2.0], [0.0, 0.0]]]),
        "geometry.coordinates[0][2]",
        &["self-intersection", "[1, 1]", "[0][0]"],
    );
    // A ring touching itself at a vertex is not simple either.
    assert_error(
        polygon(&[vec![
            [0.0, 0.0],
            [2.0, 0.0],
            [1.0, 1.0],
            [2.0, 2.0],
            [0.0, 2.0],
            [1.0, 1.0],
            [0.0, 0.0],
        ]]),
        "geometry.coordinates[0][5]",
        &["self-intersection"],
    );
    // A spike folding back over the previous edge.
    assert_error(
        polygon(&[vec![[0.0, 0.0], [2.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]),
        "geometry.coordinates[0][1]",
        &["folds back"],
    );
}

#[test]
fn rejects_latitude_out_of_range() {
    assert_error(
        polygon(&[vec![[0.0, 0.0], [1.0, 91.0], [1.0, 1.0], [0.0, 0.0]]]),
        "geometry.coordinates[0][1]",
        &["latitude 91", "[-90, 90]"],
    );
}

#[test]
fn rejects_longitude_out_of_range() {
    assert_error(
        polygon(&[vec![[0.0, 0.0], [400.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]),
        "geometry.coordinates[0][1]",
        &["longitude 400", "[-180, 180]"],
    );
}

#[test]
fn rejects_longitudes_beyond_180_that_do_not_cross() {
    assert_error(
        polygon(&[rect(181.0, 0.0, 182.0, 1.0)]),
        "geometry.coordinates[0][0]",
        &["beyond ±180", "-179"],
    );
    // Mixing both directions spans 360° or more.
    assert_error(
        polygon(&[vec![
            [-181.0, 0.0],
            [179.0, 0.0],
            [181.0, 1.0],
            [-179.0, 1.0],
            [-181.0, 0.0],
        ]]),
        "geometry.coordinates",
        &["less than 360"],
    );
}

#[test]
fn rejects_an_edge_the_long_way_round() {
    // The classic mistake: 179 to -179 in one ring, which plain geo reads as lon 0 inside.
    assert_error(
        polygon(&[vec![
            [179.0, -1.0],
            [-179.0, -1.0],
            [-179.0, 1.0],
            [179.0, 1.0],
            [179.0, -1.0],
        ]]),
        "geometry.coordinates[0][0]",
        &["more than 180°", "antimeridian"],
    );
}

#[test]
fn rejects_non_finite_and_non_numbers() {
    // serde_json turns NaN and infinities into null when building a Value.
    let nan = Value::from(f64::NAN);
    assert_error(
        json!({"type": "Polygon", "coordinates": [[[0, 0], [1, nan], [1, 1], [0, 0]]]}),
        "geometry.coordinates[0][1]",
        &["latitude", "number"],
    );
    assert_error(
        json!({"type": "Polygon", "coordinates": [[[0, 0], ["1", 0], [1, 1], [0, 0]]]}),
        "geometry.coordinates[0][1]",
        &["longitude must be a number", "string"],
    );
    // 1e400 never becomes a Value: serde_json refuses it in the JSON text.
    assert!(serde_json::from_str::<Value>("[1e400, 0]").is_err());
}

#[test]
fn rejects_a_hole_outside_its_shell() {
    assert_error(
        polygon(&[rect(0.0, 0.0, 1.0, 1.0), rect(2.0, 2.0, 3.0, 3.0)]),
        "geometry.coordinates[1]",
        &["hole 1", "outside"],
    );
}

#[test]
fn rejects_a_hole_crossing_its_shell() {
    assert_error(
        polygon(&[rect(0.0, 0.0, 1.0, 1.0), rect(0.5, 0.5, 1.5, 0.8)]),
        "geometry.coordinates[1][0]",
        &["crosses", "exterior ring"],
    );
}

#[test]
fn rejects_overlapping_holes() {
    assert_error(
        polygon(&[
            rect(0.0, 0.0, 10.0, 10.0),
            rect(1.0, 1.0, 5.0, 5.0),
            rect(2.0, 2.0, 3.0, 3.0),
        ]),
        "geometry.coordinates[2]",
        &["hole 2", "overlaps hole 1"],
    );
}

#[test]
fn rejects_too_many_positions() {
    let mut ring: Vec<[f64; 2]> = (0..10_001)
        .map(|i| {
            let t = i as f64 / 10_001.0 * std::f64::consts::TAU;
            [t.cos(), t.sin()]
        })
        .collect();
    ring.push(ring[0]);
    assert_error(
        polygon(&[ring]),
        "geometry.coordinates",
        &["10002 positions", "at most 10000"],
    );
    let small = GeometryLimits {
        max_positions: 4,
        ..GeometryLimits::default()
    };
    let err = parse_geometry(&polygon(&[rect(0.0, 0.0, 1.0, 1.0)]), &small).unwrap_err();
    assert_eq!(err.len(), 1);
    assert_eq!(err[0].field, "geometry.coordinates");
}

#[test]
fn rejects_zero_area() {
    assert_error(
        polygon(&[vec![[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.0, 0.0]]]),
        "geometry.coordinates[0]",
        &["zero area"],
    );
    assert_error(
        polygon(&[vec![[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]]),
        "geometry.coordinates[0]",
        &["zero area"],
    );
}

#[test]
fn rejects_circle_radius_out_of_range() {
    for r in [5.0, 50_001.0] {
        assert_error(
            json!({"type": "Circle", "center": [0, 0], "radius_m": r}),
            "geometry.radius_m",
            &["outside [10, 50000]"],
        );
    }
    assert_error(
        json!({"type": "Circle", "center": [0, 0], "radius_m": "150"}),
        "geometry.radius_m",
        &["number"],
    );
    assert_error(
        json!({"type": "Circle", "center": [0, 0]}),
        "geometry.radius_m",
        &["required"],
    );
}

#[test]
fn rejects_a_bad_circle_center() {
    assert_error(
        json!({"type": "Circle", "center": [181, 0], "radius_m": 100}),
        "geometry.center",
        &["longitude 181"],
    );
    assert_error(
        json!({"type": "Circle", "center": [0, 0, 0], "radius_m": 100}),
        "geometry.center",
        &["[longitude, latitude]"],
    );
    assert_error(
        json!({"type": "Circle", "radius_m": 100}),
        "geometry.center",
        &["required"],
    );
}

#[test]
fn rejects_wrong_types() {
    assert_error(
        json!({"type": "Point", "coordinates": [0, 0]}),
        "geometry.type",
        &["not a Point"],
    );
    assert_error(
        json!({"type": "polygon", "coordinates": []}),
        "geometry.type",
        &["unknown type"],
    );
    assert_error(json!({"coordinates": []}), "geometry.type", &["required"]);
    assert_error(json!({"type": 7}), "geometry.type", &["string"]);
    assert_error(json!([1, 2]), "geometry", &["an array"]);
    assert_error(
        json!({"type": "Feature", "geometry": null}),
        "geometry.type",
        &["Feature"],
    );
}

#[test]
fn rejects_malformed_members() {
    assert_error(
        json!({"type": "Polygon", "coordinates": [[[0], [1, 0], [1, 1], [0, 0]]]}),
        "geometry.coordinates[0][0]",
        &["1 element"],
    );
    assert_error(
        json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0, 0, 0], [1, 1], [0, 0]]]}),
        "geometry.coordinates[0][1]",
        &["4 element"],
    );
    assert_error(json!({"type": "Polygon"}), "geometry.coordinates", &["required"]);
    assert_error(
        json!({"type": "Polygon", "coordinates": "x"}),
        "geometry.coordinates",
        &["array"],
    );
    assert_error(
        json!({"type": "Polygon", "coordinates": []}),
        "geometry.coordinates",
        &["exterior ring"],
    );
    assert_error(
        json!({"type": "Polygon", "coordinates": [5]}),
        "geometry.coordinates[0]",
        &["linear ring"],
    );
    assert_error(
        json!({"type": "MultiPolygon", "coordinates": [[rect(0.0, 0.0, 1.0, 1.0)], 3]}),
        "geometry.coordinates[1]",
        &["polygon"],
    );
    assert_error(
        json!({"type": "Polygon", "coordinates": [rect(0.0, 0.0, 1.0, 1.0)], "crs": {}}),
        "geometry.crs",
        &["unknown member"],
    );
}

#[test]
fn rejects_overlapping_or_touching_parts() {
    assert_error(
        json!({"type": "MultiPolygon", "coordinates": [[rect(0.0, 0.0, 2.0, 2.0)], [rect(1.0, 1.0, 3.0, 3.0)]]}),
        "geometry.coordinates[1][0][0]",
        &["polygon 1 overlaps polygon 0"],
    );
    assert_error(
        json!({"type": "MultiPolygon", "coordinates": [[rect(0.0, 0.0, 4.0, 4.0)], [rect(1.0, 1.0, 2.0, 2.0)]]}),
        "geometry.coordinates[1]",
        &["overlaps polygon 0"],
    );
    assert_error(
        json!({"type": "MultiPolygon", "coordinates": [[rect(0.0, 0.0, 1.0, 1.0)], [rect(1.0, 0.0, 2.0, 1.0)]]}),
        "geometry.coordinates[1][0][3]",
        &["touches along a line"],
    );
    // Across the antimeridian: 179..181 and -179.5..-178 overlap on the sphere.
    assert_error(
        json!({"type": "MultiPolygon", "coordinates": [[rect(179.0, 0.0, 181.0, 1.0)], [rect(-179.5, 0.5, -178.0, 2.0)]]}),
        "geometry.coordinates[1][0][0]",
        &["overlaps"],
    );
    // A part inside another's hole is fine.
    let island = json!({"type": "MultiPolygon", "coordinates": [
        [rect(0.0, 0.0, 4.0, 4.0), rect(1.0, 1.0, 3.0, 3.0)],
        [rect(1.5, 1.5, 2.5, 2.5)],
    ]});
    assert!(parse_geometry(&island, &limits()).is_ok());
}

#[test]
fn collects_every_error() {
    let e = errors(json!({"type": "MultiPolygon", "coordinates": [
        [[[0, 0], [1, 95], [1, 1], [0, 0]]],
        [[[0, 0], [1, 0], [1, 1]]],
        [[[0, "a"], [1, 0], [1, 1], [0, 0]]],
    ]}));
    let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"geometry.coordinates[0][0][1]"), "{fields:?}");
    assert!(fields.contains(&"geometry.coordinates[1][0]"), "{fields:?}");
    assert!(fields.contains(&"geometry.coordinates[2][0][0]"), "{fields:?}");
    // A flood of errors is capped, with a note of how many more.
    let many: Vec<Value> = (0..200).map(|_| json!([0, 100])).collect();
    let e = errors(json!({"type": "Polygon", "coordinates": [many]}));
    assert!(e.len() <= 51);
    assert!(e.last().is_some_and(|e| e.message.contains("more errors")));
}

#[test]
fn latlon_validation() {
    let e = LatLon::new(f64::INFINITY, -181.0).unwrap_err();
    assert_eq!(
        e.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
        vec!["lat", "lon"]
    );
    assert!(LatLon::new(-90.0, 180.0).is_ok());
    let p: LatLon = serde_json::from_value(json!({"lat": 1.5, "lon": 2.5})).unwrap();
    assert_eq!((p.lat(), p.lon()), (1.5, 2.5));
    assert!(serde_json::from_value::<LatLon>(json!({"lat": 91, "lon": 0})).is_err());
}

#[test]
fn haversine_known_values() {
    // One degree of a great circle.
    let d = haversine_m(at(0.0, 0.0), at(0.0, 1.0));
    assert!(close(d, 111_195.08, 1e-6, 0.0), "{d}");
    // Bangalore to Chennai, ~290 km.
    let d = haversine_m(at(12.9716, 77.5946), at(13.0827, 80.2707));
    assert!(close(d, 290_170.0, 2e-3, 0.0), "{d}");
    assert!(haversine_m(at(90.0, 0.0), at(90.0, 120.0)) < 1e-6);
}

#[test]
fn serde_names() {
    assert_eq!(serde_json::to_value(Verdict::NoGeofence).unwrap(), json!("no_geofence"));
    assert_eq!(serde_json::to_value(AccuracyRule::Lenient).unwrap(), json!("lenient"));
    let rule: AccuracyRule = serde_json::from_value(json!("strict")).unwrap();
    assert_eq!(rule, AccuracyRule::Strict);
    let index = FenceIndex::new(vec![fence("x", Uuid::nil(), polygon(&[rect(0.0, 0.0, 1.0, 1.0)]))]);
    let d = serde_json::to_value(index.decide(at(0.5, 0.5), 0.0, AccuracyRule::Point, None)).unwrap();
    assert_eq!(d["verdict"], json!("inside"));
    assert_eq!(d["fence"]["name"], json!("x"));
    assert_eq!(d["distance_m"], json!(0.0));
}

// ---------------------------------------------------------------- reference implementation

/// Plain even-odd point-in-polygon in lon/lat, boundary included, trying the point's
/// longitude in the polygon's frame (±360).
fn reference_contains(rings: &[Vec<[f64; 2]>], p: LatLon) -> bool {
    [0.0, 360.0, -360.0].iter().any(|shift| {
        let (x, y) = (p.lon() + shift, p.lat());
        let mut inside = false;
        for ring in rings {
            for w in ring.windows(2) {
                let ([x0, y0], [x1, y1]) = (w[0], w[1]);
                let cross = (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0);
                let within = x >= x0.min(x1) && x <= x0.max(x1) && y >= y0.min(y1) && y <= y0.max(y1);
                if cross == 0.0 && within {
                    return true;
                }
                if (y0 > y) != (y1 > y) && x < x0 + (y - y0) / (y1 - y0) * (x1 - x0) {
                    inside = !inside;
                }
            }
        }
        inside
    })
}

/// Haversine distance to the nearest point of any drawn edge, by sampling each edge and
/// refining around the best sample with a ternary search.
fn reference_distance(rings: &[Vec<[f64; 2]>], p: LatLon) -> f64 {
    let mut best = f64::INFINITY;
    for ring in rings {
        for w in ring.windows(2) {
            let ([x0, y0], [x1, y1]) = (w[0], w[1]);
            let at_t = |t: f64| {
                let lon = x0 + (x1 - x0) * t;
                let lon = if lon > 180.0 {
                    lon - 360.0
                } else if lon < -180.0 {
                    lon + 360.0
                } else {
                    lon
                };
                haversine_m(p, at(y0 + (y1 - y0) * t, lon))
            };
            let samples = 32;
            let (mut bt, mut bd) = (0.0, f64::INFINITY);
            for k in 0..=samples {
                let t = k as f64 / samples as f64;
                let d = at_t(t);
                if d < bd {
                    (bt, bd) = (t, d);
                }
            }
            let (mut lo, mut hi) = (
                (bt - 1.0 / samples as f64).max(0.0),
                (bt + 1.0 / samples as f64).min(1.0),
            );
            for _ in 0..60 {
                let (m1, m2) = (lo + (hi - lo) / 3.0, hi - (hi - lo) / 3.0);
                if at_t(m1) < at_t(m2) {
                    hi = m2;
                } else {
                    lo = m1;
                }
            }
            best = best.min(bd).min(at_t((lo + hi) / 2.0));
        }
    }
    best
}

/// A random simple (star-shaped) polygon: centre, vertex count, radius in metres; its
/// longitudes continue past ±180 when it crosses, and are brought back when it lies wholly
/// beyond.
fn star(center: (f64, f64), radii: &[f64], angles: &[f64]) -> Vec<[f64; 2]> {
    let mut pairs: Vec<(f64, f64)> = angles.iter().copied().zip(radii.iter().copied()).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    pairs.dedup_by(|a, b| (a.0 - b.0).abs() < 1e-3);
    let mut ring: Vec<[f64; 2]> = pairs
        .iter()
        .map(|&(t, r)| {
            let (lat, lon) = offset(center.0, center.1, r * t.sin(), r * t.cos());
            [lon, lat]
        })
        .collect();
    let (lo, hi) = ring.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| {
        (lo.min(c[0]), hi.max(c[0]))
    });
    let shift = if lo > 180.0 {
        -360.0
    } else if hi < -180.0 {
        360.0
    } else {
        0.0
    };
    for c in &mut ring {
        c[0] += shift;
    }
    ring.push(ring[0]);
    ring
}

/// Stars whose angular gaps stay below 180° (so they are simple): n ≥ 4 vertices at
/// evenly spaced angles, each jittered by up to 0.9 of a step.
fn star_strategy() -> impl Strategy<Value = ((f64, f64), f64, Vec<f64>, Vec<f64>)> {
    (
        (
            -85.0..85.0f64,
            prop_oneof![-180.0..180.0f64, 179.9..180.0f64, -180.0..-179.9f64],
        ),
        prop_oneof![3.0..50.0f64, 50.0..2_000.0f64, 2_000.0..20_000.0f64],
        4usize..40,
    )
        .prop_flat_map(|(center, scale, n)| {
            (
                Just(center),
                Just(scale),
                proptest::collection::vec(0.3..1.0f64, n),
                proptest::collection::vec(0.0..0.9f64, n).prop_map(move |jitter| {
                    jitter
                        .iter()
                        .enumerate()
                        .map(|(k, j)| (k as f64 + j) * std::f64::consts::TAU / n as f64)
                        .collect::<Vec<f64>>()
                }),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn decide_matches_brute_force(
        (center, scale, radii, angles) in star_strategy(),
        (bearing, reach) in (0.0..std::f64::consts::TAU, 0.0..2.5f64),
        accuracy in 0.0..3.0f64,
    ) {
        let radii: Vec<f64> = radii.iter().map(|r| r * scale).collect();
        let ring = star(center, &radii, &angles);
        prop_assume!(ring.len() >= 4);
        let geometry = polygon(std::slice::from_ref(&ring));
        let shape = parse_geometry(&geometry, &limits())
            .map_err(|e| TestCaseError::fail(format!("simple star rejected: {e:?}")))?;
        let index = FenceIndex::new(vec![Fence { id: Uuid::nil(), version: 1, name: "p".into(), site_id: Uuid::nil(), shape }]);
        let (lat, lon) = offset(center.0, center.1, reach * scale * bearing.sin(), reach * scale * bearing.cos());
        let lon = if lon > 180.0 { lon - 360.0 } else if lon < -180.0 { lon + 360.0 } else { lon };
        prop_assume!(lat.abs() <= 90.0);
        let p = at(lat, lon);
        let reference_inside = reference_contains(std::slice::from_ref(&ring), p);
        let reference = reference_distance(&[ring], p);
        // Within a centimetre of the boundary, the two may disagree by rounding.
        prop_assume!(reference > 0.02);

        let d = index.decide(p, 0.0, AccuracyRule::Point, None);
        prop_assert_eq!(d.verdict == Verdict::Inside, reference_inside);
        let got = d.distance_m.unwrap_or(f64::NAN);
        if reference_inside {
            prop_assert_eq!(got, 0.0);
        } else {
            prop_assert!(close(got, reference, 5e-3, 0.02), "distance {} vs reference {}", got, reference);
        }

        // The accuracy rules, with the accuracy as a multiple of the reference distance.
        let acc = accuracy * reference;
        prop_assume!((acc - reference).abs() > 0.01 * reference + 0.02);
        let strict = index.decide(p, acc, AccuracyRule::Strict, None).verdict;
        let lenient = index.decide(p, acc, AccuracyRule::Lenient, None).verdict;
        let expected_strict = match (reference_inside, acc < reference) {
            (true, true) => Verdict::Inside,
            (_, false) => Verdict::Uncertain,
            (false, true) => Verdict::Outside,
        };
        prop_assert_eq!(strict, expected_strict);
        let expected_lenient = if reference_inside || acc >= reference { Verdict::Inside } else { Verdict::Outside };
        prop_assert_eq!(lenient, expected_lenient);
    }

    #[test]
    fn nearest_of_many_fences_matches_brute_force(
        fences in proptest::collection::vec(
            ((-1.0..1.0f64, -1.0..1.0f64), 50.0..5_000.0f64, 0usize..3, any::<bool>()),
            1..25,
        ),
        point in (-1.2..1.2f64, -1.2..1.2f64),
        filter in proptest::option::of(proptest::collection::vec(0usize..4, 0..3)),
    ) {
        let sites: Vec<Uuid> = (0..4).map(|i| Uuid::from_u128(i as u128 + 1)).collect();
        let base = (45.0, 179.5);
        let mut built = Vec::new();
        let mut reference_shapes = Vec::new();
        for (k, ((dn, de), r, site, is_circle)) in fences.iter().enumerate() {
            let (lat, lon) = offset(base.0, base.1, dn * 50_000.0, de * 50_000.0);
            let lon = if lon > 180.0 { lon - 360.0 } else { lon };
            let geometry = if *is_circle {
                json!({"type": "Circle", "center": [lon, lat], "radius_m": r})
            } else {
                let ring = star((lat, lon), &[*r; 6], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
                polygon(&[ring])
            };
            let shape = parse_geometry(&geometry, &limits()).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            built.push(Fence { id: Uuid::from_u128(k as u128), version: 1, name: k.to_string(), site_id: sites[*site], shape });
            reference_shapes.push((geometry, sites[*site]));
        }
        let index = FenceIndex::new(built);
        let (lat, lon) = offset(base.0, base.1, point.0 * 50_000.0, point.1 * 50_000.0);
        let lon = if lon > 180.0 { lon - 360.0 } else { lon };
        let p = at(lat, lon);
        let filter_ids: Option<Vec<Uuid>> = filter.map(|f| f.iter().map(|&i| sites[i]).collect());

        let mut best: Option<(f64, bool)> = None;
        for (geometry, site) in &reference_shapes {
            if let Some(ids) = &filter_ids && !ids.contains(site) {
                continue;
            }
            let (inside, distance) = if geometry["type"] == "Circle" {
                let c = at(geometry["center"][1].as_f64().unwrap_or(0.0), geometry["center"][0].as_f64().unwrap_or(0.0));
                let r = geometry["radius_m"].as_f64().unwrap_or(0.0);
                let h = haversine_m(p, c);
                (h <= r, (h - r).max(0.0))
            } else {
                let ring: Vec<[f64; 2]> = serde_json::from_value(geometry["coordinates"][0].clone()).unwrap_or_default();
                let inside = reference_contains(std::slice::from_ref(&ring), p);
                (inside, if inside { 0.0 } else { reference_distance(&[ring], p) })
            };
            best = Some(match best {
                Some((d, any_inside)) => (d.min(distance), any_inside || inside),
                None => (distance, inside),
            });
        }
        let d = index.decide(p, 0.0, AccuracyRule::Point, filter_ids.as_deref());
        match best {
            None => prop_assert_eq!(d.verdict, Verdict::NoGeofence),
            Some((distance, inside)) => {
                prop_assume!(distance == 0.0 || distance > 0.05);
                prop_assert_eq!(d.verdict == Verdict::Inside, inside);
                let got = d.distance_m.unwrap_or(f64::NAN);
                prop_assert!(close(got, distance, 5e-3, 0.02), "distance {} vs {}", got, distance);
            }
        }
    }

    /// The one-walk search over many fences (the org tree, site trees, site lists, one
    /// queue across sites) finds what judging every applicable fence on its own finds: the
    /// same verdict and the same distance, near the poles, across the antimeridian, for
    /// fences from metres to hundreds of kilometres, spread from a few hundred metres to
    /// thousands of kilometres.
    #[test]
    fn one_walk_matches_every_fence_alone(
        center in (
            prop_oneof![-80.0..80.0f64, 86.0..89.99f64, -89.99..-86.0f64],
            prop_oneof![-180.0..180.0f64, 179.5..180.0f64, -180.0..-179.5f64],
        ),
        spread in prop_oneof![300.0..3_000.0f64, 3_000.0..100_000.0f64, 100_000.0..3_000_000.0f64],
        fences in proptest::collection::vec(
            ((-1.0..1.0f64, -1.0..1.0f64), prop_oneof![3.0..100.0f64, 100.0..5_000.0f64, 5_000.0..300_000.0f64], 0usize..3, any::<bool>()),
            1..60,
        ),
        points in proptest::collection::vec((-1.3..1.3f64, -1.3..1.3f64), 1..6),
        filter in proptest::option::of(proptest::collection::vec(0usize..4, 0..3)),
    ) {
        let sites: Vec<Uuid> = (0..4).map(|i| Uuid::from_u128(i as u128 + 1)).collect();
        // Near a pole an offset of kilometres east is many turns of longitude.
        let wrap = |lon: f64| (lon + 180.0).rem_euclid(360.0) - 180.0;
        let mut built = Vec::new();
        for (k, ((dn, de), r, site, is_circle)) in fences.iter().enumerate() {
            let (lat, lon) = offset(center.0, center.1, dn * spread, de * spread);
            let geometry = if *is_circle {
                json!({"type": "Circle", "center": [wrap(lon), lat], "radius_m": r})
            } else {
                polygon(&[star((lat, lon), &[*r; 7], &[0.0, 0.9, 1.8, 2.7, 3.6, 4.5, 5.4])])
            };
            // Offsets that run past a pole or make a ring the validation refuses are
            // simply not fences of this org.
            if let Ok(shape) = parse_geometry(&geometry, &limits()) {
                built.push(Fence { id: Uuid::from_u128(k as u128), version: 1, name: k.to_string(), site_id: sites[*site], shape });
            }
        }
        prop_assume!(!built.is_empty());
        let alone: Vec<(Uuid, FenceIndex)> = built.iter().map(|f| (f.site_id, FenceIndex::new(vec![f.clone()]))).collect();
        let index = FenceIndex::new(built);
        let filter_ids: Option<Vec<Uuid>> = filter.map(|f| f.iter().map(|&i| sites[i]).collect());
        for (dn, de) in points {
            let (lat, lon) = offset(center.0, center.1, dn * spread, de * spread);
            prop_assume!(lat.abs() <= 90.0);
            let p = at(lat, wrap(lon));
            let mut expected: Option<(bool, f64)> = None;
            for (site, one) in &alone {
                if filter_ids.as_ref().is_some_and(|ids| !ids.contains(site)) {
                    continue;
                }
                let d = one.decide(p, 0.0, AccuracyRule::Point, None);
                let (inside, distance) = (d.verdict == Verdict::Inside, d.distance_m.unwrap_or(f64::NAN));
                expected = Some(match expected {
                    Some((any, nearest)) => (any || inside, nearest.min(distance)),
                    None => (inside, distance),
                });
            }
            let d = index.decide(p, 0.0, AccuracyRule::Point, filter_ids.as_deref());
            match expected {
                None => prop_assert_eq!(d.verdict, Verdict::NoGeofence),
                Some((inside, distance)) => {
                    prop_assert_eq!(d.verdict == Verdict::Inside, inside, "at {:?}", p);
                    let got = d.distance_m.unwrap_or(f64::NAN);
                    prop_assert!(close(got, distance, 1e-9, 1e-6), "distance {} vs {} at {:?}", got, distance, p);
                }
            }
        }
    }

    #[test]
    fn validation_agrees_with_geo_on_random_stars(
        n in 3usize..12,
        angles in proptest::collection::vec(0.0..std::f64::consts::TAU, 12),
        radii in proptest::collection::vec(0.1..1.0f64, 12),
    ) {
        // Random angles: gaps over 180° make self-intersecting rings, in general position
        // (no touching), where geo's `Validation` and ours must agree.
        let ring = star((10.0, 20.0), &radii[..n].iter().map(|r| r * 1_000.0).collect::<Vec<_>>(), &angles[..n]);
        prop_assume!(ring.len() >= 4);
        let ours = parse_geometry(&polygon(std::slice::from_ref(&ring)), &limits()).is_ok();
        let geo_polygon = geo::Polygon::new(geo::LineString::from(ring.iter().map(|c| (c[0], c[1])).collect::<Vec<_>>()), vec![]);
        use geo::Validation;
        prop_assert_eq!(ours, geo_polygon.is_valid(), "{:?}", ring);
    }

    #[test]
    fn parse_never_panics(value in json_ish()) {
        let _ = parse_geometry(&value, &limits());
        let wrapped = json!({"type": "Polygon", "coordinates": value.clone()});
        let _ = parse_geometry(&wrapped, &limits());
        let multi = json!({"type": "MultiPolygon", "coordinates": [value.clone()]});
        let _ = parse_geometry(&multi, &limits());
        let circle = json!({"type": "Circle", "center": value.clone(), "radius_m": value});
        let _ = parse_geometry(&circle, &limits());
    }

    #[test]
    fn random_rings_never_panic_and_accepted_ones_decide(
        ring in proptest::collection::vec((-200.0..200.0f64, -95.0..95.0f64), 0..12),
        closed in any::<bool>(),
        (lat, lon) in (-90.0..90.0f64, -180.0..180.0f64),
    ) {
        let mut positions: Vec<[f64; 2]> = ring.iter().map(|&(x, y)| [x.round(), y.round()]).collect();
        if closed && let Some(first) = positions.first().copied() {
            positions.push(first);
        }
        if let Ok(shape) = parse_geometry(&polygon(&[positions]), &limits()) {
            let index = FenceIndex::new(vec![Fence { id: Uuid::nil(), version: 1, name: "r".into(), site_id: Uuid::nil(), shape }]);
            for rule in [AccuracyRule::Point, AccuracyRule::Strict, AccuracyRule::Lenient] {
                let d = index.decide(at(lat, lon), 100.0, rule, None);
                prop_assert!(d.distance_m.is_some_and(|m| m.is_finite() && m >= 0.0));
            }
        }
    }
}

fn json_ish() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        (-400.0..400.0f64).prop_map(Value::from),
        "[a-zA-Z]{0,8}".prop_map(Value::from),
        Just(json!("Polygon")),
        Just(json!("Circle")),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::hash_map(
                prop_oneof![
                    Just("type".to_string()),
                    Just("coordinates".to_string()),
                    Just("center".to_string()),
                    Just("radius_m".to_string()),
                    "[a-z]{1,4}"
                ],
                inner,
                0..4,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
