//! Tests of page decoding: JSON envelopes, CSV pages, the bad-input catalogue.

use super::*;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;

fn cfg(cols: &[&str], keep: bool) -> CxoneConfig {
    let mut c = CxoneConfig::new("r", "2023-01-01", "2023-01-02");
    c.columns = cols.iter().map(|s| s.to_string()).collect();
    c.keep_extra_fields = keep;
    c
}
fn all() -> PageDecoder {
    PageDecoder::new(&CxoneConfig::new("r", "2023-01-01", "2023-01-02"))
}

const PAGE: &str = r#"{"data": [
    {"id": "a1", "direction": "inbound", "medium": "voice", "startTime": "2023-01-01T00:00:01.000Z",
     "endTime": "2023-01-01T00:01:00.000Z", "agentId": "ag", "queueId": "q", "holdTime": 5, "wrapTime": 6, "talkTime": 7},
    {"id": "a2", "direction": null, "holdTime": null, "sentiment": {"score": [1, "}"]}, "x\"y": 1}
], "nextPageToken": "tok2"}"#;

#[test]
fn json_page_nulls_missing_and_extra() {
    let p = all().decode_json(PAGE.as_bytes()).unwrap();
    assert_eq!(p.records, 2);
    assert_eq!(p.extra_fields, 2);
    assert_eq!(p.next_token.as_deref(), Some("tok2"));
    let b = &p.batches[0];
    assert_eq!(b.num_rows(), 2);
    assert_eq!(b.schema().field(7).data_type(), &DataType::Int64);
    let id = b.column(0).as_string::<i32>();
    assert_eq!(id.value(1), "a2");
    assert!(b.column(1).is_null(1)); // explicit null
    assert!(b.column(2).is_null(1)); // missing
    let hold = b.column(7).as_primitive::<Int64Type>();
    assert_eq!(hold.value(0), 5);
    assert!(hold.is_null(1));
    assert_eq!(
        b.column(3)
            .as_primitive::<arrow_array::types::TimestampMillisecondType>()
            .value(0),
        1_672_531_201_000
    );
    assert_eq!(b.schema(), *all().schema());
}

/// Times land typed in JSON and CSV pages; one that does not parse lands null, is
/// counted, and is kept in `_extra` for `validate`; `columns_as_strings` keeps text.
#[test]
fn times_are_typed_and_bad_ones_kept_aside() {
    use arrow_array::types::TimestampMillisecondType as Ts;
    let d = PageDecoder::new(&cfg(&["id", "startTime", "endTime"], true));
    let page = r#"{"data": [
        {"id": "a", "startTime": "2023-01-01T00:00:01.000Z", "endTime": "2023-01-01T01:00:01+01:00"},
        {"id": "b", "startTime": "yesterday", "endTime": null, "x": 1}
    ]}"#;
    let p = d.decode_json(page.as_bytes()).unwrap();
    assert_eq!(p.bad_values, 1);
    assert!(
        p.first_bad_value
            .as_deref()
            .unwrap()
            .contains("record 2, `startTime`")
    );
    let b = &p.batches[0];
    let start = b.column(1).as_primitive::<Ts>();
    assert_eq!(start.value(0), 1_672_531_201_000);
    assert!(start.is_null(1));
    assert_eq!(b.column(2).as_primitive::<Ts>().value(0), 1_672_531_201_000);
    let extra = b.column(3).as_string::<i32>();
    assert!(extra.is_null(0));
    // The scanner keeps unknown fields as sent; the bad time is appended.
    assert_eq!(extra.value(1), r#"{"x": 1,"startTime":"yesterday"}"#);
    let csv = "id,startTime,other\na,2023-01-01T00:00:01Z,\nb,not a time,o\n";
    let p = d.decode_csv(csv.as_bytes(), None).unwrap();
    assert_eq!(p.bad_values, 1);
    let b = &p.batches[0];
    assert_eq!(b.schema(), *d.schema());
    assert_eq!(b.column(1).as_primitive::<Ts>().value(0), 1_672_531_201_000);
    assert_eq!(
        b.column(3).as_string::<i32>().value(1),
        r#"{"other":"o","startTime":"not a time"}"#
    );
    let mut c = cfg(&["id", "startTime"], false);
    c.columns_as_strings = vec!["startTime".into()];
    let p = PageDecoder::new(&c).decode_json(page.as_bytes()).unwrap();
    assert_eq!(
        p.batches[0].column(1).as_string::<i32>().value(1),
        "yesterday"
    );
    assert_eq!(p.bad_values, 0);
}

