//! Unit tests of the `validate` transform with hand-built batches.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use tributary_plugin_sdk::{Checkpoint, CreateContext, ErrorKind, Outputs, PluginInfo, Transform};

use crate::{OnInvalid, Validate, ValidateConfig};

#[derive(Clone)]
struct Row {
    id: Option<&'static str>,
    direction: Option<&'static str>,
    medium: Option<&'static str>,
    start: Option<&'static str>,
    end: Option<&'static str>,
    agent: Option<&'static str>,
    queue: Option<&'static str>,
    hold: Option<i64>,
    wrap: Option<i64>,
    talk: Option<i64>,
}

fn good(id: &'static str) -> Row {
    Row {
        id: Some(id),
        direction: Some("inbound"),
        medium: Some("voice"),
        start: Some("2023-01-15T08:30:00.000Z"),
        end: Some("2023-01-15T08:42:10.000Z"),
        agent: Some("agent-1"),
        queue: Some("queue-1"),
        hold: Some(10),
        wrap: Some(20),
        talk: Some(700),
    }
}

fn batch(rows: &[Row]) -> RecordBatch {
    let s = |f: fn(&Row) -> Option<&'static str>| {
        Arc::new(rows.iter().map(f).collect::<StringArray>()) as ArrayRef
    };
    let i = |f: fn(&Row) -> Option<i64>| {
        Arc::new(rows.iter().map(f).collect::<Int64Array>()) as ArrayRef
    };
    RecordBatch::try_from_iter([
        ("id", s(|r| r.id)),
        ("direction", s(|r| r.direction)),
        ("medium", s(|r| r.medium)),
        ("startTime", s(|r| r.start)),
        ("endTime", s(|r| r.end)),
        ("agentId", s(|r| r.agent)),
        ("queueId", s(|r| r.queue)),
        ("holdTime", i(|r| r.hold)),
        ("wrapTime", i(|r| r.wrap)),
        ("talkTime", i(|r| r.talk)),
    ])
    .unwrap()
}

fn validate(config: ValidateConfig) -> Validate {
    let ctx = CreateContext {
        component: "checked".into(),
        ..CreateContext::default()
    };
    Validate::create(config, &ctx).unwrap()
}

fn cp(id: &str) -> Checkpoint {
    Checkpoint {
        window_id: id.into(),
        ..Checkpoint::default()
    }
}

/// Runs one batch; returns (main rows' ids, invalid rows' (id, reason)).
#[allow(clippy::type_complexity)]
fn run(v: &mut Validate, b: &RecordBatch) -> (Vec<String>, Vec<(Option<String>, String)>) {
    let mut out = Outputs::new();
    v.process(b, &mut out).unwrap();
    let mut main = Vec::new();
    let mut invalid = Vec::new();
    for (name, batch) in out.take() {
        let ids = batch
            .column_by_name("id")
            .unwrap()
            .as_string::<i32>()
            .clone();
        match name.as_str() {
            "" => main.extend(ids.iter().map(|s| s.unwrap().to_string())),
            "invalid" => {
                let reasons = batch
                    .column_by_name("_reason")
                    .unwrap()
                    .as_string::<i32>()
                    .clone();
                assert_eq!(
                    batch.schema().field(batch.num_columns() - 1).name(),
                    "_reason"
                );
                invalid.extend(
                    ids.iter()
                        .zip(reasons.iter())
                        .map(|(i, r)| (i.map(String::from), r.unwrap().to_string())),
                );
            }
            other => panic!("unexpected output {other}"),
        }
    }
    (main, invalid)
}

#[test]
fn clean_batch_passes_whole() {
    let mut v = validate(ValidateConfig::default());
    let (main, invalid) = run(&mut v, &batch(&[good("a"), good("b")]));
    assert_eq!(main, ["a", "b"]);
    assert!(invalid.is_empty());
    let ack = v.flush(&cp("w1"), &mut Outputs::new()).unwrap();
    assert_eq!(ack.metrics["integrity_rate"], 1.0);
    assert_eq!(ack.metrics["schema_alignment_pass"], true);
    assert_eq!(ack.metrics["valid"], 2);
    assert_eq!(ack.records, 2);
}

