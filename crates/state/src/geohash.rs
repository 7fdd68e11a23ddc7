//! Redis's geohash: coordinates as a 52-bit interleaved integer (the score
//! of a GEO member in its sorted set), the haversine distance, and the
//! nine cells a search visits.
//!
//! A leaf: no keyspace, no I/O; `cmd/geo.rs` runs the commands on it. The
//! arithmetic follows Redis's `geohash.c` / `geohash_helper.c` operation by
//! operation: scores, decoded positions and the order of search results are
//! compared with redis-server, so a different rounding would show.

use std::f64::consts::PI;

/// Bits per coordinate.
pub(crate) const STEP_MAX: u8 = 26;
/// Longitude bounds.
pub(crate) const LON_MIN: f64 = -180.0;
pub(crate) const LON_MAX: f64 = 180.0;
/// Latitude bounds (Web Mercator's, as Redis stores).
pub(crate) const LAT_MIN: f64 = -85.051_128_78;
pub(crate) const LAT_MAX: f64 = 85.051_128_78;
/// Redis's earth radius (the one its distances use).
const EARTH_RADIUS_M: f64 = 6_372_797.560_856;
const MERCATOR_MAX: f64 = 20_037_726.37;
const D_R: f64 = PI / 180.0;

/// A coordinate range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Range {
    pub(crate) min: f64,
    pub(crate) max: f64,
}

/// Where scores are encoded.
pub(crate) const LON_RANGE: Range = Range {
    min: LON_MIN,
    max: LON_MAX,
};
pub(crate) const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// An interleaved hash of `step` bits per coordinate (latitude in the even
/// bits, longitude in the odd ones). `bits == 0 && step == 0` is "none".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hash {
    pub(crate) bits: u64,
    pub(crate) step: u8,
}

impl Hash {
    const NONE: Hash = Hash { bits: 0, step: 0 };
    fn is_none(self) -> bool {
        self.bits == 0 && self.step == 0
    }
    /// The 52-bit value (a sorted-set score) of the cell's first point.
    pub(crate) fn align52(self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }
}

/// A cell: its longitude and latitude ranges.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Area {
    pub(crate) lon: Range,
    pub(crate) lat: Range,
}

