//! Round trips (value → DUMP payload → value, keyspace → file → keyspace)
//! and hostile payloads.

use std::collections::VecDeque;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::store::{Db, Key, Map, Set, ZSet};
use crate::stream::{Consumer, Group, Nack, Stream, StreamId};

/// A comparable rendering of a value (sets and hashes sorted).
fn view(v: &Value) -> String {
    match v {
        Value::Str(s) => format!("str {:?}", s),
        Value::Int(i) => format!("str {:?}", i.to_string().into_bytes()),
        Value::List(l) => format!("list {:?}", l),
        Value::Set(s) => {
            let mut m: Vec<_> = s.iter().collect();
            m.sort();
            format!("set {:?}", m)
        }
        Value::Hash(h) => {
            let mut m: Vec<_> = h.iter().map(|(k, v)| (k.to_vec(), v.clone())).collect();
            m.sort();
            format!("hash {:?}", m)
        }
        Value::ZSet(z) => format!("zset {:?}", z.tree),
        Value::Stream(s) => format!(
            "stream {:?} last {} maxdel {} added {} groups {:?}",
            s.entries, s.last_id, s.max_deleted, s.entries_added, s.groups
        ),
    }
}

fn bytes_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string().into_bytes()),
        (-200i64..70000).prop_map(|v| v.to_string().into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..20),
        proptest::collection::vec(any::<u8>(), 60..70),
        Just(b"007".to_vec()),
        Just(b"-0".to_vec()),
    ]
}

fn stream_strategy() -> impl Strategy<Value = Stream> {
    (
        proptest::collection::vec(
            (
                0u64..3,
                proptest::collection::vec((bytes_strategy(), bytes_strategy()), 1..4),
            ),
            0..250,
        ),
        proptest::collection::vec((bytes_strategy(), 0usize..4, any::<bool>()), 0..3),
        any::<bool>(),
    )
        .prop_map(|(items, groups, delete_some)| {
            let mut s = Stream::default();
            let mut id = StreamId::new(1_700_000_000_000, 0);
            for (step, fields) in items {
                id = if step == 0 {
                    StreamId::new(id.ms, id.seq + 1)
                } else {
                    StreamId::new(id.ms + step * 1000, 0)
                };
                let fields = fields
                    .into_iter()
                    .map(|(f, v)| (Bytes::from(f), Bytes::from(v)))
                    .collect();
                s.append(id, fields);
            }
            if delete_some {
                let ids: Vec<_> = s.entries.keys().copied().step_by(3).collect();
                for i in ids {
                    s.delete(i);
                    s.max_deleted = s.max_deleted.max(i);
                }
            }
            let ids: Vec<StreamId> = s.entries.keys().copied().collect();
            for (name, npending, known) in groups {
                let mut g = Group {
                    last_id: s.last_id,
                    entries_read: if known { s.entries_added as i64 } else { -1 },
                    ..Group::default()
                };
                for (i, id) in ids.iter().take(npending).enumerate() {
                    let cname = Bytes::from(format!("c{}", i % 2));
                    g.consumers
                        .entry(cname.clone())
                        .or_insert_with(|| Consumer {
                            seen_time: 1_700_000_000_123,
                            ..Consumer::default()
                        })
                        .pel
                        .insert(*id);
                    g.pel.insert(
                        *id,
                        Nack {
                            consumer: cname,
                            delivery_time: 1_700_000_000_456 + i as u64,
                            delivery_count: i as u64 + 1,
                        },
                    );
                }
                g.consumers.entry(Bytes::from_static(b"idle")).or_default();
                s.groups.insert(Bytes::from(name), g);
            }
            s
        })
}

