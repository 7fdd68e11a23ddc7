//! Lifecycle rules: which objects expire when, and which unfinished multipart
//! uploads are aborted. No I/O: the store's sweeper (`Store::sweep`) asks these
//! functions about each object under a rule's prefix.
//!
//! As S3: an object expires `Days` after its last write, rounded up to the
//! next midnight UTC (the next multiple of a day since the epoch), or on a
//! `Date`; a rule applies when the key starts with its prefix, the object
//! carries every tag the rule names, and its size is within the rule's bounds.
//! The length of a "day" is a setting (`lifecycle_day_seconds`) only so that
//! tests can watch objects expire in seconds.

use serde::{Deserialize, Serialize};

use crate::tags::TagSet;

/// One lifecycle rule, as kept in the bucket's record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// The rule's ID, if given.
    #[serde(default)]
    pub id: Option<String>,
    /// `Status: Enabled`; disabled rules are kept and returned, never applied.
    pub enabled: bool,
    /// Keys the rule applies to start with this.
    #[serde(default)]
    pub prefix: String,
    /// Tags an object must carry (all of them) for the rule to apply.
    #[serde(default)]
    pub tags: TagSet,
    /// Applies only to objects larger than this many bytes.
    #[serde(default)]
    pub size_greater_than: Option<u64>,
    /// Applies only to objects smaller than this many bytes.
    #[serde(default)]
    pub size_less_than: Option<u64>,
    /// Days after the last write at which an object expires.
    #[serde(default)]
    pub days: Option<u32>,
    /// The moment (Unix ms, a midnight UTC) from which matching objects expire.
    #[serde(default)]
    pub date_ms: Option<i64>,
    /// Days after initiation at which an unfinished multipart upload is aborted.
    #[serde(default)]
    pub abort_upload_days: Option<u32>,
    /// The rule was given in the `Filter` form (else the older top-level `Prefix`):
    /// kept so GetBucketLifecycleConfiguration returns what was put.
    #[serde(default)]
    pub filter_form: bool,
}

/// What the sweeper knows of an object.
#[derive(Debug, Clone, Copy)]
pub struct Object<'a> {
    /// Its key.
    pub key: &'a str,
    /// Its size in bytes.
    pub size: u64,
    /// Its last write, Unix ms.
    pub modified_ms: i64,
    /// Its tags.
    pub tags: &'a TagSet,
}

impl Rule {
    /// Whether the rule's filter selects `obj` (the rule's status aside).
    pub fn selects(&self, obj: &Object<'_>) -> bool {
        obj.key.starts_with(&self.prefix)
            && self.tags.iter().all(|(k, v)| obj.tags.get(k) == Some(v))
            && self.size_greater_than.is_none_or(|n| obj.size > n)
            && self.size_less_than.is_none_or(|n| obj.size < n)
    }

    /// When `obj` expires under this rule (Unix ms), if the rule expires objects.
    pub fn expires_at(&self, obj: &Object<'_>, day_ms: i64) -> Option<i64> {
        let day_ms = day_ms.max(1);
        let by_days = self.days.map(|d| {
            let due = obj
                .modified_ms
                .saturating_add(i64::from(d).saturating_mul(day_ms));
            // Round up to the next "midnight": a multiple of a day since the epoch.
            due.div_euclid(day_ms)
                .saturating_add(i64::from(due.rem_euclid(day_ms) != 0))
                .saturating_mul(day_ms)
        });
        by_days.or(self.date_ms)
    }
}

/// Whether `obj` has expired at `now_ms` under any enabled rule in `rules`.
pub fn expired(rules: &[Rule], obj: &Object<'_>, now_ms: i64, day_ms: i64) -> bool {
    rules.iter().any(|r| {
        r.enabled && r.selects(obj) && r.expires_at(obj, day_ms).is_some_and(|t| t <= now_ms)
    })
}

