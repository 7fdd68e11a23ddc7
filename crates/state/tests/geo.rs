//! GEO commands against redis-server: the same scores (ZRANGE WITHSCORES),
//! positions, distances, hashes and search results in the same order, in
//! RESP2 and RESP3, errors included.

mod common;

use common::Pair;

/// Runs `body` in RESP2, then again on empty servers in RESP3.
fn both_protocols(p: &mut Pair, body: impl Fn(&mut Pair)) {
    body(p);
    p.script("?hello 3\nflushall");
    body(p);
    p.script("?hello 2");
}

const CITIES: &str = r#"
    geoadd Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
    geoadd Sicily 12.758489 38.788135 edge1 17.241510 38.788135 edge2
    geoadd eu 2.3522 48.8566 paris -0.1276 51.5072 london 13.405 52.52 berlin
    geoadd eu 12.4964 41.9028 rome -3.7038 40.4168 madrid 4.9041 52.3676 amsterdam
    geoadd eu 16.3738 48.2082 vienna 14.4378 50.0755 prague 21.0122 52.2297 warsaw
    geoadd eu 23.7275 37.9838 athens -9.1393 38.7223 lisbon 24.9384 60.1699 helsinki
    geoadd poles 0 85 n 179.9 -85 s -180 0 w 180 0 e 0 0 origin
"#;

#[test]
fn geoadd_pos_dist_hash() {
    let mut p = Pair::new();
    both_protocols(&mut p, |p| {
        p.script(CITIES);
        p.script(
            r#"
            zrange Sicily 0 -1 withscores
            zrange eu 0 -1 withscores
            zrange poles 0 -1 withscores
            geopos Sicily Palermo Catania nosuch
            geopos eu paris london berlin rome madrid
            geopos poles n s w e origin
            geopos nokey a b
            geodist Sicily Palermo Catania
            geodist Sicily Palermo Catania km
            geodist Sicily Palermo Catania MI
            geodist Sicily Palermo Catania ft
            geodist Sicily Palermo nosuch
            geodist nokey a b
            geodist eu paris paris
            geodist eu paris london km
            geodist eu lisbon helsinki km
            geodist Sicily Palermo Catania yards
            geodist Sicily Palermo Catania km extra
            geohash Sicily Palermo Catania nosuch
            geohash eu paris london berlin athens
            geohash poles n s w e origin
            geohash nokey a
            geoadd Sicily NX 13.361389 38.115556 Palermo 1 1 newone
            geoadd Sicily XX 13.4 38.1 Palermo 1 1 notadded
            geoadd Sicily CH 13.5 38.2 Palermo 13.5 38.2 another
            geoadd Sicily XX CH NX 1 1 x
            geoadd Sicily 1 1
            geoadd Sicily 200 1 bad
            geoadd Sicily 1 86 bad
            geoadd Sicily 1 -85.06 bad
            geoadd Sicily abc 1 bad
            geoadd Sicily 1 nan bad
            geoadd Sicily 1
            geopos Sicily newone notadded another
            set str x
            geoadd str 1 1 a
            geopos str a
            ~acl cat geo
            geodist str a b
            geohash str a
            georadius str 0 0 1 km
            geosearch str fromlonlat 0 0 byradius 1 km
        "#,
        );
        p.script("flushall");
    });
}