#[test]
fn each_rule_catches_its_defect() {
    let mut rows = vec![good("ok")];
    let mut r = good("null-agent");
    r.agent = None;
    rows.push(r);
    let mut r = good("backwards");
    r.end = Some("2023-01-15T08:00:00Z");
    rows.push(r);
    let mut r = good("bad-direction");
    r.direction = Some("sideways");
    rows.push(r);
    let mut r = good("bad-medium");
    r.medium = Some("fax");
    rows.push(r);
    let mut r = good("bad-start");
    r.start = Some("15/01/2023 08:30");
    rows.push(r);
    let mut r = good("negative-hold");
    r.hold = Some(-5);
    rows.push(r);
    let mut r = good("two-defects");
    r.queue = None;
    r.talk = Some(-1);
    rows.push(r);
    let mut v = validate(ValidateConfig::default());
    let (main, invalid) = run(&mut v, &batch(&rows));
    assert_eq!(main, ["ok"]);
    let got: Vec<(String, String)> = invalid.into_iter().map(|(i, r)| (i.unwrap(), r)).collect();
    let want = [
        ("null-agent", "missing:agentId"),
        ("backwards", "endTime<startTime"),
        ("bad-direction", "bad_value:direction=sideways"),
        ("bad-medium", "bad_value:medium=fax"),
        ("bad-start", "bad_timestamp:startTime"),
        ("negative-hold", "negative:holdTime"),
        ("two-defects", "missing:queueId; negative:talkTime"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(got, want);
    let m = v.flush(&cp("w"), &mut Outputs::new()).unwrap().metrics;
    assert_eq!(m["invalid"], 7);
    assert_eq!(
        m["missing_field_counts"],
        serde_json::json!({"agentId": 1, "queueId": 1})
    );
    assert_eq!(m["schema_alignment_pass"], false);
}

#[test]
fn absent_column_is_missing_everywhere_and_optional_fields_may_be_null() {
    let b = batch(&[good("a"), good("b")]);
    let b = b.project(&[0, 1, 2, 3, 4, 5, 7, 8, 9]).unwrap(); // no queueId
    let mut v = validate(ValidateConfig::default());
    let (main, invalid) = run(&mut v, &b);
    assert!(main.is_empty());
    assert!(invalid.iter().all(|(_, r)| r == "missing:queueId"));
    // Not required: a null agentId is fine, an absent queueId too.
    let cfg = ValidateConfig {
        required: Some(vec!["id".into(), "startTime".into()]),
        ..ValidateConfig::default()
    };
    let mut v = validate(cfg);
    let mut r = good("c");
    r.agent = None;
    let (main, _) = run(
        &mut v,
        &batch(&[r]).project(&[0, 1, 2, 3, 4, 5, 7, 8, 9]).unwrap(),
    );
    assert_eq!(main, ["c"]);
}

#[test]
fn configurable_enumerations() {
    let cfg = ValidateConfig {
        media: Some(vec!["voice".into(), "fax".into()]),
        ..ValidateConfig::default()
    };
    let mut v = validate(cfg);
    let mut fax = good("fax");
    fax.medium = Some("fax");
    let mut chat = good("chat");
    chat.medium = Some("chat");
    let (main, invalid) = run(&mut v, &batch(&[fax, chat]));
    assert_eq!(main, ["fax"]);
    assert_eq!(
        invalid,
        [(
            Some("chat".to_string()),
            "bad_value:medium=chat".to_string()
        )]
    );
}

#[test]
fn timestamp_columns_are_accepted() {
    let ids = Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef;
    let start = Arc::new(TimestampMillisecondArray::from(vec![1_000, 5_000]).with_timezone("UTC"))
        as ArrayRef;
    let end = Arc::new(TimestampMillisecondArray::from(vec![2_000, 4_000]).with_timezone("UTC"))
        as ArrayRef;
    let b =
        RecordBatch::try_from_iter([("id", ids), ("startTime", start), ("endTime", end)]).unwrap();
    let cfg = ValidateConfig {
        required: Some(vec!["id".into(), "startTime".into(), "endTime".into()]),
        ..ValidateConfig::default()
    };
    let mut v = validate(cfg);
    let (main, invalid) = run(&mut v, &b);
    assert_eq!(main, ["a"]);
    assert_eq!(
        invalid,
        [(Some("b".to_string()), "endTime<startTime".to_string())]
    );
}

#[test]
fn duplicates_are_dropped_across_windows() {
    let mut v = validate(ValidateConfig::default());
    let (main, _) = run(&mut v, &batch(&[good("a"), good("b"), good("a")]));
    assert_eq!(main, ["a", "b"]);
    let w1 = v.flush(&cp("w1"), &mut Outputs::new()).unwrap().metrics;
    assert_eq!(w1["duplicates"], 1);
    let (main, invalid) = run(&mut v, &batch(&[good("b"), good("c")]));
    assert_eq!(main, ["c"]);
    assert!(invalid.is_empty(), "duplicates are dropped, not routed");
    let w2 = v.flush(&cp("w2"), &mut Outputs::new()).unwrap().metrics;
    assert_eq!(
        (
            w2["records_in"].clone(),
            w2["valid"].clone(),
            w2["duplicates"].clone()
        ),
        (2.into(), 1.into(), 1.into())
    );
    let run_m = v.close(&mut Outputs::new()).unwrap().metrics;
    assert_eq!(run_m["duplicates"], 2);
    assert_eq!(run_m["records_in"], 5);
    assert_eq!(run_m["distinct_ids"], 3);
    // An invalid record does not claim its id: a corrected copy later is accepted.
    let mut v = validate(ValidateConfig::default());
    let mut bad = good("x");
    bad.hold = Some(-1);
    run(&mut v, &batch(&[bad]));
    assert_eq!(run(&mut v, &batch(&[good("x")])).0, ["x"]);
}

#[test]
fn on_invalid_route_drop_fail() {
    let mut bad = good("bad");
    bad.direction = Some("up");
    let rows = [good("ok"), bad];
    let mut v = validate(ValidateConfig {
        on_invalid: OnInvalid::Drop,
        ..ValidateConfig::default()
    });
    let (main, invalid) = run(&mut v, &batch(&rows));
    assert_eq!(main, ["ok"]);
    assert!(invalid.is_empty());
    assert_eq!(v.run_stats().invalid, 1);

    let mut v = validate(ValidateConfig {
        on_invalid: OnInvalid::Fail,
        ..ValidateConfig::default()
    });
    let mut out = Outputs::new();
    let e = v.process(&batch(&rows), &mut out).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidData);
    assert!(
        e.message.contains("id `bad`") && e.message.contains("bad_value:direction=up"),
        "{e}"
    );
    assert!(out.is_empty(), "nothing is emitted from a failed batch");

    let mut v = validate(ValidateConfig::default());
    let (main, invalid) = run(&mut v, &batch(&rows));
    assert_eq!(main, ["ok"]);
    assert_eq!(invalid.len(), 1);
}

/// A small deterministic generator, so the test needs no `rand`.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn integrity_rate_matches_an_independent_count() {
    let ids: Vec<&'static str> = (0..2000)
        .map(|i| &*Box::leak(format!("id-{i}").into_boxed_str()))
        .collect();
    let mut g = Lcg(42);
    let mut rows = Vec::new();
    for id in &ids {
        let mut r = good(id);
        if g.next() % 10 == 0 {
            r.agent = None;
        }
        if g.next() % 7 == 0 {
            r.hold = None;
        }
        if g.next() % 13 == 0 {
            r.end = Some("2000-01-01T00:00:00Z"); // a rule defect: complete, but invalid
        }
        rows.push(r);
    }
    // Independently: complete = no null among the ten fields.
    let complete = rows
        .iter()
        .filter(|r| r.agent.is_some() && r.hold.is_some())
        .count();
    let expected = complete as f64 / rows.len() as f64;
    let missing_agent = rows.iter().filter(|r| r.agent.is_none()).count() as u64;

    let mut v = validate(ValidateConfig::default());
    for chunk in rows.chunks(300) {
        run(&mut v, &batch(chunk));
    }
    let m = v.close(&mut Outputs::new()).unwrap().metrics;
    assert_eq!(m["integrity_rate"].as_f64().unwrap(), expected);
    assert_eq!(m["missing_field_counts"]["agentId"], missing_agent);
    assert!(
        expected < 0.9 && expected > 0.7,
        "the generator should make a mix: {expected}"
    );
}

