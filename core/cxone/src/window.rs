//! Planning: the configured date range as consecutive half-open UTC windows
//! `[start, end)` of at most `max_window_days`, with neither gaps nor overlaps.
//!
//! A window is half-open so that consecutive windows share their boundary instant and
//! nothing falls between them; the export payload expresses it the way the API wants,
//! as `start` and `end - 1 ms` (`...T23:59:59.999Z`), see [`crate::payload`].

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{ConfigProblem, CxoneConfig};
use crate::error::CxoneError;

/// The API's maximum span of one export job (`MAX_EXPORT_DAYS`).
pub const MAX_EXPORT_DAYS: u32 = 90;

/// A half-open UTC time window `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Window {
    /// First instant included.
    pub start: DateTime<Utc>,
    /// First instant excluded.
    pub end: DateTime<Utc>,
}

impl Window {
    /// Stable id, e.g. `20230101T000000Z-20230401T000000Z` (used in checkpoints, logs
    /// and object keys).
    pub fn id(&self) -> String {
        format!(
            "{}-{}",
            self.start.format("%Y%m%dT%H%M%SZ"),
            self.end.format("%Y%m%dT%H%M%SZ")
        )
    }

    /// Length of the window.
    pub fn span(&self) -> Duration {
        self.end - self.start
    }

    /// Splits the window in two halves at a whole day from the start (for the 504
    /// reaction), or `None` when it spans one day or less.
    pub fn split(&self) -> Option<(Window, Window)> {
        let span = self.span();
        if span <= Duration::days(1) {
            return None;
        }
        // Whole days in the window, rounded up; the middle rounded down (>= 1 day).
        let days = (span.num_milliseconds() + 86_400_000 - 1) / 86_400_000;
        let mid = self.start + Duration::days((days / 2).max(1));
        if mid <= self.start || mid >= self.end {
            return None;
        }
        Some((
            Window {
                start: self.start,
                end: mid,
            },
            Window {
                start: mid,
                end: self.end,
            },
        ))
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id())
    }
}

/// Which side of the range a bound is: an end day is inclusive (its next midnight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bound {
    Start,
    End,
}

/// Parses one bound of `date_range`: `YYYY-MM-DD`, RFC 3339, `today`, `yesterday`,
/// `today-Nd`, `today+Nd`. Days are UTC; an end day is inclusive.
pub(crate) fn parse_bound(
    s: &str,
    today: NaiveDate,
    bound: Bound,
) -> Result<DateTime<Utc>, String> {
    let t = s.trim();
    let day =
        if t == "today" {
            Some(today)
        } else if t == "yesterday" {
            today.pred_opt()
        } else if let Some(rest) = t.strip_prefix("today") {
            Some(parse_relative(rest, today).ok_or_else(|| {
                format!("`{s}`: relative dates look like `today-7d` or `today+1d`")
            })?)
        } else {
            NaiveDate::parse_from_str(t, "%Y-%m-%d").ok()
        };
    if let Some(d) = day {
        let d = match bound {
            Bound::Start => d,
            Bound::End => d
                .succ_opt()
                .ok_or_else(|| format!("`{s}` is at the end of the calendar"))?,
        };
        return Ok(Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN)));
    }
    DateTime::parse_from_rfc3339(t)
        .map(|dt| dt.with_timezone(&Utc))
        .map_err(|e| {
            format!(
                "`{s}` is not a date: use YYYY-MM-DD, an RFC 3339 timestamp \
                 (2023-01-01T00:00:00Z), today, yesterday or today-Nd ({e})"
            )
        })
}

fn parse_relative(rest: &str, today: NaiveDate) -> Option<NaiveDate> {
    let (sign, rest) = match rest.as_bytes().first()? {
        b'-' => (-1i64, rest.get(1..)?),
        b'+' => (1i64, rest.get(1..)?),
        _ => return None,
    };
    let n: i64 = rest.strip_suffix('d')?.parse().ok()?;
    if n > 100_000 {
        return None;
    }
    today.checked_add_signed(Duration::days(sign * n))
}