#[test]
fn searches_in_redis_order() {
    let mut p = Pair::new();
    both_protocols(&mut p, |p| {
        p.script(CITIES);
        p.script(
            r#"
            georadius Sicily 15 37 200 km
            georadius Sicily 15 37 200 km WITHDIST
            georadius Sicily 15 37 200 km WITHCOORD
            georadius Sicily 15 37 200 km WITHDIST WITHCOORD WITHHASH
            georadius Sicily 15 37 200 km ASC WITHDIST
            georadius Sicily 15 37 200 km DESC
            georadius Sicily 15 37 200 km COUNT 1
            georadius Sicily 15 37 200 km COUNT 1 DESC
            georadius Sicily 15 37 2000 km COUNT 3 ANY
            georadius Sicily 15 37 10 km
            georadius Sicily 15 37 0 km
            georadius_ro Sicily 15 37 200 km withdist
            georadius eu 10 50 1000 km
            georadius eu 10 50 1000 km withdist asc
            georadius eu 10 50 500000 m withdist desc
            georadius eu 10 50 3000 km
            georadius eu 10 50 10000 km
            georadius eu 10 50 600 mi withdist
            georadius eu 10 50 2000000 ft
            georadiusbymember eu paris 1000 km withdist
            georadiusbymember eu paris 1000 km
            georadiusbymember_ro eu berlin 700 km withcoord
            georadiusbymember eu nosuch 100 km
            georadiusbymember nokey paris 100 km
            georadius nokey 0 0 100 km
            geosearch eu fromlonlat 10 50 byradius 1000 km
            geosearch eu fromlonlat 10 50 byradius 1000 km asc withdist withcoord withhash
            geosearch eu frommember paris byradius 800 km desc
            geosearch eu frommember paris bybox 2000 1000 km
            geosearch eu frommember paris bybox 2000 1000 km asc withdist
            geosearch eu fromlonlat 15 50 bybox 3000 3000 km count 4
            geosearch eu fromlonlat 15 50 bybox 3000 3000 km count 4 any
            geosearch eu fromlonlat 15 50 bybox 500 5000 mi withdist
            geosearch eu fromlonlat 0 0 byradius 1 m
            geosearch nokey fromlonlat 0 0 byradius 1 m
            geosearch nokey frommember x byradius 1 m
            geosearch poles fromlonlat 0 84 byradius 500 km
            geosearch poles fromlonlat 179 0 byradius 500 km withdist
            geosearch poles fromlonlat 0 0 byradius 20000 km
            # errors, in Redis's order
            geosearch eu frommember nosuch byradius 1 km
            geosearch eu fromlonlat 10 50
            geosearch eu byradius 10 km
            geosearch eu fromlonlat 10 50 frommember paris byradius 1 km
            geosearch eu fromlonlat 10 50 byradius 1 km bybox 1 1 km
            geosearch eu fromlonlat 10 50 byradius -1 km
            geosearch eu fromlonlat 10 50 byradius x km
            geosearch eu fromlonlat 10 50 byradius 1 parsecs
            geosearch eu fromlonlat 10 50 bybox -1 1 km
            geosearch eu fromlonlat 10 50 bybox x 1 km
            geosearch eu fromlonlat 10 50 bybox 1 y km
            geosearch eu fromlonlat 10 500 byradius 1 km
            geosearch eu fromlonlat 10 50 byradius 1 km count 0
            geosearch eu fromlonlat 10 50 byradius 1 km count x
            geosearch eu fromlonlat 10 50 byradius 1 km any
            geosearch eu fromlonlat 10 50 byradius 1 km store dst
            geosearch eu fromlonlat 10 50 byradius 1 km storedist
            geosearch eu fromlonlat 10 50 byradius 1 km bogus
            georadius eu 10 50 1 km store
            georadius eu 10 50 1 km withdist store dst
            georadius_ro eu 10 50 1 km store dst
            georadius eu 10 50 1 km any
            georadius eu 10 50 -1 km
            georadius eu 200 50 1 km
            georadius eu 10 50 1 km count -3
            geosearchstore dst eu fromlonlat 10 50 byradius 1 km withcoord
            geosearch eu
            georadius eu 1 2 3
            georadiusbymember eu paris 1
            geosearchstore dst eu fromlonlat 1 2
        "#,
        );
        p.script("flushall");
    });
}

#[test]
fn storing_searches() {
    let mut p = Pair::new();
    both_protocols(&mut p, |p| {
        p.script(CITIES);
        p.script(
            r#"
            georadius eu 10 50 1000 km store near
            zrange near 0 -1 withscores
            georadius eu 10 50 1000 km storedist neard
            zrange neard 0 -1 withscores
            georadius eu 10 50 1000 km count 2 desc store near
            zrange near 0 -1 withscores
            georadiusbymember eu paris 500 km storedist byparis
            zrange byparis 0 -1 withscores
            geosearchstore gs eu fromlonlat 10 50 byradius 800 km
            zrange gs 0 -1 withscores
            geosearchstore gs eu fromlonlat 10 50 bybox 1000 1000 km storedist
            zrange gs 0 -1 withscores
            geosearchstore gs eu fromlonlat 10 50 byradius 800 km count 2 storedist
            zrange gs 0 -1 withscores
            set str x
            geosearchstore str eu fromlonlat 10 50 byradius 800 km
            type str
            geosearchstore gs eu fromlonlat 0 0 byradius 1 km
            exists gs
            geosearchstore gs2 nokey fromlonlat 0 0 byradius 1 km
            georadius nokey 0 0 1 km store near
            exists near
            georadius eu 0 0 1 km store neard
            exists neard
        "#,
        );
        p.script("flushall");
    });
}

/// Many points on a grid: the cell order of an unsorted search, COUNT with
/// ANY stopping early, and boxes at every size match redis-server.
#[test]
fn grid_searches() {
    let mut p = Pair::new();
    let mut line = String::from("geoadd grid");
    for i in 0..30 {
        for j in 0..30 {
            let lon = -20.0 + f64::from(i) * 1.37;
            let lat = 30.0 + f64::from(j) * 0.91;
            line.push_str(&format!(" {lon:.4} {lat:.4} p{i}_{j}"));
        }
    }
    p.script(&line);
    for (lon, lat) in [(0.0, 40.0), (-19.5, 30.5), (15.3, 55.1), (5.0, 45.0)] {
        for r in [1, 50, 120, 400, 1500] {
            p.script(&format!(
                "geosearch grid fromlonlat {lon} {lat} byradius {r} km\n\
                 geosearch grid fromlonlat {lon} {lat} byradius {r} km withdist asc\n\
                 geosearch grid fromlonlat {lon} {lat} byradius {r} km count 5 any\n\
                 geosearch grid fromlonlat {lon} {lat} bybox {r} {} km\n\
                 geosearch grid fromlonlat {lon} {lat} bybox {} {r} km withdist desc",
                r * 2,
                r * 3
            ));
        }
    }
}