/// Keys that look like the expected one but are not (a longer name, a prefix), and a
/// known key spelled with an escape: only true unknowns count as extra.
#[test]
fn keys_near_the_expected_one_are_told_apart() {
    let d = PageDecoder::new(&cfg(&["id", "holdTime"], true));
    let page = r#"{"data": [
        {"id": "a", "holdTime": 1},
        {"idx": "b", "id": "b", "holdTimes": 2, "holdTime": 3},
        {"i": "c", "\u0069d": "c", "hold": 0},
        {"holdTime": 4, "id": "d"}
    ]}"#;
    let p = d.decode_json(page.as_bytes()).unwrap();
    assert_eq!(p.records, 4);
    // idx, holdTimes; i, hold.
    assert_eq!(p.extra_fields, 4);
    let b = &p.batches[0];
    let id = b.column(0).as_string::<i32>();
    assert_eq!(
        (0..4).map(|r| id.value(r)).collect::<Vec<_>>(),
        ["a", "b", "c", "d"]
    );
    let hold = b.column(1).as_primitive::<Int64Type>();
    assert_eq!(hold.value(1), 3);
    assert_eq!(hold.value(3), 4);
    let extra = b.column(2).as_string::<i32>();
    let v: serde_json::Value = serde_json::from_str(extra.value(1)).unwrap();
    assert_eq!(
        (v["idx"].clone(), v["holdTimes"].clone()),
        ("b".into(), 2.into())
    );
    assert!(extra.is_null(0) && extra.is_null(3));
}

#[test]
fn extra_fields_kept_as_json_object() {
    let d = PageDecoder::new(&cfg(&["id", "holdTime"], true));
    let p = d.decode_json(PAGE.as_bytes()).unwrap();
    // Row 0: 8 unknown keys; row 1: direction, sentiment, x"y.
    assert_eq!(p.extra_fields, 8 + 3);
    let b = &p.batches[0];
    assert_eq!(b.schema().field(2).name(), EXTRA_COLUMN);
    let extra = b.column(2).as_string::<i32>();
    let v: serde_json::Value = serde_json::from_str(extra.value(1)).unwrap();
    assert_eq!(v["sentiment"]["score"][1], "}");
    assert_eq!(v["x\"y"], 1);
    assert!(v["direction"].is_null());
    let v0: serde_json::Value = serde_json::from_str(extra.value(0)).unwrap();
    assert_eq!(v0["agentId"], "ag");
}

#[test]
fn last_page_forms() {
    for body in [
        r#"{"data": []}"#,
        r#"{"data": [], "nextPageToken": null}"#,
        r#"{"data": [], "nextPageToken": ""}"#,
    ] {
        let p = all().decode_json(body.as_bytes()).unwrap();
        assert_eq!(p.next_token, None, "{body}");
        assert_eq!(p.records, 0);
    }
}

