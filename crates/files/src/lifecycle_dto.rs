//! Lifecycle configurations between S3's XML (s3s's types) and the stored
//! [`Rule`]s, with S3's checks. What the store cannot do — transitions
//! between storage classes, anything about noncurrent versions or delete
//! markers (there are no versions) — is refused with `NotImplemented` rather
//! than accepted and ignored.

use std::collections::HashSet;

use s3s::dto::{
    AbortIncompleteMultipartUpload, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleAndOperator, LifecycleRuleFilter, Tag, Timestamp,
};
use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::lifecycle::Rule;

const DAY_MS: i64 = 86_400_000;

fn invalid(msg: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, msg.to_owned())
}

fn malformed(msg: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::MalformedXML, msg.to_owned())
}

fn not_implemented(msg: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::NotImplemented, msg.to_owned())
}

/// Checks and converts PutBucketLifecycleConfiguration's rules.
pub(crate) fn rules_from(rules: Vec<LifecycleRule>) -> S3Result<Vec<Rule>> {
    if rules.is_empty() || rules.len() > 1000 {
        return Err(malformed("A lifecycle configuration has 1 to 1000 rules."));
    }
    let mut ids = HashSet::new();
    rules
        .into_iter()
        .map(|r| {
            if let Some(id) = &r.id {
                if id.len() > 255 {
                    return Err(invalid("ID length should not exceed allowed limit of 255"));
                }
                if !ids.insert(id.clone()) {
                    return Err(invalid(
                        "Rule ID must be unique. Found same ID for more than one rule",
                    ));
                }
            }
            rule_from(r)
        })
        .collect()
}

fn rule_from(r: LifecycleRule) -> S3Result<Rule> {
    if r.transitions.as_ref().is_some_and(|t| !t.is_empty())
        || r.noncurrent_version_transitions
            .as_ref()
            .is_some_and(|t| !t.is_empty())
        || r.noncurrent_version_expiration.is_some()
    {
        return Err(not_implemented(
            "bigstep files has one storage class and no versions: only Expiration and AbortIncompleteMultipartUpload rules apply",
        ));
    }
    let enabled = match r.status.as_str() {
        ExpirationStatus::ENABLED => true,
        ExpirationStatus::DISABLED => false,
        _ => return Err(malformed("Status must be Enabled or Disabled")),
    };
    let mut rule = Rule {
        id: r.id,
        enabled,
        ..Rule::default()
    };
    let tag_pair = |t: Tag| (t.key.unwrap_or_default(), t.value.unwrap_or_default());
    match (r.filter, r.prefix) {
        (Some(_), Some(_)) => {
            return Err(malformed(
                "A rule has either a Filter or a Prefix, not both",
            ))
        }
        (None, prefix) => rule.prefix = prefix.unwrap_or_default(),
        (Some(f), None) => {
            rule.filter_form = true;
            let mut parts = 0;
            if let Some(p) = f.prefix {
                rule.prefix = p;
                parts += 1;
            }
            if let Some(t) = f.tag {
                rule.tags = crate::tags::from_pairs([tag_pair(t)])
                    .map_err(|e| S3Error::with_message(S3ErrorCode::InvalidTag, e.to_string()))?;
                parts += 1;
            }
            rule.size_greater_than = f.object_size_greater_than.map(size).transpose()?;
            rule.size_less_than = f.object_size_less_than.map(size).transpose()?;
            parts += usize::from(rule.size_greater_than.is_some())
                + usize::from(rule.size_less_than.is_some());
            if let Some(and) = f.and {
                if parts > 0 {
                    return Err(malformed("A Filter has one of Prefix, Tag, size or And"));
                }
                rule.prefix = and.prefix.unwrap_or_default();
                rule.tags =
                    crate::tags::from_pairs(and.tags.unwrap_or_default().into_iter().map(tag_pair))
                        .map_err(|e| {
                            S3Error::with_message(S3ErrorCode::InvalidTag, e.to_string())
                        })?;
                rule.size_greater_than = and.object_size_greater_than.map(size).transpose()?;
                rule.size_less_than = and.object_size_less_than.map(size).transpose()?;
            } else if parts > 1 {
                return Err(malformed("More than one filter condition needs an And"));
            }
        }
    }
    if let Some(e) = r.expiration {
        if e.expired_object_delete_marker.is_some() {
            return Err(not_implemented(
                "bigstep files keeps no versions, so there are no delete markers to expire",
            ));
        }
        match (e.days, e.date) {
            (Some(d), None) => {
                rule.days = Some(u32::try_from(d).ok().filter(|&d| d > 0).ok_or_else(|| {
                    invalid("'Days' for Expiration action must be a positive integer")
                })?);
            }
            (None, Some(date)) => {
                let t = time::OffsetDateTime::from(date);
                let ms = i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
                    .map_err(|_| invalid("bad Date"))?;
                if ms.rem_euclid(DAY_MS) != 0 {
                    return Err(invalid("'Date' must be at midnight GMT"));
                }
                rule.date_ms = Some(ms);
            }
            _ => return Err(malformed("Expiration has one of Days or Date")),
        }
    }
    if let Some(a) = r.abort_incomplete_multipart_upload {
        rule.abort_upload_days = Some(
            a.days_after_initiation
                .and_then(|d| u32::try_from(d).ok())
                .filter(|&d| d > 0)
                .ok_or_else(|| invalid("'DaysAfterInitiation' must be a positive integer"))?,
        );
        if !rule.tags.is_empty() {
            return Err(invalid(
                "AbortIncompleteMultipartUpload cannot be specified with Tags.",
            ));
        }
    }
    if rule.days.is_none() && rule.date_ms.is_none() && rule.abort_upload_days.is_none() {
        return Err(malformed(
            "A rule needs an Expiration or an AbortIncompleteMultipartUpload",
        ));
    }
    Ok(rule)
}