fn value_strategy() -> impl Strategy<Value = Value> {
    let small = 1..10usize;
    let large = 120..700usize;
    let sizes = prop_oneof![small, large];
    prop_oneof![
        bytes_strategy().prop_map(Value::Str),
        proptest::collection::vec(any::<u8>(), 5000..9000).prop_map(Value::Str),
        any::<i64>().prop_map(Value::Int),
        sizes
            .clone()
            .prop_flat_map(|n| proptest::collection::vec(bytes_strategy(), n))
            .prop_map(|v| Value::List(Box::new(v.into_iter().map(Bytes::from).collect()))),
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 3000..5000), 1..4)
            .prop_map(|v| Value::List(Box::new(v.into_iter().map(Bytes::from).collect()))),
        sizes
            .clone()
            .prop_flat_map(|n| proptest::collection::hash_set(bytes_strategy(), 1..n + 1))
            .prop_map(|v| Value::Set(Box::new(
                v.into_iter().map(Bytes::from).collect::<Set<Bytes>>()
            ))),
        sizes
            .clone()
            .prop_flat_map(|n| proptest::collection::hash_set(any::<i64>(), 1..n + 1))
            .prop_map(|v| Value::Set(Box::new(
                v.into_iter().map(|i| Bytes::from(i.to_string())).collect()
            ))),
        sizes
            .clone()
            .prop_flat_map(|n| proptest::collection::hash_map(
                bytes_strategy(),
                bytes_strategy(),
                1..n + 1
            ))
            .prop_map(|m| Value::Hash(Box::new(
                m.into_iter()
                    .map(|(k, v)| (Key::new(&k), Bytes::from(v)))
                    .collect::<Map<Key, Bytes>>()
            ))),
        sizes
            .prop_flat_map(|n| proptest::collection::hash_map(
                bytes_strategy(),
                prop_oneof![
                    any::<f64>().prop_filter("not NaN", |f| !f.is_nan()),
                    (-1000i64..1000).prop_map(|i| i as f64),
                    Just(f64::INFINITY),
                    Just(f64::NEG_INFINITY),
                    Just(1e300),
                    Just(0.1)
                ],
                1..n + 1
            ))
            .prop_map(|m| {
                let mut z = ZSet::default();
                for (k, s) in m {
                    z.insert(Bytes::from(k), s);
                }
                Value::ZSet(Box::new(z))
            }),
        stream_strategy().prop_map(|s| Value::Stream(Box::new(s))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn dump_restore_roundtrip(v in value_strategy(), lzf in any::<bool>()) {
        let p = dump(&v, lzf);
        let back = restore(&p).expect("our payload decodes");
        prop_assert_eq!(view(&back), view(&v));
        prop_assert_eq!(dump(&back, lzf), p);
    }

    #[test]
    fn truncated_or_flipped_payloads_are_refused(v in value_strategy(), cut in any::<prop::sample::Index>(), bit in 0u8..8) {
        let p = dump(&v, true);
        let n = cut.index(p.len());
        prop_assert!(restore(&p[..n]).is_err());
        let mut flipped = p.clone();
        flipped[n] ^= 1 << bit;
        prop_assert_eq!(restore(&flipped).err(), Some(PayloadError::VersionOrChecksum));
    }

    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        fuzz_payload(&body);
    }
}