#[test]
fn bad_input_catalogue() {
    let d = all();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{\"data\": [{\"id\": \"a\"},".to_vec(), "truncated"),
        (
            b"{\"data\": [{\"id\": \"a\" \"b\"}]}".to_vec(),
            "malformed data array",
        ),
        (b"{\"data\": []} x".to_vec(), "trailing characters"),
        (b"<html>oops</html>".to_vec(), "not valid JSON"),
        (
            b"{\"data\": {\"id\": \"a\"}}".to_vec(),
            "`data` is an object, not a JSON array",
        ),
        (
            b"{\"data\": null}".to_vec(),
            "no `data` array (missing or null)",
        ),
        (b"{\"records\": []}".to_vec(), "no `data` array"),
        (b"{\"data\": \"x\"}".to_vec(), "`data` is a string"),
        (
            b"{\"data\": [1, 2]}".to_vec(),
            "record 1 of the data array is not a JSON object",
        ),
        (
            b"{\"data\": [{\"holdTime\": \"abc\"}]}".to_vec(),
            "holdTime",
        ),
        (b"{\"data\": [{\"id\": 12}]}".to_vec(), "bad record"),
        (
            b"{\"data\": [], \"nextPageToken\": 5}".to_vec(),
            "nextPageToken",
        ),
        (
            b"{\"data\": [{\"id\": \"\xff\xfe\"}]}".to_vec(),
            "not valid UTF-8",
        ),
        (Vec::new(), "truncated"),
    ];
    for (body, want) in cases {
        let e = d.decode_json(&body).unwrap_err();
        assert!(
            e.contains(want),
            "{:?}: {e}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[test]
fn huge_string_is_fine() {
    let big = "x".repeat(8 << 20);
    let body = format!(r#"{{"data": [{{"id": "{big}", "blob": "{big}"}}]}}"#);
    let p = all().decode_json(body.as_bytes()).unwrap();
    assert_eq!(p.records, 1);
    assert_eq!(p.extra_fields, 1);
    assert_eq!(
        p.batches[0].column(0).as_string::<i32>().value(0).len(),
        8 << 20
    );
}

#[test]
fn many_records_split_into_batches_keep_extra_aligned() {
    let mut c = cfg(&["id"], true);
    c.page_size = 1000;
    let d = PageDecoder::new(&c);
    let recs: Vec<String> = (0..2500)
        .map(|i| {
            if i % 2 == 0 {
                format!(r#"{{"id":"r{i}","e":{i}}}"#)
            } else {
                format!(r#"{{"id":"r{i}"}}"#)
            }
        })
        .collect();
    let body = format!(r#"{{"data":[{}]}}"#, recs.join(","));
    let p = d.decode_json(body.as_bytes()).unwrap();
    assert_eq!(p.records, 2500);
    assert!(p.batches.len() > 1);
    let mut row = 0;
    for b in &p.batches {
        let ids = b.column(0).as_string::<i32>();
        let ex = b.column(1).as_string::<i32>();
        for r in 0..b.num_rows() {
            assert_eq!(ids.value(r), format!("r{row}"));
            if row % 2 == 0 {
                assert_eq!(ex.value(r), format!(r#"{{"e":{row}}}"#));
            } else {
                assert!(ex.is_null(r));
            }
            row += 1;
        }
    }
}

#[test]
fn csv_by_header_name() {
    let d = PageDecoder::new(&cfg(&["id", "holdTime", "queueId"], true));
    let body = "holdTime,id,extra\n5,a1,foo\n,a2,\n";
    let p = d.decode_csv(body.as_bytes(), Some("t2")).unwrap();
    assert_eq!(p.records, 2);
    assert_eq!(p.extra_fields, 1);
    assert_eq!(p.next_token.as_deref(), Some("t2"));
    let b = &p.batches[0];
    assert_eq!(b.column(0).as_string::<i32>().value(1), "a2");
    assert_eq!(b.column(1).as_primitive::<Int64Type>().value(0), 5);
    assert!(b.column(1).is_null(1));
    assert_eq!(b.column(2).null_count(), 2); // queueId absent
    assert_eq!(
        b.column(3).as_string::<i32>().value(0),
        r#"{"extra":"foo"}"#
    );
    assert!(b.column(3).is_null(1));
    let last = d.decode_csv(b"", None).unwrap();
    assert_eq!(last.records, 0);
    assert_eq!(last.next_token, None);
}

#[test]
fn csv_bad_input() {
    let d = PageDecoder::new(&cfg(&["id", "holdTime"], false));
    for (body, want) in [
        (&b"id,holdTime\na,xx\n"[..], "bad CSV row"),
        (b"id,holdTime\na,1,3\n", "bad CSV row"),
        (b"id,id\na,b\n", "twice"),
        (b"id,holdTime\n\xff,1\n", "UTF-8"),
    ] {
        let e = d.decode_csv(body, None).unwrap_err();
        assert!(e.contains(want), "{e}");
    }
}
