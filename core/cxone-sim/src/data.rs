//! Deterministic interaction data: generation, data-quality defects, digests and the
//! hand-written JSON/CSV writers the server uses.
//!
//! Every UTC day `d` (days since 1970-01-01) holds exactly `records_per_day` records,
//! numbered `i = 0..n`. Record `(d, i)` is generated from its own PRNG seeded by
//! `(seed, d, i)`, so any record can be built on its own, in O(1). Its start time lies in
//! the `i`-th of `n` equal slices of the day, so start times are non-decreasing in `i`
//! and the records of a time range are found by binary search, without generating the
//! day. The id is `YYYYMMDD` followed by `i` on 7 digits (`202301150000042`): unique and
//! stable for a given rate.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::SimConfig;

/// Milliseconds in a day.
pub(crate) const DAY_MS: i64 = 86_400_000;
/// First day not generated (10000-01-01): records exist from 1970-01-01 to 9999-12-31.
const END_DAY: i64 = 2_932_897;

/// The name of the field the schema does not know, carried by "extra field" records.
pub const EXTRA_FIELD: &str = "customerSentiment";

// ---------------------------------------------------------------------------------------
// PRNG

/// The splitmix64 finaliser: a good 64-bit mixer.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of a few words.
pub(crate) fn hash_words(words: &[u64]) -> u64 {
    words
        .iter()
        .fold(0x243F_6A88_85A3_08D3, |acc, w| mix(acc ^ mix(*w)))
}

/// FNV-1a of bytes, then mixed.
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01B3)
    });
    mix(h)
}

/// A uniform number in `[0, 1)` from 64 random bits.
pub(crate) fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// splitmix64.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (n > 0), by multiply-shift.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
    fn unit(&mut self) -> f64 {
        unit(self.next())
    }
    /// A value in `lo..=hi`, skewed towards `lo` (square of a uniform).
    fn skewed(&mut self, lo: u32, hi: u32) -> u32 {
        let u = self.unit();
        lo + (f64::from(hi - lo) * u * u) as u32
    }
}

// ---------------------------------------------------------------------------------------
// Records

/// One field of an interaction record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Field {
    /// `id`
    Id,
    /// `direction`
    Direction,
    /// `medium`
    Medium,
    /// `startTime`
    StartTime,
    /// `endTime`
    EndTime,
    /// `agentId`
    AgentId,
    /// `queueId`
    QueueId,
    /// `holdTime`
    HoldTime,
    /// `wrapTime`
    WrapTime,
    /// `talkTime`
    TalkTime,
}

impl Field {
    /// All ten fields, in the schema's order.
    pub const ALL: [Field; 10] = [
        Field::Id,
        Field::Direction,
        Field::Medium,
        Field::StartTime,
        Field::EndTime,
        Field::AgentId,
        Field::QueueId,
        Field::HoldTime,
        Field::WrapTime,
        Field::TalkTime,
    ];

    /// The wire name, e.g. `startTime`.
    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Direction => "direction",
            Field::Medium => "medium",
            Field::StartTime => "startTime",
            Field::EndTime => "endTime",
            Field::AgentId => "agentId",
            Field::QueueId => "queueId",
            Field::HoldTime => "holdTime",
            Field::WrapTime => "wrapTime",
            Field::TalkTime => "talkTime",
        }
    }

    /// The field of a wire name.
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A clean interaction record, before any defect injection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Unique, stable id: `YYYYMMDD` + 7-digit index within the day.
    pub id: String,
    /// `inbound` or `outbound`.
    pub direction: &'static str,
    /// `voice`, `chat`, `email`, `sms` or `social`.
    pub medium: &'static str,
    /// Start, millisecond precision.
    pub start_time: DateTime<Utc>,
    /// End, never before the start (start + talk + hold).
    pub end_time: DateTime<Utc>,
    /// `agent-NNNN`.
    pub agent_id: String,
    /// `queue-NNN`.
    pub queue_id: String,
    /// Seconds on hold.
    pub hold_time: u32,
    /// Seconds of after-call work.
    pub wrap_time: u32,
    /// Seconds talking (handling).
    pub talk_time: u32,
}

impl Record {
    /// The record as the simulator serves it in a JSON page (all fields, no defects).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "direction": self.direction,
            "medium": self.medium,
            "startTime": format_ts(self.start_time.timestamp_millis()),
            "endTime": format_ts(self.end_time.timestamp_millis()),
            "agentId": self.agent_id,
            "queueId": self.queue_id,
            "holdTime": self.hold_time,
            "wrapTime": self.wrap_time,
            "talkTime": self.talk_time,
        })
    }
}