/// Whether an unfinished upload of `key` started at `initiated_ms` is to be
/// aborted at `now_ms`.
pub fn abort_upload(
    rules: &[Rule],
    key: &str,
    initiated_ms: i64,
    now_ms: i64,
    day_ms: i64,
) -> bool {
    rules.iter().any(|r| {
        r.enabled
            && key.starts_with(&r.prefix)
            && r.abort_upload_days.is_some_and(|d| {
                initiated_ms.saturating_add(i64::from(d).saturating_mul(day_ms.max(1))) <= now_ms
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 86_400_000;

    fn obj<'a>(key: &'a str, tags: &'a TagSet, modified_ms: i64) -> Object<'a> {
        Object {
            key,
            size: 10,
            modified_ms,
            tags,
        }
    }

    #[test]
    fn days_round_up_to_midnight() {
        let rule = Rule {
            enabled: true,
            prefix: "tmp/".into(),
            days: Some(1),
            ..Rule::default()
        };
        let none = TagSet::new();
        // Written at 10:00 on day 3: expires at midnight starting day 5.
        let o = obj("tmp/a", &none, 3 * DAY + DAY / 24 * 10);
        assert_eq!(rule.expires_at(&o, DAY), Some(5 * DAY));
        assert!(!expired(std::slice::from_ref(&rule), &o, 5 * DAY - 1, DAY));
        assert!(expired(std::slice::from_ref(&rule), &o, 5 * DAY, DAY));
        // Written exactly at midnight: one day later.
        assert_eq!(
            rule.expires_at(&obj("tmp/a", &none, 3 * DAY), DAY),
            Some(4 * DAY)
        );
        // Another prefix, or a disabled rule: never.
        assert!(!expired(
            std::slice::from_ref(&rule),
            &obj("keep/a", &none, 0),
            i64::MAX,
            DAY
        ));
        let off = Rule {
            enabled: false,
            ..rule
        };
        assert!(!expired(&[off], &o, i64::MAX, DAY));
    }

    #[test]
    fn tags_and_sizes_filter() {
        let mut want = TagSet::new();
        want.insert("temp".into(), "yes".into());
        let rule = Rule {
            enabled: true,
            tags: want.clone(),
            size_less_than: Some(100),
            date_ms: Some(DAY),
            ..Rule::default()
        };
        let mut has = want.clone();
        has.insert("other".into(), "x".into());
        assert!(expired(
            std::slice::from_ref(&rule),
            &obj("a", &has, 0),
            DAY,
            DAY
        ));
        let mut wrong = TagSet::new();
        wrong.insert("temp".into(), "no".into());
        assert!(!expired(
            std::slice::from_ref(&rule),
            &obj("a", &wrong, 0),
            DAY,
            DAY
        ));
        let big = Object {
            size: 100,
            ..obj("a", &has, 0)
        };
        assert!(!expired(std::slice::from_ref(&rule), &big, DAY, DAY));
        assert!(!expired(&[rule], &obj("a", &has, 0), DAY - 1, DAY));
    }

    #[test]
    fn uploads_abort_after_days() {
        let rule = Rule {
            enabled: true,
            prefix: "up/".into(),
            abort_upload_days: Some(2),
            ..Rule::default()
        };
        assert!(!abort_upload(
            std::slice::from_ref(&rule),
            "up/x",
            0,
            2 * DAY - 1,
            DAY
        ));
        assert!(abort_upload(
            std::slice::from_ref(&rule),
            "up/x",
            0,
            2 * DAY,
            DAY
        ));
        assert!(!abort_upload(&[rule], "other", 0, 9 * DAY, DAY));
    }

    proptest! {
        /// An object never expires before its Days are up, and always within one day after.
        #[test]
        fn expiry_window(modified in 0i64..1_000_000_000_000, days in 1u32..1000, day in 1i64..100_000_000) {
            let rule = Rule { enabled: true, days: Some(days), ..Rule::default() };
            let none = TagSet::new();
            let o = obj("k", &none, modified);
            let at = rule.expires_at(&o, day).expect("days");
            let due = modified + i64::from(days) * day;
            prop_assert!(at >= due && at < due + day && at % day == 0);
        }
    }
}