/// The exact `[start, end)` range of the configuration, given today's date.
///
/// # Errors
/// [`CxoneError::Config`] naming `date_range.start`/`date_range.end`.
pub fn resolve_range(cfg: &CxoneConfig, today: NaiveDate) -> Result<Window, CxoneError> {
    let start = parse_bound(&cfg.date_range.start, today, Bound::Start);
    let end = parse_bound(&cfg.date_range.end, today, Bound::End);
    let mut problems = Vec::new();
    if let Err(e) = &start {
        problems.push(ConfigProblem::new("date_range.start", e.clone()));
    }
    if let Err(e) = &end {
        problems.push(ConfigProblem::new("date_range.end", e.clone()));
    }
    match (start, end) {
        (Ok(start), Ok(end)) if end > start => Ok(Window { start, end }),
        (Ok(_), Ok(_)) => Err(CxoneError::Config {
            problems: vec![ConfigProblem::new(
                "date_range.end",
                format!(
                    "`{}` is not after date_range.start `{}` (the end day is inclusive)",
                    cfg.date_range.end, cfg.date_range.start
                ),
            )],
        }),
        _ => Err(CxoneError::Config { problems }),
    }
}

/// Splits `[start, end)` into consecutive windows of at most `max_days` days.
pub fn split_range(start: DateTime<Utc>, end: DateTime<Utc>, max_days: u32) -> Vec<Window> {
    let step = Duration::days(i64::from(max_days.clamp(1, MAX_EXPORT_DAYS)));
    let mut out = Vec::new();
    let mut cur = start;
    while cur < end {
        let next = cur.checked_add_signed(step).map_or(end, |n| n.min(end));
        out.push(Window {
            start: cur,
            end: next,
        });
        cur = next;
    }
    out
}