/// A record in its compact, allocation-free form.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRecord {
    pub(crate) day: i64,
    pub(crate) index: u32,
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
    pub(crate) direction: &'static str,
    pub(crate) medium: &'static str,
    pub(crate) agent: u32,
    pub(crate) queue: u32,
    pub(crate) hold: u32,
    pub(crate) wrap: u32,
    pub(crate) talk: u32,
}

fn record_rng(seed: u64, day: i64, index: u32) -> SplitMix64 {
    SplitMix64(hash_words(&[seed, day as u64, u64::from(index)]))
}

/// Start of record `index` of `n` in `day`: its slice of the day plus a jitter drawn
/// first from the record's PRNG.
fn start_ms_of(rng: &mut SplitMix64, day: i64, index: u32, n: u32) -> i64 {
    let lo = (i128::from(index) * i128::from(DAY_MS) / i128::from(n)) as i64;
    let hi = ((i128::from(index) + 1) * i128::from(DAY_MS) / i128::from(n)) as i64;
    let jitter = if hi > lo {
        rng.below((hi - lo) as u64) as i64
    } else {
        0
    };
    day * DAY_MS + lo + jitter
}

pub(crate) fn start_ms(seed: u64, day: i64, index: u32, n: u32) -> i64 {
    start_ms_of(&mut record_rng(seed, day, index), day, index, n)
}

pub(crate) fn raw_record(seed: u64, day: i64, index: u32, n: u32) -> RawRecord {
    let mut rng = record_rng(seed, day, index);
    let start_ms = start_ms_of(&mut rng, day, index, n);
    let m = rng.below(100);
    let (medium, inbound_pct, talk_lo, talk_hi) = match m {
        0..45 => ("voice", 75, 20, 1500),
        45..70 => ("chat", 90, 60, 2400),
        70..85 => ("email", 70, 30, 900),
        85..95 => ("sms", 60, 20, 900),
        _ => ("social", 85, 20, 900),
    };
    let direction = if rng.below(100) < inbound_pct {
        "inbound"
    } else {
        "outbound"
    };
    let talk = rng.skewed(talk_lo, talk_hi);
    let hold = if medium == "voice" && rng.below(100) < 35 {
        rng.skewed(5, 600)
    } else {
        0
    };
    let wrap = rng.skewed(0, 180);
    let agent = 1 + rng.below(300) as u32;
    let queue = 1 + rng.below(40) as u32;
    RawRecord {
        day,
        index,
        start_ms,
        end_ms: start_ms + i64::from(talk + hold) * 1000,
        direction,
        medium,
        agent,
        queue,
        hold,
        wrap,
        talk,
    }
}

impl RawRecord {
    /// The id bytes: `YYYYMMDD` + 7-digit index.
    pub(crate) fn id_bytes(&self) -> [u8; 15] {
        let (y, m, d) = civil_from_days(self.day);
        let mut out = [b'0'; 15];
        put_digits(&mut out[0..4], y.max(0) as u64);
        put_digits(&mut out[4..6], u64::from(m));
        put_digits(&mut out[6..8], u64::from(d));
        put_digits(&mut out[8..15], u64::from(self.index));
        out
    }

    pub(crate) fn to_record(self) -> Record {
        let id = String::from_utf8_lossy(&self.id_bytes()).into_owned();
        Record {
            id,
            direction: self.direction,
            medium: self.medium,
            start_time: DateTime::<Utc>::from_timestamp_millis(self.start_ms).unwrap_or_default(),
            end_time: DateTime::<Utc>::from_timestamp_millis(self.end_ms).unwrap_or_default(),
            agent_id: format!("agent-{:04}", self.agent),
            queue_id: format!("queue-{:03}", self.queue),
            hold_time: self.hold,
            wrap_time: self.wrap,
            talk_time: self.talk,
        }
    }
}

/// Writes `v` as zero-padded decimal filling `out` (most significant digit first).
fn put_digits(out: &mut [u8], mut v: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

// ---------------------------------------------------------------------------------------
// Ranges

/// The records of one day inside a range: indexes `first..first + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DaySlice {
    pub(crate) day: i64,
    pub(crate) first: u32,
    pub(crate) count: u32,
}