#[test]
fn file_roundtrip_keeps_dbs_keys_and_expiries() {
    let mut dbs = vec![Db::default(), Db::default(), Db::default()];
    dbs[0]
        .keys
        .insert(Key::new(b"s"), Value::Str(b"hello".to_vec()));
    dbs[0].keys.insert(Key::new(b"n"), Value::Int(12345678901));
    dbs[0].expires.insert(Key::new(b"n"), 4_000_000_000_000);
    dbs[0].keys.insert(Key::new(b"gone"), Value::Int(1));
    dbs[0].expires.insert(Key::new(b"gone"), 5);
    let mut l = VecDeque::new();
    l.push_back(Bytes::from_static(b"a"));
    dbs[2].keys.insert(Key::new(b"l"), Value::List(Box::new(l)));
    let long = b"a string long enough to be compressed, repeated, repeated, repeated".to_vec();
    dbs[1]
        .keys
        .insert(Key::new(b"long"), Value::Str(long.clone()));
    let code = Bytes::from_static(
        b"#!lua name=lib\nredis.register_function('f', function() return 1 end)",
    );
    let file = encode_file(
        &dbs,
        &FileMeta {
            functions: std::slice::from_ref(&code),
            now_ms: 1_000_000,
            redis_ver: "7.0.15",
            lzf: true,
        },
    );
    assert!(file.starts_with(b"REDIS0010"));
    assert!(
        !file.windows(long.len()).any(|w| w == &long[..]),
        "the long string is stored compressed"
    );
    let got = decode_file(&file).expect("decodes");
    assert_eq!(got.functions, vec![code.to_vec()]);
    let mut seen: Vec<_> = got
        .entries
        .iter()
        .map(|e| (e.db, e.key.clone(), view(&e.value), e.expire_ms))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (
                0,
                b"n".to_vec(),
                "str [49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49]".into(),
                Some(4_000_000_000_000)
            ),
            (0, b"s".to_vec(), view(&Value::Str(b"hello".to_vec())), None),
            (1, b"long".to_vec(), view(&Value::Str(long)), None),
            (2, b"l".to_vec(), "list [b\"a\"]".into(), None),
        ]
    );
    let mut bad = file.clone();
    let n = bad.len() - 20;
    bad[n] ^= 0x40;
    assert!(decode_file(&bad).is_err());
}

/// Builds a payload around a hand-written body.
fn seal(body: &[u8]) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

#[test]
fn hostile_payloads_get_redis_errors_without_big_allocations() {
    let fmt = |b: &[u8]| restore(&seal(b)).err().map(PayloadError::message);
    let bad = Some("Bad data format");
    // Unknown type, a string claiming 4 GiB, a set claiming 2^62 members,
    // an LZF string claiming a huge result, an empty set.
    assert_eq!(fmt(&[99, 0]), bad);
    assert_eq!(fmt(&[0, 0x80, 0xff, 0xff, 0xff, 0xff, b'x']), bad);
    assert_eq!(fmt(&[2, 0x81, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, b'a']), bad);
    assert_eq!(
        fmt(&[0, 0xc3, 2, 0x81, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, b'a']),
        bad
    );
    assert_eq!(fmt(&[2, 0]), bad);
    // Version from the future, short payloads, wrong CRC.
    let mut p = seal(&[0, 1, b'a']);
    p[3] = 99;
    assert_eq!(restore(&p).err(), Some(PayloadError::VersionOrChecksum));
    assert_eq!(
        restore(b"short").err(),
        Some(PayloadError::VersionOrChecksum)
    );
    let mut p = seal(&[0, 1, b'a']);
    let last = p.len() - 1;
    p[last] ^= 1;
    assert_eq!(restore(&p).err(), Some(PayloadError::VersionOrChecksum));
}

#[test]
fn payload_from_redis_7_0_restores() {
    // `redis-cli DUMP` of `SET k hello` on redis-server 7.0.15.
    let p = b"\x00\x05hello\x0a\x00\x63\x72\xdf\x76\x65\x34\x20\x0a";
    match restore(p) {
        Ok(Value::Str(s)) => assert_eq!(s, b"hello"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn payloads_dumped_by_redis_in_the_fuzz_corpus_restore() {
    // redis-server 7.0.15's DUMP of each type (fuzz/corpus/rdb_payload/redis-*):
    // golden inputs that need no server to check.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/rdb_payload");
    let mut n = 0;
    for e in std::fs::read_dir(dir).expect("corpus") {
        let path = e.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("redis-") {
            continue;
        }
        let p = std::fs::read(&path).expect("read");
        let v = restore(&p).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let again = restore(&dump(&v, true)).expect("re-encoded");
        assert_eq!(view(&again), view(&v), "{name}");
        n += 1;
    }
    assert_eq!(n, 12);
}