/// Plans the run: the configured range, starting at `resume_after` when given (the end
/// of the last successful run, stored by the engine), split into windows of at most
/// `max_window_days`. An empty plan means there is nothing left to export.
///
/// # Errors
/// [`CxoneError::Config`] when the date range or `max_window_days` is invalid.
pub fn plan(
    cfg: &CxoneConfig,
    today: NaiveDate,
    resume_after: Option<DateTime<Utc>>,
) -> Result<Vec<Window>, CxoneError> {
    if !(1..=MAX_EXPORT_DAYS).contains(&cfg.window_days()) {
        return Err(CxoneError::Config {
            problems: vec![ConfigProblem::new(
                "max_window_days",
                format!("{} is outside 1..={MAX_EXPORT_DAYS}", cfg.window_days()),
            )],
        });
    }
    let range = resolve_range(cfg, today)?;
    let start = match resume_after {
        Some(r) if r > range.start => r,
        _ => range.start,
    };
    Ok(split_range(start, range.end, cfg.window_days()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }
    fn ts(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    fn cfg(start: &str, end: &str) -> CxoneConfig {
        CxoneConfig::new("r", start, end)
    }

    #[test]
    fn year_2023_in_90_day_windows() {
        let w = plan(&cfg("2023-01-01", "2023-12-31"), d(2024, 1, 1), None).unwrap();
        assert_eq!(w.len(), 5);
        assert_eq!(w[0].id(), "20230101T000000Z-20230401T000000Z");
        assert_eq!(w[0].start, ts("2023-01-01T00:00:00Z"));
        assert_eq!(w[4].end, ts("2024-01-01T00:00:00Z"));
        for pair in w.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
    }

    #[test]
    fn bound_forms() {
        let today = d(2024, 3, 1);
        assert_eq!(
            parse_bound("today", today, Bound::Start).unwrap(),
            ts("2024-03-01T00:00:00Z")
        );
        assert_eq!(
            parse_bound("today", today, Bound::End).unwrap(),
            ts("2024-03-02T00:00:00Z")
        );
        assert_eq!(
            parse_bound("yesterday", today, Bound::End).unwrap(),
            ts("2024-03-01T00:00:00Z")
        );
        // Leap day.
        assert_eq!(
            parse_bound("today-1d", today, Bound::Start).unwrap(),
            ts("2024-02-29T00:00:00Z")
        );
        assert_eq!(
            parse_bound("today-7d", today, Bound::Start).unwrap(),
            ts("2024-02-23T00:00:00Z")
        );
        assert_eq!(
            parse_bound("2023-12-31", today, Bound::End).unwrap(),
            ts("2024-01-01T00:00:00Z")
        );
        assert_eq!(
            parse_bound("2023-06-01T12:30:00+02:00", today, Bound::End).unwrap(),
            ts("2023-06-01T10:30:00Z")
        );
        for bad in [
            "2023-02-30",
            "tomorrow",
            "today-7",
            "today-xd",
            "",
            "2023/01/01",
        ] {
            let e = parse_bound(bad, today, Bound::Start).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn resume_starts_where_last_run_ended() {
        let c = cfg("2023-01-01", "2023-12-31");
        let w = plan(&c, d(2024, 1, 1), Some(ts("2023-04-01T00:00:00Z"))).unwrap();
        assert_eq!(w[0].start, ts("2023-04-01T00:00:00Z"));
        assert_eq!(w.len(), 4);
        assert!(
            plan(&c, d(2024, 1, 1), Some(ts("2024-01-01T00:00:00Z")))
                .unwrap()
                .is_empty()
        );
        // A cursor before the range does not widen it.
        let w = plan(&c, d(2024, 1, 1), Some(ts("2020-01-01T00:00:00Z"))).unwrap();
        assert_eq!(w[0].start, ts("2023-01-01T00:00:00Z"));
    }

    #[test]
    fn invalid_range_names_key() {
        let e = plan(&cfg("2023-02-01", "2023-01-01"), d(2024, 1, 1), None).unwrap_err();
        assert!(e.to_string().contains("date_range.end"), "{e}");
        let e = plan(&cfg("nope", "2023-01-01"), d(2024, 1, 1), None).unwrap_err();
        assert!(e.to_string().contains("date_range.start"), "{e}");
    }

    #[test]
    fn split_halves_down_to_a_day() {
        let w = Window {
            start: ts("2023-01-01T00:00:00Z"),
            end: ts("2023-01-04T00:00:00Z"),
        };
        let (a, b) = w.split().unwrap();
        assert_eq!(a.end, ts("2023-01-02T00:00:00Z"));
        assert_eq!(b.start, a.end);
        assert_eq!(b.end, w.end);
        let one = Window {
            start: ts("2023-01-01T00:00:00Z"),
            end: ts("2023-01-02T00:00:00Z"),
        };
        assert!(one.split().is_none());
        let odd = Window {
            start: ts("2023-01-01T06:00:00Z"),
            end: ts("2023-01-02T07:00:00Z"),
        };
        let (a, b) = odd.split().unwrap();
        assert_eq!(a.end, ts("2023-01-02T06:00:00Z"));
        assert_eq!(b.end, odd.end);
    }

    fn day_strategy() -> impl Strategy<Value = NaiveDate> {
        // Around month, year and leap-day edges: 2019..=2025, days 1..=31 clamped.
        (
            2019i32..=2025,
            1u32..=12,
            prop_oneof![
                Just(1u32),
                Just(28),
                Just(29),
                Just(30),
                Just(31),
                1u32..=31
            ],
        )
            .prop_map(|(y, m, dd)| {
                let mut dd = dd;
                loop {
                    if let Some(x) = NaiveDate::from_ymd_opt(y, m, dd) {
                        return x;
                    }
                    dd -= 1;
                }
            })
    }

    proptest! {
        #[test]
        fn windows_cover_range_exactly(
            a in day_strategy(),
            b in day_strategy(),
            max_days in 1u32..=90,
            resume_offset_h in proptest::option::of(0i64..20_000),
        ) {
            let (s, e) = if a <= b { (a, b) } else { (b, a) };
            let mut c = cfg(&s.to_string(), &e.to_string());
            c.max_window_days = Some(max_days);
            let today = d(2030, 1, 1);
            let resume = resume_offset_h.map(|h| {
                Utc.from_utc_datetime(&s.and_time(NaiveTime::MIN)) + Duration::hours(h)
            });
            let w = plan(&c, today, resume).unwrap();
            let range_start = Utc.from_utc_datetime(&s.and_time(NaiveTime::MIN));
            let range_end = Utc.from_utc_datetime(&e.succ_opt().unwrap().and_time(NaiveTime::MIN));
            let expect_start = resume.map_or(range_start, |r| r.max(range_start));
            if expect_start >= range_end {
                prop_assert!(w.is_empty());
            } else {
                prop_assert_eq!(w.first().unwrap().start, expect_start);
                prop_assert_eq!(w.last().unwrap().end, range_end);
                for x in &w {
                    prop_assert!(x.start < x.end);
                    prop_assert!(x.span() <= Duration::days(i64::from(max_days)));
                }
                for pair in w.windows(2) {
                    prop_assert_eq!(pair[0].end, pair[1].start);
                    // Only the last window may be shorter than the maximum.
                    prop_assert_eq!(pair[0].span(), Duration::days(i64::from(max_days)));
                }
            }
        }

        #[test]
        fn split_halves_are_consecutive(a in day_strategy(), days in 2i64..=90, off_h in 0i64..24) {
            let start = Utc.from_utc_datetime(&a.and_time(NaiveTime::MIN)) + Duration::hours(off_h);
            let w = Window { start, end: start + Duration::days(days) };
            let (l, r) = w.split().unwrap();
            prop_assert_eq!(l.start, w.start);
            prop_assert_eq!(l.end, r.start);
            prop_assert_eq!(r.end, w.end);
            prop_assert!(l.span() >= Duration::days(1));
            prop_assert!(r.span() >= Duration::days(1));
        }
    }
}