fn interleave(lat: u32, lon: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555_5555_5555_5555,
        0x3333_3333_3333_3333,
        0x0F0F_0F0F_0F0F_0F0F,
        0x00FF_00FF_00FF_00FF,
        0x0000_FFFF_0000_FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (u64::from(lat), u64::from(lon));
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

/// Latitude part in the low 32 bits, longitude in the high ones.
fn deinterleave(v: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555_5555_5555_5555,
        0x3333_3333_3333_3333,
        0x0F0F_0F0F_0F0F_0F0F,
        0x00FF_00FF_00FF_00FF,
        0x0000_FFFF_0000_FFFF,
        0x0000_0000_FFFF_FFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let (mut x, mut y) = (v, v >> 1);
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// Encodes a point; None outside the ranges or for a bad step.
pub(crate) fn encode(lon_r: Range, lat_r: Range, lon: f64, lat: f64, step: u8) -> Option<Hash> {
    if step == 0 || step > 32 || lon_r.min == lon_r.max || lat_r.min == lat_r.max {
        return None;
    }
    // Redis's own bounds check, on the Mercator limits whatever the ranges.
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_off = (lat - lat_r.min) / (lat_r.max - lat_r.min) * scale;
    let lon_off = (lon - lon_r.min) / (lon_r.max - lon_r.min) * scale;
    Some(Hash {
        bits: interleave(lat_off as u32, lon_off as u32),
        step,
    })
}

/// The score of a point (GEOADD).
pub(crate) fn encode_wgs84(lon: f64, lat: f64) -> Option<u64> {
    encode(LON_RANGE, LAT_RANGE, lon, lat, STEP_MAX).map(Hash::align52)
}

/// The cell a hash names.
pub(crate) fn decode(lon_r: Range, lat_r: Range, h: Hash) -> Option<Area> {
    if h.is_none() {
        return None;
    }
    let sep = deinterleave(h.bits);
    let lat_scale = lat_r.max - lat_r.min;
    let lon_scale = lon_r.max - lon_r.min;
    let ilat = sep as u32;
    let ilon = (sep >> 32) as u32;
    let cells = (1u64 << h.step) as f64;
    Some(Area {
        lat: Range {
            min: lat_r.min + (f64::from(ilat) * 1.0 / cells) * lat_scale,
            max: lat_r.min + ((f64::from(ilat) + 1.0) * 1.0 / cells) * lat_scale,
        },
        lon: Range {
            min: lon_r.min + (f64::from(ilon) * 1.0 / cells) * lon_scale,
            max: lon_r.min + ((f64::from(ilon) + 1.0) * 1.0 / cells) * lon_scale,
        },
    })
}

/// The centre of a score's cell, clamped to the bounds: `(lon, lat)`.
pub(crate) fn decode_score(score: f64) -> (f64, f64) {
    let h = Hash {
        bits: score as u64,
        step: STEP_MAX,
    };
    let a = decode(LON_RANGE, LAT_RANGE, h).unwrap_or(Area {
        lon: Range { min: 0.0, max: 0.0 },
        lat: Range { min: 0.0, max: 0.0 },
    });
    let lon = ((a.lon.min + a.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((a.lat.min + a.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// The standard 11-character geohash of a score (GEOHASH): the cell centre
/// re-encoded over latitude -90..90.
pub(crate) fn geohash_string(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score);
    let bits = encode(
        LON_RANGE,
        Range {
            min: -90.0,
            max: 90.0,
        },
        lon,
        lat,
        STEP_MAX,
    )
    .map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        *c = ALPHABET[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    out
}

fn deg_rad(d: f64) -> f64 {
    d * D_R
}

fn rad_deg(r: f64) -> f64 {
    r / D_R
}

/// Distance in metres along a meridian.
pub(crate) fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine distance in metres.
pub(crate) fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// What a search covers, in metres.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Shape {
    /// BYRADIUS.
    Radius(f64),
    /// BYBOX width height.
    Box(f64, f64),
}

impl Shape {
    /// The distance of `(lon, lat)` from the centre, if inside.
    pub(crate) fn contains(self, c: (f64, f64), p: (f64, f64)) -> Option<f64> {
        match self {
            Shape::Radius(r) => {
                let d = distance(c.0, c.1, p.0, p.1);
                (d <= r).then_some(d)
            }
            Shape::Box(w, h) => {
                if lat_distance(p.1, c.1) > h / 2.0 {
                    return None;
                }
                if distance(p.0, p.1, c.0, p.1) > w / 2.0 {
                    return None;
                }
                Some(distance(c.0, c.1, p.0, p.1))
            }
        }
    }

    /// `(min_lon, min_lat, max_lon, max_lat)` around a centre.
    fn bounds(self, lon: f64, lat: f64) -> [f64; 4] {
        let (h, w) = match self {
            Shape::Radius(r) => (r, r),
            Shape::Box(w, h) => (h / 2.0, w / 2.0),
        };
        let lat_delta = rad_deg(h / EARTH_RADIUS_M);
        let top = rad_deg(w / EARTH_RADIUS_M / deg_rad(lat + lat_delta).cos());
        let bottom = rad_deg(w / EARTH_RADIUS_M / deg_rad(lat - lat_delta).cos());
        let d = if lat < 0.0 { bottom } else { top };
        [lon - d, lat - lat_delta, lon + d, lat + lat_delta]
    }

    fn radius(self) -> f64 {
        match self {
            Shape::Radius(r) => r,
            Shape::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
        }
    }
}

fn steps_for_radius(mut range: f64, lat: f64) -> u8 {
    if range == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

fn move_x(h: &mut Hash, d: i8) {
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64 >> (64 - u32::from(h.step) * 2);
    let x = if d > 0 {
        x.wrapping_add(zz + 1)
    } else {
        (x | zz).wrapping_sub(zz + 1)
    };
    h.bits = (x & (0xaaaa_aaaa_aaaa_aaaau64 >> (64 - u32::from(h.step) * 2))) | y;
}

fn move_y(h: &mut Hash, d: i8) {
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> (64 - u32::from(h.step) * 2);
    let y = if d > 0 {
        y.wrapping_add(zz + 1)
    } else {
        (y | zz).wrapping_sub(zz + 1)
    };
    h.bits = x | (y & (0x5555_5555_5555_5555u64 >> (64 - u32::from(h.step) * 2)));
}

/// A cell moved by `(dx, dy)` cells (east and north positive).
fn neighbour(h: Hash, dx: i8, dy: i8) -> Hash {
    let mut n = h;
    if dx != 0 {
        move_x(&mut n, dx);
    }
    if dy != 0 {
        move_y(&mut n, dy);
    }
    n
}

/// The score ranges `[min, max)` a search around `(lon, lat)` reads, in
/// Redis's order (centre, N, S, E, W, NE, NW, SE, SW), cells that cannot
/// hold a match and repeats of the previous cell left out.
pub(crate) fn search_ranges(shape: Shape, lon: f64, lat: f64) -> Vec<(u64, u64)> {
    let [min_lon, min_lat, max_lon, max_lat] = shape.bounds(lon, lat);
    let mut steps = steps_for_radius(shape.radius(), lat);
    let cells = |steps: u8| {
        let h = encode(LON_RANGE, LAT_RANGE, lon, lat, steps).unwrap_or(Hash::NONE);
        // Centre, N, S, E, W, NE, NW, SE, SW.
        [
            h,
            neighbour(h, 0, 1),
            neighbour(h, 0, -1),
            neighbour(h, 1, 0),
            neighbour(h, -1, 0),
            neighbour(h, 1, 1),
            neighbour(h, -1, 1),
            neighbour(h, 1, -1),
            neighbour(h, -1, -1),
        ]
    };
    let area_of = |h: Hash| decode(LON_RANGE, LAT_RANGE, h);
    let mut n = cells(steps);
    let edge_too_near = {
        let north = area_of(n[1]);
        let south = area_of(n[2]);
        let east = area_of(n[3]);
        let west = area_of(n[4]);
        north.is_some_and(|a| a.lat.max < max_lat)
            || south.is_some_and(|a| a.lat.min > min_lat)
            || east.is_some_and(|a| a.lon.max < max_lon)
            || west.is_some_and(|a| a.lon.min > min_lon)
    };
    if steps > 1 && edge_too_near {
        steps -= 1;
        n = cells(steps);
    }
    if steps >= 2 {
        if let Some(area) = area_of(n[0]) {
            if area.lat.min < min_lat {
                for i in [2, 8, 7] {
                    n[i] = Hash::NONE;
                }
            }
            if area.lat.max > max_lat {
                for i in [1, 5, 6] {
                    n[i] = Hash::NONE;
                }
            }
            if area.lon.min < min_lon {
                for i in [4, 8, 6] {
                    n[i] = Hash::NONE;
                }
            }
            if area.lon.max > max_lon {
                for i in [3, 7, 5] {
                    n[i] = Hash::NONE;
                }
            }
        }
    }
    let mut out = Vec::with_capacity(9);
    let mut last: Option<usize> = None;
    for i in 0..9 {
        if n[i].is_none() {
            continue;
        }
        if let Some(l) = last {
            if l != 0 && n[i] == n[l] {
                continue;
            }
        }
        let next = Hash {
            bits: n[i].bits + 1,
            step: n[i].step,
        };
        out.push((n[i].align52(), next.align52()));
        last = Some(i);
    }
    out
}

/// Formats like Redis's "human" long double (`%.17Lf`, trailing zeroes and
/// a bare point removed, `-0` as `0`).
pub(crate) fn human(x: f64) -> String {
    let mut s = format!("{x:.17}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn palermo_matches_redis() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo" stores this score and
        // GEOPOS / GEOHASH answer these (redis.io's documented example).
        let s = encode_wgs84(13.361389, 38.115556).unwrap();
        assert_eq!(s, 3_479_099_956_230_698);
        let (lon, lat) = decode_score(s as f64);
        assert_eq!(human(lon), "13.36138933897018433");
        assert_eq!(human(lat), "38.11555639549629859");
        assert_eq!(&geohash_string(s as f64), b"sqc8b49rny0");
        let c = encode_wgs84(15.087269, 37.502669).unwrap() as f64;
        let (lon2, lat2) = decode_score(c);
        assert_eq!(
            format!("{:.4}", distance(lon, lat, lon2, lat2)),
            "166274.1516"
        );
    }

    #[test]
    fn interleave_round_trips() {
        for (a, b) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ff_ffff, 12345),
            (u32::MAX, 7),
        ] {
            let d = deinterleave(interleave(a, b));
            assert_eq!((d as u32, (d >> 32) as u32), (a, b));
        }
    }

    proptest! {
        #[test]
        fn decode_of_encode_is_within_the_cell(lon in LON_MIN..LON_MAX, lat in LAT_MIN..LAT_MAX) {
            let h = encode(LON_RANGE, LAT_RANGE, lon, lat, STEP_MAX).unwrap();
            let a = decode(LON_RANGE, LAT_RANGE, h).unwrap();
            prop_assert!(a.lon.min <= lon && lon <= a.lon.max);
            prop_assert!(a.lat.min <= lat && lat <= a.lat.max);
            let (clon, clat) = decode_score(h.align52() as f64);
            prop_assert!((clon - lon).abs() < 1e-5 && (clat - lat).abs() < 1e-5);
        }

        #[test]
        fn search_cells_cover_the_centre(lon in -170.0..170.0f64, lat in -80.0..80.0f64, r in 1.0..500_000.0f64) {
            let s = encode_wgs84(lon, lat).unwrap();
            let ranges = search_ranges(Shape::Radius(r), lon, lat);
            prop_assert!(ranges.iter().any(|&(a, b)| a <= s && s < b));
        }
    }
}