fn size(n: i64) -> S3Result<u64> {
    u64::try_from(n).map_err(|_| invalid("object sizes in a Filter are not negative"))
}

/// The stored rules as GetBucketLifecycleConfiguration returns them.
pub(crate) fn rules_to(rules: &[Rule]) -> Vec<LifecycleRule> {
    rules
        .iter()
        .map(|r| {
            let tags: Vec<Tag> = r
                .tags
                .iter()
                .map(|(k, v)| Tag {
                    key: Some(k.clone()),
                    value: Some(v.clone()),
                })
                .collect();
            let sizes = usize::from(r.size_greater_than.is_some())
                + usize::from(r.size_less_than.is_some());
            let conditions = usize::from(!r.prefix.is_empty()) + tags.len() + sizes;
            let gt = r
                .size_greater_than
                .map(|n| i64::try_from(n).unwrap_or(i64::MAX));
            let lt = r
                .size_less_than
                .map(|n| i64::try_from(n).unwrap_or(i64::MAX));
            let filter = r.filter_form.then(|| {
                if conditions > 1 {
                    LifecycleRuleFilter {
                        and: Some(LifecycleRuleAndOperator {
                            prefix: Some(r.prefix.clone()).filter(|p| !p.is_empty()),
                            tags: Some(tags.clone()).filter(|t| !t.is_empty()),
                            object_size_greater_than: gt,
                            object_size_less_than: lt,
                        }),
                        ..Default::default()
                    }
                } else {
                    LifecycleRuleFilter {
                        prefix: Some(r.prefix.clone()),
                        tag: tags.first().cloned(),
                        object_size_greater_than: gt,
                        object_size_less_than: lt,
                        ..Default::default()
                    }
                }
            });
            LifecycleRule {
                id: r.id.clone(),
                status: ExpirationStatus::from_static(if r.enabled {
                    ExpirationStatus::ENABLED
                } else {
                    ExpirationStatus::DISABLED
                }),
                prefix: (!r.filter_form).then(|| r.prefix.clone()),
                filter,
                expiration: (r.days.is_some() || r.date_ms.is_some()).then(|| {
                    LifecycleExpiration {
                        days: r.days.map(|d| i32::try_from(d).unwrap_or(i32::MAX)),
                        date: r.date_ms.map(|ms| {
                            Timestamp::from(
                                time::OffsetDateTime::from_unix_timestamp_nanos(
                                    i128::from(ms) * 1_000_000,
                                )
                                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
                            )
                        }),
                        expired_object_delete_marker: None,
                    }
                }),
                abort_incomplete_multipart_upload: r.abort_upload_days.map(|d| {
                    AbortIncompleteMultipartUpload {
                        days_after_initiation: Some(i32::try_from(d).unwrap_or(i32::MAX)),
                    }
                }),
                noncurrent_version_expiration: None,
                noncurrent_version_transitions: None,
                transitions: None,
            }
        })
        .collect()
}