#[test]
fn min_integrity_rate_fails_the_run_with_data_quality() {
    let mut rows: Vec<Row> = ["a", "b", "c", "d"].iter().map(|i| good(i)).collect();
    rows[1].agent = None;
    rows[2].agent = None;
    rows[3].queue = None;
    let mut v = validate(ValidateConfig {
        min_integrity_rate: Some(0.5),
        ..ValidateConfig::default()
    });
    run(&mut v, &batch(&rows));
    let e = v.close(&mut Outputs::new()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::DataQuality);
    assert!(
        e.message.contains("0.2500") && e.message.contains("0.5"),
        "{e}"
    );
    assert!(e.message.contains("agentId (2), queueId (1)"), "{e}");

    // Met threshold, and an empty run, pass.
    let mut v = validate(ValidateConfig {
        min_integrity_rate: Some(0.25),
        ..ValidateConfig::default()
    });
    run(&mut v, &batch(&rows));
    assert!(v.close(&mut Outputs::new()).is_ok());
    let mut v = validate(ValidateConfig {
        min_integrity_rate: Some(0.99),
        ..ValidateConfig::default()
    });
    assert!(v.close(&mut Outputs::new()).is_ok());
}

#[test]
fn config_errors_name_the_component() {
    let ctx = CreateContext {
        component: "checked".into(),
        ..CreateContext::default()
    };
    let e = Validate::create(
        ValidateConfig {
            directions: Some(vec![]),
            ..ValidateConfig::default()
        },
        &ctx,
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config);
    assert!(e.message.contains("transforms.checked.directions"), "{e}");
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// A record of January `d`, 2023.
fn on_day(d: u32, id: &str) -> Row {
    Row {
        id: Some(leak(id.to_string())),
        start: Some(leak(format!("2023-01-{d:02}T23:59:59.000Z"))),
        end: Some(leak(format!("2023-01-{d:02}T23:59:59.500Z"))),
        ..good("x")
    }
}

/// The one-day window ending at midnight after January `d`.
fn day_window(d: u32) -> Checkpoint {
    Checkpoint {
        window_id: format!("jan{d}"),
        window_start: format!("2023-01-{d:02}T00:00:00+00:00"),
        window_end: format!("2023-01-{:02}T00:00:00+00:00", d + 1),
        ..Checkpoint::default()
    }
}

#[test]
fn dedupe_holds_only_its_horizon_so_memory_stays_flat() {
    let mut v = validate(ValidateConfig::default()); // horizon: 1 day
    let mut held = Vec::new();
    for d in 1..=20 {
        let rows: Vec<Row> = (0..50).map(|i| on_day(d, &format!("d{d}-{i}"))).collect();
        assert_eq!(run(&mut v, &batch(&rows)).0.len(), 50);
        v.flush(&day_window(d), &mut Outputs::new()).unwrap();
        held.push(v.ids_held());
    }
    // After each window only its last day (the next window's horizon) is held: 50 ids,
    // not 50 per day of the run.
    assert!(held.iter().all(|h| *h == 50), "{held:?}");

    // Window 21 sees again a record of January 20 (within the horizon: dropped), one of
    // January 5 (before it: its id is no longer held, so it is accepted and counted) and a
    // new one.
    let rows = [on_day(20, "d20-3"), on_day(5, "d5-7"), on_day(21, "new")];
    let (main, _) = run(&mut v, &batch(&rows));
    assert_eq!(main, ["d5-7", "new"]);
    let m = v
        .flush(&day_window(21), &mut Outputs::new())
        .unwrap()
        .metrics;
    assert_eq!(
        (m["duplicates"].clone(), m["dedupe_beyond_horizon"].clone()),
        (1.into(), 1.into())
    );
    let run_m = v.close(&mut Outputs::new()).unwrap().metrics;
    assert_eq!(run_m["distinct_ids"], 20 * 50 + 2);

    // A horizon as long as the run keeps every id: the old record is a duplicate.
    let mut v = validate(ValidateConfig {
        dedupe_horizon_days: 36500,
        ..ValidateConfig::default()
    });
    for d in 1..=20 {
        let rows: Vec<Row> = (0..50).map(|i| on_day(d, &format!("d{d}-{i}"))).collect();
        run(&mut v, &batch(&rows));
        v.flush(&day_window(d), &mut Outputs::new()).unwrap();
    }
    assert_eq!(v.ids_held(), 1000);
    assert!(run(&mut v, &batch(&[on_day(5, "d5-7")])).0.is_empty());
}

/// Completed contacts as the Reporting API publishes them (typed by the source): every row
/// valid by the published schema passes, a negative duration or an absent `endReason`
/// included; a row without `contactStartDate` and an unknown media name are rejected.
#[test]
fn completed_contacts_are_checked_by_their_own_schema() {
    use arrow_array::{BooleanArray, Int64Array};
    let ids = Arc::new(Int64Array::from(vec![11, 12, 13, 11, 14])) as ArrayRef;
    let ts = |v: Vec<Option<i64>>| {
        Arc::new(TimestampMillisecondArray::from(v).with_timezone("UTC")) as ArrayRef
    };
    let start = ts(vec![
        Some(1_000),
        None,
        Some(3_000),
        Some(1_000),
        Some(4_000),
    ]);
    let lut = ts(vec![Some(9_000); 5]);
    let media = Arc::new(StringArray::from(vec![
        Some("Phone Call"),
        Some("Chat"),
        Some("Work Item"),
        Some("Phone Call"),
        Some("Fax"),
    ])) as ArrayRef;
    let hold = Arc::new(Int64Array::from(vec![
        Some(-1),
        Some(0),
        None,
        Some(-1),
        Some(0),
    ])) as ArrayRef;
    let outbound = Arc::new(BooleanArray::from(vec![
        Some(true),
        None,
        Some(false),
        Some(true),
        None,
    ])) as ArrayRef;
    let b = RecordBatch::try_from_iter([
        ("contactId", ids),
        ("contactStartDate", start),
        ("lastUpdateTime", lut),
        ("mediaTypeName", media),
        ("holdSeconds", hold),
        ("isOutbound", outbound),
    ])
    .unwrap();
    let cfg: ValidateConfig = serde_json::from_str(r#"{"schema": "completed-contacts"}"#).unwrap();
    let mut v = validate(cfg);
    let mut out = Outputs::new();
    v.process(&b, &mut out).unwrap();
    let mut valid = Vec::new();
    let mut reasons = Vec::new();
    for (name, batch) in out.take() {
        let ids = batch
            .column_by_name("contactId")
            .unwrap()
            .as_primitive::<arrow_array::types::Int64Type>()
            .clone();
        if name == "invalid" {
            let r = batch
                .column_by_name("_reason")
                .unwrap()
                .as_string::<i32>()
                .clone();
            reasons.extend(
                ids.iter()
                    .zip(r.iter())
                    .map(|(i, r)| (i.unwrap(), r.unwrap().to_string())),
            );
        } else {
            valid.extend(ids.iter().map(Option::unwrap));
        }
    }
    assert_eq!(valid, [11, 13], "the duplicate of 11 is dropped");
    assert_eq!(
        reasons,
        [
            (12, "missing:contactStartDate".to_string()),
            (14, "bad_value:mediaTypeName=Fax".to_string())
        ]
    );
}

/// A time the source could not parse arrives null with its text in `_extra`: the record
/// is rejected as a bad timestamp, not only as missing.
#[test]
fn a_time_kept_aside_by_the_source_is_a_bad_timestamp() {
    let ids = Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef;
    let start =
        Arc::new(TimestampMillisecondArray::from(vec![Some(1_000), None]).with_timezone("UTC"))
            as ArrayRef;
    let extra = Arc::new(StringArray::from(vec![
        None,
        Some(r#"{"startTime":"yesterday"}"#),
    ])) as ArrayRef;
    let b =
        RecordBatch::try_from_iter([("id", ids), ("startTime", start), ("_extra", extra)]).unwrap();
    let cfg = ValidateConfig {
        required: Some(vec!["id".into(), "startTime".into()]),
        ..ValidateConfig::default()
    };
    let (main, invalid) = run(&mut validate(cfg), &b);
    assert_eq!(main, ["a"]);
    assert_eq!(
        invalid,
        [(
            Some("b".to_string()),
            "missing:startTime; bad_timestamp:startTime".to_string()
        )]
    );
}

/// A duration that is not a whole number arrives null with its value in `_extra`: the
/// record is rejected as not an integer, not only as missing.
#[test]
fn a_fraction_kept_aside_by_the_source_is_not_an_integer() {
    let ids = Arc::new(StringArray::from(vec!["a", "b", "c"])) as ArrayRef;
    let hold = Arc::new(Int64Array::from(vec![Some(5), None, None])) as ArrayRef;
    let extra = Arc::new(StringArray::from(vec![
        None,
        Some(r#"{"holdTime":5.5}"#),
        Some(r#"{"other":1}"#),
    ])) as ArrayRef;
    let b =
        RecordBatch::try_from_iter([("id", ids), ("holdTime", hold), ("_extra", extra)]).unwrap();
    let cfg = ValidateConfig {
        required: Some(vec!["id".into()]),
        ..ValidateConfig::default()
    };
    let (main, invalid) = run(&mut validate(cfg), &b);
    assert_eq!(main, ["a", "c"]);
    assert_eq!(
        invalid,
        [(Some("b".to_string()), "not_integer:holdTime".to_string())]
    );
}
