//! The ids a run has accepted, for dropping duplicates in bounded memory.

use std::collections::HashSet;

/// The ids accepted in a run, kept as 96-bit fingerprints (XXH3-128 by `twox-hash`, cut to
/// 96 bits) each with its record's `startTime` day, in one 16-byte entry: no heap string per
/// id. A false "duplicate" (which would drop a record) needs two of the ids held at once to
/// share 96 bits: about 10^-17 for the 2.5 M ids of a 90-day window at 27,400 records a
/// day. The set hashes an entry by its fingerprint's low 64 bits, already uniform
/// ([`Fingerprints`]); see docs/performance.md for the measurements.
///
/// Memory stays bounded however long the run: [`SeenIds::forget_before`] (called as each
/// window ends) drops the entries of days before the horizon in one sweep of the set. Export
/// windows are cut by `startTime`, so a record of a forgotten day does not come again; one
/// that does anyway is still compared with every id held, and counted in
/// `dedupe_beyond_horizon`.
///
/// The set is [`SHARDS`] tables chosen by other bits of the fingerprint than the tables
/// hash: each grows on its own, so growing never holds the old and the new copy of the
/// whole set at once (one table of a 10M-record run's 2.5 M ids peaked at 107 MB while it
/// doubled, about 71 MB after).
#[derive(Debug)]
pub struct SeenIds {
    shards: Vec<HashSet<Held, Fingerprints>>,
    /// Days before this one are forgotten.
    horizon: Option<i64>,
    /// Ids accepted over the run.
    accepted: u64,
}

impl Default for SeenIds {
    fn default() -> Self {
        SeenIds {
            shards: (0..SHARDS).map(|_| HashSet::default()).collect(),
            horizon: None,
            accepted: 0,
        }
    }
}

/// Tables of [`SeenIds`].
const SHARDS: usize = 256;

/// One id held: 96 bits of its fingerprint and its record's `startTime` day (days since
/// 1970-01-01 UTC, [`NO_DAY`] without a time). Equal and hashed by the fingerprint alone.
#[derive(Debug, Clone, Copy)]
struct Held {
    lo: u64,
    hi: u32,
    day: i32,
}

/// The day of an id whose record has no time: never forgotten.
const NO_DAY: i32 = i32::MAX;

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.lo == other.lo && self.hi == other.hi
    }
}

impl Eq for Held {}

impl std::hash::Hash for Held {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.lo);
    }
}

/// What [`SeenIds::insert`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First time: accepted.
    New,
    /// First time among the ids held, but the record's day is before the horizon.
    NewBeyondHorizon,
    /// Accepted before: a duplicate.
    Duplicate,
}

const DAY_MS: i64 = 86_400_000;

/// The hasher of the fingerprint set: a fingerprint is already a uniform digest, so its low
/// 64 bits are the hash (hashing it again with SipHash cost as much as the set operation
/// itself, measured with `perf`). Hand-written: a dozen lines, no crate offers exactly this.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fingerprints;

impl std::hash::BuildHasher for Fingerprints {
    type Hasher = LowBits;
    fn build_hasher(&self) -> LowBits {
        LowBits(0)
    }
}

/// See [`Fingerprints`].
#[derive(Debug, Default)]
pub struct LowBits(u64);

impl std::hash::Hasher for LowBits {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only fingerprints are hashed here; any other input still spreads.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

impl SeenIds {
    /// Records `id` of a record starting at `start_ms` (Unix milliseconds, if known).
    pub fn insert(&mut self, id: &str, start_ms: Option<i64>) -> Seen {
        let fp = twox_hash::XxHash3_128::oneshot(id.as_bytes());
        let day = start_ms.map(|ms| ms.div_euclid(DAY_MS));
        let held = Held {
            lo: fp as u64,
            hi: (fp >> 64) as u32,
            // Days past i32 (±5.8 million years) are kept like records without a time.
            day: day.and_then(|d| i32::try_from(d).ok()).unwrap_or(NO_DAY),
        };
        // The top byte of `hi`: the tables index by `lo`'s low bits, compare `lo`'s top 7.
        let shard = (held.hi >> 24) as usize % SHARDS;
        let Some(set) = self.shards.get_mut(shard) else {
            // Never: there are SHARDS tables.
            return Seen::New;
        };
        if !set.insert(held) {
            return Seen::Duplicate;
        }
        self.accepted += 1;
        match (day, self.horizon) {
            (Some(d), Some(h)) if d < h => Seen::NewBeyondHorizon,
            _ => Seen::New,
        }
    }

    /// Forgets the ids of records that started before `day_start_ms`'s UTC day (records
    /// without a time are kept).
    pub fn forget_before(&mut self, day_start_ms: i64) {
        let horizon = day_start_ms.div_euclid(DAY_MS);
        let horizon = self.horizon.map_or(horizon, |h| h.max(horizon));
        self.horizon = Some(horizon);
        for set in &mut self.shards {
            set.retain(|h| h.day == NO_DAY || i64::from(h.day) >= horizon);
        }
    }

    /// Ids accepted over the run.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Ids held now.
    pub fn len(&self) -> usize {
        self.shards.iter().map(HashSet::len).sum()
    }

    /// True when no id is held.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(HashSet::is_empty)
    }
}
