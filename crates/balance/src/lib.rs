//! Server-selection algorithms for the bigstep front door.
//!
//! Pure functions and small structs: no I/O, no runtime, no live state. The
//! caller passes servers as indices `0..n` into its own list, and answers
//! questions about them through closures — `eligible(i)` (healthy and not
//! draining), `in_flight(i)` / `loads(i)` (its live counters) — so the same
//! code serves atomics on the request path and plain slices in tests.
//! Selection never allocates and never panics: an empty set, an all-down set
//! or all-zero weights give `None`.
//!
//! | algorithm | for | guarantee |
//! |---|---|---|
//! | [`SmoothWeightedRoundRobin`] | stateless apps, weighted | each server exactly `weight` picks per period of `Σweight`, interleaved |
//! | [`least_in_flight`] | uneven request costs | exact minimum of `in_flight / weight`; ties spread by a rotating start |
//! | [`power_of_two_choices`] | many servers, several front doors | the less loaded of two random eligible servers; no herding on stale counters |
//! | [`HashRing::lookup`] | hashed stickiness | same key → same server in every process; membership changes move ~`1/N` of keys |
//! | [`HashRing::lookup_bounded`] | hashed stickiness under skew | as above, but no server above `ceil((1+ε)·average)` |
//!
//! Keys are hashed with [`hash_key`], fixed forever so that independent front
//! doors agree. Tolerances as measured are in the crate's README.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod hash;
mod least;
mod ring;
mod swrr;

pub use hash::hash_key;
pub use least::{least_in_flight, p2c_candidates, power_of_two_choices};
pub use ring::{HashRing, VNODES_PER_WEIGHT};
pub use swrr::SmoothWeightedRoundRobin;
