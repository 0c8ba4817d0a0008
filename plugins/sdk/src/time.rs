//! Time helpers for plugins: the hot paths of parsing CXone timestamps.

/// The fast path of timestamp parsing: the canonical CXone form
/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` to epoch milliseconds, without allocation. Anything
/// else (offsets, leap seconds, lowercase, out-of-range fields) returns `None`: callers
/// then use a full RFC 3339 parser (chrono's), so results are identical, only faster.
pub fn parse_utc_millis(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || *b.last()? != b'Z' {
        return None;
    }
    let d = |i: usize| -> Option<i64> {
        let c = *b.get(i)?;
        c.is_ascii_digit().then(|| i64::from(c - b'0'))
    };
    let num = |from: usize, len: usize| -> Option<i64> {
        (from..from + len).try_fold(0i64, |acc, i| Some(acc * 10 + d(i)?))
    };
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(10) != Some(&b'T')
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > *month_days.get(usize::try_from(month - 1).ok()?)?
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    // Fraction: `.` then 1 to 9 digits, then the final `Z`.
    let mut millis = 0i64;
    match b.len() {
        20 => {}
        n if (22..=30).contains(&n) && b.get(19) == Some(&b'.') => {
            for (k, i) in (20..n - 1).enumerate() {
                let digit = d(i)?;
                if k < 3 {
                    millis += digit * [100, 10, 1][k];
                }
            }
        }
        _ => return None,
    }
    // Days from the civil date (proleptic Gregorian), as in H. Hinnant's algorithm.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::parse_utc_millis;

    fn chrono_ms(s: &str) -> Option<i64> {
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis())
    }

    #[test]
    fn fast_path_agrees_with_chrono() {
        let mut n = 0;
        for year in [1970, 1999, 2000, 2023, 2024, 2100] {
            for month in 1..=12 {
                for day in [1, 15, 28, 29, 30, 31] {
                    for (h, m, sec) in [(0, 0, 0), (23, 59, 59), (12, 30, 7)] {
                        for frac in ["", ".5", ".123", ".999", ".123456789"] {
                            let s = format!(
                                "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{sec:02}{frac}Z"
                            );
                            let fast = parse_utc_millis(&s);
                            match chrono_ms(&s) {
                                Some(c) => assert!(
                                    fast.is_none() || fast == Some(c),
                                    "{s}: {fast:?} vs {c}"
                                ),
                                None => assert_eq!(fast, None, "{s} is not a valid date"),
                            }
                            n += usize::from(fast.is_some());
                        }
                    }
                }
            }
        }
        assert!(
            n > 5000,
            "the fast path must handle the canonical form ({n})"
        );
        for odd in [
            "2023-01-01T00:00:00+02:00",
            "2023-01-01t00:00:00Z",
            "2023-01-01T00:00:60Z",
            "2023-01-01T00:00:00.Z",
            "garbage",
            "2023-13-01T00:00:00Z",
        ] {
            assert_eq!(parse_utc_millis(odd), None, "{odd}");
        }
    }
}