/// First index in `0..n` whose start is `>= t` (n when none).
fn lower_bound(seed: u64, day: i64, n: u32, t: i64) -> u32 {
    let (mut lo, mut hi) = (0u32, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if start_ms(seed, day, mid, n) < t {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The records with `start_ms <= startTime <= end_ms`, per day, in startTime order.
/// O(days + log n): no record is generated beyond the binary searches at both ends.
pub(crate) fn day_slices(cfg: &SimConfig, start_ms: i64, end_ms: i64) -> Vec<DaySlice> {
    let n = cfg.records_per_day;
    if n == 0 || end_ms < start_ms {
        return Vec::new();
    }
    let first_day = start_ms.div_euclid(DAY_MS).max(0);
    let last_day = end_ms.div_euclid(DAY_MS).min(END_DAY - 1);
    let mut out = Vec::new();
    let mut day = first_day;
    while day <= last_day {
        let day_start = day * DAY_MS;
        let first = if start_ms > day_start {
            lower_bound(cfg.seed, day, n, start_ms)
        } else {
            0
        };
        let end = if end_ms < day_start + DAY_MS - 1 {
            lower_bound(cfg.seed, day, n, end_ms.saturating_add(1))
        } else {
            n
        };
        if end > first {
            out.push(DaySlice {
                day,
                first,
                count: end - first,
            });
        }
        day += 1;
    }
    out
}

/// Iterates the raw records of day slices.
pub(crate) fn raw_records(
    seed: u64,
    n: u32,
    slices: Vec<DaySlice>,
) -> impl Iterator<Item = RawRecord> {
    slices
        .into_iter()
        .flat_map(move |s| (s.first..s.first + s.count).map(move |i| raw_record(seed, s.day, i, n)))
}

/// The clean records an export of `[start, end]` holds (both ends inclusive), in
/// startTime order, before any defect injection.
pub fn records_in_range(
    cfg: &SimConfig,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> impl Iterator<Item = Record> + use<> {
    let slices = day_slices(cfg, start.timestamp_millis(), end.timestamp_millis());
    raw_records(cfg.seed, cfg.records_per_day, slices).map(RawRecord::to_record)
}

/// `lastUpdateTime` in epoch ms of the record with `id` that ended at `end_ms`: 30 s to
/// 5.5 min after its end, or `updated_at` for the records `updated_fraction` picks.
pub(crate) fn last_update_ms_of(cfg: &SimConfig, id: &[u8], end_ms: i64) -> i64 {
    let h = hash_words(&[cfg.seed, 0x1A57_0BDA, hash_bytes(id)]);
    let natural = end_ms + 30_000 + (h % 300_000) as i64;
    match cfg.updated_at_ms() {
        Some(at) if cfg.updated_fraction > 0.0 && unit(mix(h)) < cfg.updated_fraction => {
            natural.max(at)
        }
        _ => natural,
    }
}

/// The `lastUpdateTime` the Reporting API and the Data Extraction API give `record`
/// (deterministic per record; moved to `updated_at` for the records the
/// `updated_fraction` knob picks).
pub fn last_update_time(cfg: &SimConfig, record: &Record) -> DateTime<Utc> {
    let ms = last_update_ms_of(
        cfg,
        record.id.as_bytes(),
        record.end_time.timestamp_millis(),
    );
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

/// The media type (`mediaTypeId`, `mediaTypeName`) the real APIs give a medium.
pub fn media_type_of(medium: &str) -> (u32, &'static str) {
    match medium {
        "voice" => (4, "Phone Call"),
        "chat" => (3, "Chat"),
        "email" => (1, "Email"),
        "sms" => (7, "SMS"),
        _ => (8, "Social"),
    }
}

/// SHA-256 (hex) over the ids sorted and joined by `'\n'` (no trailing newline).
pub fn id_digest<I, S>(ids: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut ids: Vec<String> = ids.into_iter().map(|s| s.as_ref().to_owned()).collect();
    ids.sort_unstable();
    let mut hasher = Sha256::new();
    for (k, id) in ids.iter().enumerate() {
        if k > 0 {
            hasher.update(b"\n");
        }
        hasher.update(id.as_bytes());
    }
    hex::encode(hasher.finalize())
}

// ---------------------------------------------------------------------------------------
// Defects

/// The data-quality defects the simulator injects into one record. A pure function of
/// (seed, record id): see [`injected_defects`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Defects {
    /// A field absent from the record (never `id`).
    pub missing: Option<Field>,
    /// A field whose value is `null` (never `id`, never the missing one).
    pub null: Option<Field>,
    /// The record carries [`EXTRA_FIELD`], which the schema does not know.
    pub extra: bool,
}

impl Defects {
    /// No defect at all.
    pub fn is_clean(&self) -> bool {
        self.missing.is_none() && self.null.is_none() && !self.extra
    }
}

/// The fields a defect may hit.
const DEFECT_FIELDS: [Field; 9] = [
    Field::Direction,
    Field::Medium,
    Field::StartTime,
    Field::EndTime,
    Field::AgentId,
    Field::QueueId,
    Field::HoldTime,
    Field::WrapTime,
    Field::TalkTime,
];

pub(crate) fn defects_for_id(cfg: &SimConfig, id: &[u8]) -> Defects {
    if cfg.missing_field_fraction <= 0.0
        && cfg.null_field_fraction <= 0.0
        && cfg.extra_field_fraction <= 0.0
    {
        return Defects::default();
    }
    let h = hash_words(&[cfg.seed, 0xDEFEC7, hash_bytes(id)]);
    let mut out = Defects::default();
    if unit(mix(h ^ 1)) < cfg.missing_field_fraction {
        out.missing = DEFECT_FIELDS.get((mix(h ^ 2) % 9) as usize).copied();
    }
    if unit(mix(h ^ 3)) < cfg.null_field_fraction {
        let candidates: Vec<Field> = DEFECT_FIELDS
            .into_iter()
            .filter(|f| Some(*f) != out.missing)
            .collect();
        out.null = candidates
            .get((mix(h ^ 4) % candidates.len() as u64) as usize)
            .copied();
    }
    out.extra = unit(mix(h ^ 5)) < cfg.extra_field_fraction;
    out
}

/// The defects the simulator injects into `record` when serving it with `cfg`.
/// A pure function of `(cfg.seed, record.id)` and the three fraction knobs.
pub fn injected_defects(cfg: &SimConfig, record: &Record) -> Defects {
    defects_for_id(cfg, record.id.as_bytes())
}

fn sentiment(id: &[u8]) -> &'static str {
    match hash_bytes(id) % 3 {
        0 => "positive",
        1 => "neutral",
        _ => "negative",
    }
}

// ---------------------------------------------------------------------------------------
// Writers

/// Civil date (year, month, day) of a day number (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DD` of a day number.
pub(crate) fn format_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Appends `2023-01-15T08:30:00.000Z`.
pub(crate) fn write_ts(buf: &mut Vec<u8>, ms: i64) {
    let day = ms.div_euclid(DAY_MS);
    let rem = ms.rem_euclid(DAY_MS) as u64;
    let (y, mo, d) = civil_from_days(day);
    let mut out = *b"0000-00-00T00:00:00.000Z";
    put_digits(&mut out[0..4], y.max(0) as u64);
    put_digits(&mut out[5..7], u64::from(mo));
    put_digits(&mut out[8..10], u64::from(d));
    put_digits(&mut out[11..13], rem / 3_600_000);
    put_digits(&mut out[14..16], rem / 60_000 % 60);
    put_digits(&mut out[17..19], rem / 1000 % 60);
    put_digits(&mut out[20..23], rem % 1000);
    buf.extend_from_slice(&out);
}

/// `2023-01-15T08:30:00.000Z` of epoch milliseconds.
pub(crate) fn format_ts(ms: i64) -> String {
    let mut buf = Vec::with_capacity(24);
    write_ts(&mut buf, ms);
    String::from_utf8_lossy(&buf).into_owned()
}

fn write_u32(buf: &mut Vec<u8>, v: u32) {
    let mut tmp = [0u8; 10];
    let mut pos = tmp.len();
    let mut v = v;
    loop {
        pos -= 1;
        if let Some(slot) = tmp.get_mut(pos) {
            *slot = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || pos == 0 {
            break;
        }
    }
    buf.extend_from_slice(tmp.get(pos..).unwrap_or_default());
}

/// Writes the value of `field` (JSON: strings quoted; CSV: bare).
fn write_value(buf: &mut Vec<u8>, r: &RawRecord, id: &[u8; 15], field: Field, quote: bool) {
    let q = |buf: &mut Vec<u8>| {
        if quote {
            buf.push(b'"');
        }
    };
    match field {
        Field::Id => {
            q(buf);
            buf.extend_from_slice(id);
            q(buf);
        }
        Field::Direction => {
            q(buf);
            buf.extend_from_slice(r.direction.as_bytes());
            q(buf);
        }
        Field::Medium => {
            q(buf);
            buf.extend_from_slice(r.medium.as_bytes());
            q(buf);
        }
        Field::StartTime => {
            q(buf);
            write_ts(buf, r.start_ms);
            q(buf);
        }
        Field::EndTime => {
            q(buf);
            write_ts(buf, r.end_ms);
            q(buf);
        }
        Field::AgentId => {
            q(buf);
            let mut a = *b"agent-0000";
            put_digits(&mut a[6..10], u64::from(r.agent));
            buf.extend_from_slice(&a);
            q(buf);
        }
        Field::QueueId => {
            q(buf);
            let mut a = *b"queue-000";
            put_digits(&mut a[6..9], u64::from(r.queue));
            buf.extend_from_slice(&a);
            q(buf);
        }
        Field::HoldTime => write_u32(buf, r.hold),
        Field::WrapTime => write_u32(buf, r.wrap),
        Field::TalkTime => write_u32(buf, r.talk),
    }
}

/// Appends one record as a JSON object with the `columns` asked for and the defects of
/// `cfg` applied.
pub(crate) fn write_json_record(
    buf: &mut Vec<u8>,
    cfg: &SimConfig,
    r: &RawRecord,
    columns: &[Field],
) {
    let id = r.id_bytes();
    let defects = defects_for_id(cfg, &id);
    buf.push(b'{');
    let mut first = true;
    for &field in columns {
        if defects.missing == Some(field) {
            continue;
        }
        if !first {
            buf.push(b',');
        }
        first = false;
        buf.push(b'"');
        buf.extend_from_slice(field.name().as_bytes());
        buf.extend_from_slice(b"\":");
        if defects.null == Some(field) {
            buf.extend_from_slice(b"null");
        } else {
            write_value(buf, r, &id, field, true);
        }
    }
    if defects.extra {
        if !first {
            buf.push(b',');
        }
        buf.push(b'"');
        buf.extend_from_slice(EXTRA_FIELD.as_bytes());
        buf.extend_from_slice(b"\":\"");
        buf.extend_from_slice(sentiment(&id).as_bytes());
        buf.push(b'"');
    }
    buf.push(b'}');
}

/// Appends the CSV header row: the columns, plus [`EXTRA_FIELD`] when extra fields are
/// injected at all.
pub(crate) fn write_csv_header(buf: &mut Vec<u8>, cfg: &SimConfig, columns: &[Field]) {
    for (k, field) in columns.iter().enumerate() {
        if k > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(field.name().as_bytes());
    }
    if cfg.extra_field_fraction > 0.0 {
        if !columns.is_empty() {
            buf.push(b',');
        }
        buf.extend_from_slice(EXTRA_FIELD.as_bytes());
    }
    buf.extend_from_slice(b"\r\n");
}

/// Appends one CSV row. Missing and null values are empty cells (CSV cannot tell them
/// apart).
pub(crate) fn write_csv_record(
    buf: &mut Vec<u8>,
    cfg: &SimConfig,
    r: &RawRecord,
    columns: &[Field],
) {
    let id = r.id_bytes();
    let defects = defects_for_id(cfg, &id);
    for (k, &field) in columns.iter().enumerate() {
        if k > 0 {
            buf.push(b',');
        }
        if defects.missing != Some(field) && defects.null != Some(field) {
            write_value(buf, r, &id, field, false);
        }
    }
    if cfg.extra_field_fraction > 0.0 {
        if !columns.is_empty() {
            buf.push(b',');
        }
        if defects.extra {
            buf.extend_from_slice(sentiment(&id).as_bytes());
        }
    }
    buf.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    fn ts(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn civil_dates_match_chrono() {
        for day in (0..END_DAY).step_by(997).chain([0, 19_372, END_DAY - 1]) {
            let (y, m, d) = civil_from_days(day);
            let expected =
                NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(day);
            assert_eq!(
                format!("{y:04}-{m:02}-{d:02}"),
                expected.format("%Y-%m-%d").to_string()
            );
        }
        let ms = Utc
            .with_ymd_and_hms(2023, 1, 15, 8, 30, 0)
            .unwrap()
            .timestamp_millis()
            + 7;
        assert_eq!(format_ts(ms), "2023-01-15T08:30:00.007Z");
    }

    #[test]
    fn records_are_sorted_unique_valid_and_inclusive() {
        let cfg = SimConfig {
            records_per_day: 500,
            ..SimConfig::default()
        };
        let all: Vec<Record> = records_in_range(
            &cfg,
            ts("2023-01-01T00:00:00.000Z"),
            ts("2023-01-03T23:59:59.999Z"),
        )
        .collect();
        assert_eq!(all.len(), 1500);
        let mut ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 1500);
        for w in all.windows(2) {
            assert!(w[0].start_time <= w[1].start_time);
        }
        for r in &all {
            assert!(r.end_time >= r.start_time);
            assert!(["inbound", "outbound"].contains(&r.direction));
            assert!(["voice", "chat", "email", "sms", "social"].contains(&r.medium));
            assert_eq!(
                r.end_time - r.start_time,
                chrono::Duration::seconds(i64::from(r.talk_time + r.hold_time))
            );
        }
        // Inclusive on both ends: a range from one record's start to another's holds both.
        let (a, b) = (&all[10], &all[700]);
        let sub: Vec<Record> = records_in_range(&cfg, a.start_time, b.start_time).collect();
        assert_eq!(sub.first().map(|r| &r.id), Some(&a.id));
        assert_eq!(sub.last().map(|r| &r.id), Some(&b.id));
        // Exclusive by a millisecond drops them (unless another record shares the ms).
        let sub2: Vec<Record> = records_in_range(
            &cfg,
            a.start_time + chrono::Duration::milliseconds(1),
            b.start_time - chrono::Duration::milliseconds(1),
        )
        .collect();
        assert!(!sub2.iter().any(|r| r.id == a.id || r.id == b.id));
        // Brute-force count agrees with the binary search.
        let expected = all
            .iter()
            .filter(|r| r.start_time >= a.start_time && r.start_time <= b.start_time)
            .count();
        assert_eq!(sub.len(), expected);
    }

    #[test]
    fn generation_is_deterministic_and_seed_dependent() {
        let cfg = SimConfig {
            records_per_day: 100,
            ..SimConfig::default()
        };
        let (s, e) = (
            ts("2023-05-01T00:00:00.000Z"),
            ts("2023-05-02T00:00:00.000Z"),
        );
        let a: Vec<Record> = records_in_range(&cfg, s, e).collect();
        let b: Vec<Record> = records_in_range(&cfg, s, e).collect();
        assert_eq!(a, b);
        let other = SimConfig {
            seed: 7,
            ..cfg.clone()
        };
        let c: Vec<Record> = records_in_range(&other, s, e).collect();
        assert_ne!(a, c);
        assert_eq!(a[0].id, "202305010000000");
    }

    #[test]
    fn json_writer_matches_record_to_json_when_clean() {
        let cfg = SimConfig {
            records_per_day: 50,
            ..SimConfig::default()
        };
        let slices = day_slices(&cfg, 0, DAY_MS * 19_500);
        let raw = raw_records(cfg.seed, 50, slices).last().unwrap();
        let mut buf = Vec::new();
        write_json_record(&mut buf, &cfg, &raw, &Field::ALL);
        let parsed: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(parsed, raw.to_record().to_json());
    }

    #[test]
    fn digest_is_order_independent() {
        assert_eq!(
            id_digest(["b", "a"]),
            id_digest(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(id_digest(["a", "b"]), hex::encode(Sha256::digest(b"a\nb")));
    }

    #[test]
    fn defects_follow_fractions() {
        let cfg = SimConfig {
            records_per_day: 10_000,
            missing_field_fraction: 0.1,
            null_field_fraction: 0.05,
            extra_field_fraction: 0.02,
            ..SimConfig::default()
        };
        let recs: Vec<Record> = records_in_range(
            &cfg,
            ts("2023-01-01T00:00:00.000Z"),
            ts("2023-01-01T23:59:59.999Z"),
        )
        .collect();
        let d: Vec<Defects> = recs.iter().map(|r| injected_defects(&cfg, r)).collect();
        let missing = d.iter().filter(|x| x.missing.is_some()).count();
        let null = d.iter().filter(|x| x.null.is_some()).count();
        let extra = d.iter().filter(|x| x.extra).count();
        assert!((900..1100).contains(&missing), "{missing}");
        assert!((420..580).contains(&null), "{null}");
        assert!((150..250).contains(&extra), "{extra}");
        assert!(
            d.iter()
                .all(|x| x.missing != Some(Field::Id) && x.null != Some(Field::Id))
        );
        assert!(d.iter().all(|x| x.missing.is_none() || x.missing != x.null));
    }
}
