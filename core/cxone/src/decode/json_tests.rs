//! Tests of the one-pass JSON decoder: value rules, grammar, batches, and agreement
//! with a `serde_json::Value` reading.

use super::super::PageDecoder;
use crate::config::CxoneConfig;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType as Ts};
use arrow_array::{Array, RecordBatch};
use proptest::prelude::*;
use serde_json::{Value, json};

fn decoder(keep: bool) -> PageDecoder {
    let mut c = CxoneConfig::new("r", "2023-01-01", "2023-01-02");
    c.columns = ["id", "startTime", "holdTime"].map(String::from).to_vec();
    c.keep_extra_fields = keep;
    PageDecoder::new(&c)
}

fn one(body: &str) -> Result<RecordBatch, String> {
    let p = decoder(true).decode_json(body.as_bytes())?;
    Ok(p.batches
        .into_iter()
        .next()
        .unwrap_or_else(|| RecordBatch::new_empty(decoder(true).schema().clone())))
}

#[test]
fn values_by_column_type() {
    let b = one(r#"{"data":[
          {"id":"a\"b\u00e9\n","startTime":"2023-01-01T00:00:00Z","holdTime":"  42 "},
          {"id":null,"holdTime":5e0,"startTime":null},
          {},
          {"holdTime":-1e3,"id":"x","id":"last wins"}
        ]}"#)
    .unwrap();
    let id = b.column(0).as_string::<i32>();
    assert_eq!(id.value(0), "a\"bé\n");
    assert!(id.is_null(1) && id.is_null(2));
    assert_eq!(id.value(3), "last wins");
    let t = b.column(1).as_primitive::<Ts>();
    assert_eq!(t.value(0), 1_672_531_200_000);
    assert!(t.is_null(1) && t.is_null(2) && t.is_null(3));
    let h = b.column(2).as_primitive::<Int64Type>();
    assert_eq!((h.value(0), h.value(1), h.value(3)), (42, 5, -1000));
    assert!(h.is_null(2));
    // Only the second `id` of record 4 counts: duplicates are not extra.
    assert_eq!(b.column(3).null_count(), 4);
    // No value changed, none lost: a fraction is null, counted and kept aside.
    let p = decoder(true)
        .decode_json(br#"{"data":[{"holdTime":5.9},{"holdTime":1e30},{"holdTime":7}]}"#)
        .unwrap();
    let b = &p.batches[0];
    let h = b.column(2).as_primitive::<Int64Type>();
    assert!(h.is_null(0) && h.is_null(1));
    assert_eq!(h.value(2), 7);
    assert_eq!(p.bad_values, 2);
    assert!(
        p.first_bad_value
            .as_deref()
            .is_some_and(|m| m.contains("record 1, `holdTime`: 5.9 is not a whole number")),
        "{:?}",
        p.first_bad_value
    );
    let extra = b.column(3).as_string::<i32>();
    assert_eq!(extra.value(0), r#"{"holdTime":5.9}"#);
    assert_eq!(extra.value(1), r#"{"holdTime":1e30}"#);
    assert!(extra.is_null(2));
}

#[test]
fn wrong_types_name_the_record_and_column() {
    for (rec, want) in [
        (
            r#"{"id":true}"#,
            "bad record 2: `id` must be a string, got true",
        ),
        (r#"{"id":{"a":1}}"#, "`id` must be a string"),
        (
            r#"{"holdTime":[1]}"#,
            "`holdTime` must be a whole number, got [1]",
        ),
        (r#"{"holdTime":"4.5"}"#, "`holdTime` must be a whole number"),
        (
            r#"{"startTime":17}"#,
            "`startTime` must be a string (an RFC 3339 time)",
        ),
    ] {
        let e = one(&format!(r#"{{"data":[{{}},{rec}]}}"#)).unwrap_err();
        assert!(e.contains(want), "{rec}: {e}");
        assert!(e.contains("record 2"), "{rec}: {e}");
    }
}

#[test]
fn grammar_is_checked_everywhere() {
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    for rec in [
        r#"{"x":01}"#,
        r#"{"x":1.}"#,
        r#"{"x":-}"#,
        r#"{"x":1e}"#,
        r#"{"x":tru}"#,
        r#"{"x":nul}"#,
        r#"{"x":"\q"}"#,
        r#"{"x":"\u12g4"}"#,
        r#"{"id":"a",}"#,
        r#"{"x":[1,]}"#,
        r#"{"x":{"a" 1}}"#,
        r#"{"x":{"a":1,}}"#,
        r#"{"x":[1 2]}"#,
        r#"{"x":{1:2}}"#,
        r#"{"x":'a'}"#,
        r#"{"x":"open}"#,
        &format!(r#"{{"x":{deep}}}"#),
    ] {
        let body = format!(r#"{{"data":[{rec}]}}"#);
        let e = decoder(false).decode_json(body.as_bytes()).unwrap_err();
        assert!(
            e.contains("malformed") || e.contains("truncated") || e.contains("nested"),
            "{rec}: {e}"
        );
    }
    let ok = format!(
        r#"{{"data":[{{"x":{}}}]}}"#,
        "[".repeat(100) + &"]".repeat(100)
    );
    assert_eq!(
        decoder(false)
            .decode_json(ok.as_bytes())
            .unwrap()
            .extra_fields,
        1
    );
}

#[test]
fn a_page_splits_into_batches_of_the_batch_size() {
    let recs: Vec<String> = (0..2500).map(|i| format!(r#"{{"id":"r{i}"}}"#)).collect();
    let body = format!(r#"{{"data":[{}]}}"#, recs.join(","));
    let p = decoder(false).decode_json(body.as_bytes()).unwrap();
    // page_size 10,000 is clamped to 10,000; the default config pages are smaller.
    let rows: Vec<usize> = p.batches.iter().map(RecordBatch::num_rows).collect();
    assert_eq!(rows.iter().sum::<usize>(), 2500);
    assert!(rows.iter().all(|&r| r > 0));
}

/// A decoded row: id, startTime, holdTime, `_extra`.
type Row = (Option<String>, Option<i64>, Option<i64>, Option<String>);

/// A configured column's value of a valid type, and what it decodes to.
#[derive(Debug, Clone)]
enum Cell {
    Id(Option<String>),
    Start(Option<String>),
    Hold(Option<i64>),
    Other(String, Value),
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z\"\\\\]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn cell() -> impl Strategy<Value = Cell> {
    prop_oneof![
        prop::option::of(".{0,20}").prop_map(Cell::Id),
        prop::option::of(prop_oneof![
            (0i64..4_000_000_000_000).prop_map(|ms| {
                chrono::DateTime::from_timestamp_millis(ms)
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                    .unwrap_or_default()
            }),
            ".{0,12}",
        ])
        .prop_map(Cell::Start),
        prop::option::of(any::<i64>()).prop_map(Cell::Hold),
        ("[a-zA-Z\"\\\\é]{1,6}", json_value()).prop_map(|(k, v)| Cell::Other(k, v)),
    ]
}

proptest! {
    /// Any page of valid records decodes to what a `serde_json::Value` reading says:
    /// last value per column wins, unknown keys (first of each name) land in `_extra`,
    /// times that do not parse land null and in `_extra` too; compact or pretty.
    #[test]
    fn agrees_with_serde_json(
        records in prop::collection::vec(prop::collection::vec(cell(), 0..8), 0..20),
        pretty in any::<bool>(),
    ) {
        let mut data = Vec::new();
        for rec in &records {
            let mut seen_other = std::collections::HashSet::new();
            // serde_json::Map keeps one value a key: build the text by hand instead.
            let mut parts = Vec::new();
            for c in rec {
                let (k, v) = match c {
                    Cell::Id(v) => ("id".to_string(), json!(v)),
                    Cell::Start(v) => ("startTime".to_string(), json!(v)),
                    Cell::Hold(v) => ("holdTime".to_string(), json!(v)),
                    Cell::Other(k, v) => {
                        if ["id", "startTime", "holdTime"].contains(&k.as_str()) || !seen_other.insert(k.clone()) {
                            continue;
                        }
                        (k.clone(), v.clone())
                    }
                };
                let text = if pretty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) };
                parts.push(format!("{}{}{}", serde_json::to_string(&k).unwrap(), if pretty { " : " } else { ":" }, text.unwrap()));
            }
            data.push(format!("{{{}}}", parts.join(if pretty { ",\n  " } else { "," })));
        }
        let body = format!(r#"{{"nextPageToken": "t", "data": [{}]}}"#, data.join(", "));
        let page = decoder(true).decode_json(body.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}\n{body}")))?;
        prop_assert_eq!(page.records as usize, records.len());
        let rows: Vec<Row> = page
            .batches
            .iter()
            .flat_map(|b| {
                let (id, t, h, x) = (
                    b.column(0).as_string::<i32>(),
                    b.column(1).as_primitive::<Ts>(),
                    b.column(2).as_primitive::<Int64Type>(),
                    b.column(3).as_string::<i32>(),
                );
                (0..b.num_rows())
                    .map(|r| {
                        (
                            id.is_valid(r).then(|| id.value(r).to_string()),
                            t.is_valid(r).then(|| t.value(r)),
                            h.is_valid(r).then(|| h.value(r)),
                            x.is_valid(r).then(|| x.value(r).to_string()),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut extra_total = 0;
        for (rec, row) in records.iter().zip(&rows) {
            let last = |f: &dyn Fn(&Cell) -> bool| rec.iter().rev().find(|c| f(c)).cloned();
            let id = match last(&|c| matches!(c, Cell::Id(_))) { Some(Cell::Id(v)) => v, _ => None };
            let start = match last(&|c| matches!(c, Cell::Start(_))) { Some(Cell::Start(v)) => v, _ => None };
            let hold = match last(&|c| matches!(c, Cell::Hold(_))) { Some(Cell::Hold(v)) => v, _ => None };
            prop_assert_eq!(&row.0, &id);
            prop_assert_eq!(row.2, hold);
            let parsed = start.as_deref().and_then(crate::mapping::rfc3339_ms);
            prop_assert_eq!(row.1, parsed);
            // Unknown keys: the first of each name (the generator skips repeats).
            let mut want = serde_json::Map::new();
            let mut seen = std::collections::HashSet::new();
            for c in rec {
                if let Cell::Other(k, v) = c {
                    if !["id", "startTime", "holdTime"].contains(&k.as_str()) && seen.insert(k.clone()) {
                        want.insert(k.clone(), v.clone());
                        extra_total += 1;
                    }
                }
            }
            if let (Some(s), None) = (&start, parsed) {
                want.insert("startTime".into(), Value::String(s.clone()));
            }
            let got: Value = row.3.as_deref().map(|x| serde_json::from_str(x).unwrap()).unwrap_or(Value::Object(Default::default()));
            // Through the same text parser on both sides (serde_json's float parsing does
            // not round-trip every f64 without its `float_roundtrip` feature).
            let want: Value = serde_json::from_str(&Value::Object(want).to_string()).unwrap();
            prop_assert_eq!(got, want);
        }
        prop_assert_eq!(page.extra_fields, extra_total);
        prop_assert_eq!(page.next_token.as_deref(), Some("t"));
    }
}
