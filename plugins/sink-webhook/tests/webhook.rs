//! The `webhook` sink against a real HTTP receiver on 127.0.0.1.
// Test code: helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod receiver;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use receiver::{Receiver, closed_port};
use tributary_plugin_sdk::abi::host::PluginLibrary;
use tributary_plugin_sdk::{Checkpoint, CreateContext, ErrorKind, PluginInfo, Sink};
use tributary_sink_webhook::{Secret, SensitiveHeaders, WebhookConfig, WebhookSink};

fn batch(from: usize, n: usize) -> RecordBatch {
    let ids: StringArray = (from..from + n)
        .map(|i| Some(format!("r-{i:06}")))
        .collect();
    let dir: StringArray = (0..n)
        .map(|i| Some(if i % 2 == 0 { "inbound" } else { "outbound" }))
        .collect();
    let start: StringArray = (0..n).map(|_| Some("2023-01-15T08:30:00.000Z")).collect();
    let hold: Int64Array = (0..n)
        .map(|i| if i % 3 == 0 { None } else { Some(i as i64) })
        .collect();
    RecordBatch::try_from_iter([
        ("id", Arc::new(ids) as ArrayRef),
        ("direction", Arc::new(dir) as ArrayRef),
        ("startTime", Arc::new(start) as ArrayRef),
        ("holdTime", Arc::new(hold) as ArrayRef),
    ])
    .unwrap()
}

fn ids(from: usize, n: usize) -> Vec<String> {
    (from..from + n).map(|i| format!("r-{i:06}")).collect()
}

fn ctx(dir: &std::path::Path, resume: bool) -> CreateContext {
    CreateContext {
        component: "notify".into(),
        pipeline: "cxone".into(),
        data_dir: dir.display().to_string(),
        resume,
        run_id: "run-1".into(),
        shard: String::new(),
    }
}

fn cp(window: &str) -> Checkpoint {
    Checkpoint {
        window_id: window.into(),
        run_id: "run-1".into(),
        ..Checkpoint::default()
    }
}

fn fast(url: &str) -> WebhookConfig {
    WebhookConfig {
        initial_backoff_ms: 10,
        max_backoff_ms: 100,
        ..WebhookConfig::new(url)
    }
}

fn spool_files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("spool"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn nothing_lost_nothing_doubled_through_failures_throttling_and_timeouts() {
    let rx = Receiver::start();
    let k = &rx.knobs;
    k.fail_first.store(3, Ordering::SeqCst);
    k.throttle_first.store(2, Ordering::SeqCst);
    k.retry_after_secs.store(1, Ordering::SeqCst);
    k.slow_first.store(1, Ordering::SeqCst);
    k.slow_ms.store(2500, Ordering::SeqCst);
    *k.secret.lock().unwrap() = Some("s3cr3t-hmac".into());

    let dir = tempfile::tempdir().unwrap();
    let cfg = WebhookConfig {
        gzip: true,
        secret: Some(Secret::new("s3cr3t-hmac")),
        timeout_secs: 1,
        max_retries: 8,
        ..fast(&rx.url)
    };
    let mut sink = WebhookSink::create(cfg, &ctx(dir.path(), false)).unwrap();
    let mut acked = 0;
    let mut retries = 0;
    // Window 1: 2300 records in uneven batches; window 2: 1000.
    for (from, n) in [(0, 700), (700, 1100), (1800, 500)] {
        sink.write(&batch(from, n)).unwrap();
    }
    let a = sink.flush(&cp("w1")).unwrap();
    assert_eq!(a.metrics["delivered_batches"], 5, "{:?}", a.metrics);
    acked += a.records;
    retries += a.metrics["retries"].as_u64().unwrap();
    sink.write(&batch(2300, 1000)).unwrap();
    let a = sink.flush(&cp("w2")).unwrap();
    acked += a.records;
    retries += a.metrics["retries"].as_u64().unwrap();
    let a = sink.close().unwrap();
    assert_eq!(a.records, 0);

    assert_eq!(acked, 3300);
    assert_eq!(
        k.records(),
        ids(0, 3300),
        "every record delivered, exactly once per key"
    );
    assert_eq!(k.keys().len(), 7, "5 + 2 requests, each its own key");
    // The same windows sent again by another instance (a re-run) carry the same keys.
    let rx2 = Receiver::start();
    let mut again = WebhookSink::create(fast(&rx2.url), &ctx(dir.path(), false)).unwrap();
    for (from, n) in [(0, 700), (700, 1100), (1800, 500)] {
        again.write(&batch(from, n)).unwrap();
    }
    again.flush(&cp("w1")).unwrap();
    again.write(&batch(2300, 1000)).unwrap();
    again.flush(&cp("w2")).unwrap();
    assert_eq!(rx2.knobs.keys(), k.keys());
    // 3 failures + 2 throttles + 1 timeout, each retried once at least.
    assert!(retries >= 6, "retries {retries}");
    assert!(
        k.duplicates.load(Ordering::SeqCst) >= 1,
        "the slow answer was retried under the same key"
    );
    assert_eq!(k.bad_signatures.load(Ordering::SeqCst), 0);
    assert!(k.gzip_requests.load(Ordering::SeqCst) >= 7);
    assert!(spool_files(dir.path()).is_empty());
}

#[test]
fn retry_after_http_date_holds_requests_back() {
    let rx = Receiver::start();
    rx.knobs.throttle_first.store(1, Ordering::SeqCst);
    rx.knobs.retry_after_secs.store(2, Ordering::SeqCst);
    rx.knobs.retry_after_as_date.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let mut sink = WebhookSink::create(
        WebhookConfig {
            jitter: false,
            ..fast(&rx.url)
        },
        &ctx(dir.path(), false),
    )
    .unwrap();
    sink.write(&batch(0, 10)).unwrap();
    let t = Instant::now();
    let a = sink.flush(&cp("w")).unwrap();
    // An HTTP date has one-second resolution: 2 s ahead means at least ~1 s of waiting,
    // far more than the 10 ms backoff.
    assert!(t.elapsed().as_millis() >= 900, "{:?}", t.elapsed());
    assert_eq!(a.metrics["retries"], 1);
    assert_eq!(rx.knobs.records(), ids(0, 10));
}

#[test]
fn a_refused_signature_is_not_retried_and_errors_name_the_url_without_secrets() {
    let rx = Receiver::start();
    *rx.knobs.secret.lock().unwrap() = Some("the-receivers-secret".into());
    let dir = tempfile::tempdir().unwrap();
    let cfg = WebhookConfig {
        secret: Some(Secret::new("WRONG-SECRET-VALUE")),
        headers: SensitiveHeaders::new([("Authorization", "Bearer HEADER-TOKEN-VALUE")]),
        ..fast(&format!("{}?token=QUERY-TOKEN-VALUE", rx.url))
    };
    let mut sink = WebhookSink::create(cfg, &ctx(dir.path(), false)).unwrap();
    sink.write(&batch(0, 5)).unwrap();
    let e = sink.flush(&cp("w")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Runtime);
    assert!(
        e.message.contains(&rx.url) && e.message.contains("401"),
        "{e}"
    );
    assert_eq!(
        rx.knobs.requests.load(Ordering::SeqCst),
        1,
        "a 401 is not retried"
    );
    assert_eq!(rx.knobs.bad_signatures.load(Ordering::SeqCst), 1);
    assert_eq!(
        spool_files(dir.path()).len(),
        1,
        "the refused batch is spooled"
    );
    let shown = format!("{e} {e:?} {sink:?}");
    for s in [
        "WRONG-SECRET-VALUE",
        "HEADER-TOKEN-VALUE",
        "QUERY-TOKEN-VALUE",
    ] {
        assert!(!shown.contains(s), "{s} leaked: {shown}");
    }
    // The spool holds the body, not the credentials.
    let spooled =
        std::fs::read_to_string(dir.path().join("spool").join(&spool_files(dir.path())[0]))
            .unwrap();
    assert!(!spooled.contains("HEADER-TOKEN-VALUE") && !spooled.contains("WRONG-SECRET"));
}

/// A receiver answering `307` to another host: nothing (no body, no credentials) reaches
/// the other host, and the batch is refused with the status, not retried.
#[test]
fn redirects_are_not_followed() {
    let rx = Receiver::start();
    let elsewhere = Receiver::start();
    *rx.knobs.redirect_to.lock().unwrap() = Some(elsewhere.url.clone());
    let dir = tempfile::tempdir().unwrap();
    let cfg = WebhookConfig {
        secret: Some(Secret::new("SIGNING-SECRET")),
        headers: SensitiveHeaders::new([("Authorization", "Bearer HEADER-TOKEN-VALUE")]),
        ..fast(&rx.url)
    };
    let mut sink = WebhookSink::create(cfg, &ctx(dir.path(), false)).unwrap();
    sink.write(&batch(0, 5)).unwrap();
    let e = sink.flush(&cp("w")).unwrap_err();
    assert!(e.message.contains("307"), "{e}");
    assert_eq!(rx.knobs.requests.load(Ordering::SeqCst), 1);
    assert_eq!(elsewhere.knobs.requests.load(Ordering::SeqCst), 0);
}

/// Credentials over plain http to another host are refused at configuration time.
#[test]
fn plain_http_with_credentials_needs_allow_http_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let remote = "http://lake.example.com/ingest";
    let with_secret = WebhookConfig {
        secret: Some(Secret::new("S")),
        ..WebhookConfig::new(remote)
    };
    let e = WebhookSink::create(with_secret.clone(), &ctx(dir.path(), false)).unwrap_err();
    assert!(
        e.message.contains("url") && e.message.contains("allow_http"),
        "{e}"
    );
    let allowed = WebhookConfig {
        allow_http: true,
        ..with_secret
    };
    assert!(WebhookSink::create(allowed, &ctx(dir.path(), false)).is_ok());
    assert!(WebhookSink::create(WebhookConfig::new(remote), &ctx(dir.path(), false)).is_ok());
}

#[test]
fn receiver_down_spools_and_a_resumed_instance_redelivers_with_the_same_keys() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/ingest");
    let dir = tempfile::tempdir().unwrap();
    let mut sink = WebhookSink::create(
        WebhookConfig {
            max_retries: 2,
            ..fast(&url)
        },
        &ctx(dir.path(), false),
    )
    .unwrap();
    let e = sink.healthcheck().unwrap_err();
    assert!(e.message.contains(&url), "{e}");
    sink.write(&batch(0, 1200)).unwrap();
    let a = sink.flush(&cp("w1")).unwrap();
    assert_eq!(a.records, 1200, "spooled records are durable");
    assert_eq!(a.metrics["spooled_batches"], 3);
    assert_eq!(a.metrics["delivered_batches"], 0);
    sink.close().unwrap();
    drop(sink);
    let want = spool_files(dir.path());
    assert_eq!(want.len(), 3, "{want:?}");

    // The receiver comes up (same port); a resumed run redelivers before anything new.
    let rx = Receiver::start_on(port);
    let mut sink = WebhookSink::create(fast(&url), &ctx(dir.path(), true)).unwrap();
    sink.healthcheck().unwrap();
    sink.write(&batch(1200, 100)).unwrap();
    let a = sink.flush(&cp("w2")).unwrap();
    assert_eq!(a.metrics["redelivered_batches"], 3);
    assert_eq!(a.metrics["redelivered_records"], 1200);
    assert_eq!(
        a.records, 100,
        "redelivered records were acknowledged by the earlier run"
    );
    assert!(spool_files(dir.path()).is_empty());
    assert_eq!(rx.knobs.records(), ids(0, 1300));
    let seen = rx.knobs.keys_seen.lock().unwrap().clone();
    let mut first3 = seen[..3].to_vec();
    first3.sort();
    let want: Vec<String> = want
        .iter()
        .map(|f| f.trim_end_matches(".batch").to_string())
        .collect();
    assert_eq!(
        first3, want,
        "spooled batches go first, with their original keys"
    );
}

#[test]
fn the_shared_library_delivers() {
    let so = tributary_plugin_sdk::abi::host::built_library("tributary_sink_webhook")
        .expect("libtributary_sink_webhook.so not built: run cargo build --workspace");
    let lib = PluginLibrary::load(&so, None).unwrap_or_else(|e| panic!("{}: {e}", so.display()));
    assert_eq!(lib.meta().name, "webhook");
    let schema = &lib.meta().config_schema;
    assert!(
        schema.to_string().contains("x-sensitive"),
        "secrets are marked in the schema"
    );

    let rx = Receiver::start();
    *rx.knobs.secret.lock().unwrap() = Some("k".into());
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({"url": rx.url, "secret": "k", "batch_size": 40, "gzip": true});
    let mut sink = lib.create_sink(&config, &ctx(dir.path(), false)).unwrap();
    sink.healthcheck().unwrap();
    sink.write(&batch(0, 100)).unwrap();
    let a = sink.flush(&cp("w")).unwrap();
    assert_eq!(a.records, 100);
    assert_eq!(a.metrics["delivered_batches"], 3);
    sink.close().unwrap();
    assert_eq!(rx.knobs.records(), ids(0, 100));

    let bad = lib.create_sink(
        &serde_json::json!({"url": "ftp://x"}),
        &ctx(dir.path(), false),
    );
    assert_eq!(bad.err().map(|e| e.kind), Some(ErrorKind::Config));
}

/// Requests leave as soon as `batch_size` records are in: a window far larger than
/// `batch_size` x `concurrency` is never held in memory, and by the time `write` returns at
/// most `concurrency` requests are unanswered.
#[test]
fn requests_are_sent_while_the_window_is_still_being_written() {
    let rx = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = WebhookConfig {
        batch_size: 100,
        concurrency: 2,
        ..fast(&rx.url)
    };
    let mut sink = WebhookSink::create(cfg, &ctx(dir.path(), false)).unwrap();
    for i in 0..20 {
        sink.write(&batch(i * 130, 130)).unwrap();
    }
    // 2600 rows written: 26 full requests cut, at most 2 of them still unanswered.
    let answered = rx.knobs.requests.load(Ordering::SeqCst);
    assert!(
        answered >= 24,
        "only {answered} requests reached the receiver before flush"
    );
    let a = sink.flush(&cp("w")).unwrap();
    assert_eq!(a.records, 2600);
    assert_eq!(a.metrics["delivered_batches"], 26);
    assert_eq!(rx.knobs.records(), ids(0, 2600));
}

/// An interrupted window: part of it was sent before the run stopped. The resumed run
/// sends the whole window again; its requests carry the keys the first run used, so a
/// receiver honouring the key sees every record once.
#[test]
fn a_window_cut_short_and_sent_again_repeats_its_keys() {
    let rx = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = || WebhookConfig {
        batch_size: 100,
        concurrency: 1,
        ..fast(&rx.url)
    };
    let mut sink = WebhookSink::create(cfg(), &ctx(dir.path(), false)).unwrap();
    sink.write(&batch(0, 250)).unwrap();
    let a = sink.close().unwrap();
    assert_eq!(a.metrics["discarded_unacknowledged_rows"], 50);
    assert_eq!(
        rx.knobs.records(),
        ids(0, 200),
        "two full requests went out"
    );
    let first_keys = rx.knobs.keys();

    let mut resumed = WebhookSink::create(cfg(), &ctx(dir.path(), true)).unwrap();
    // The same records, arriving in other batch sizes: requests are cut by record count.
    let window = batch(0, 250);
    resumed.write(&window.slice(0, 120)).unwrap();
    resumed.write(&window.slice(120, 130)).unwrap();
    let a = resumed.flush(&cp("w")).unwrap();
    assert_eq!(a.records, 250);
    assert_eq!(rx.knobs.records(), ids(0, 250), "each record once");
    assert_eq!(
        rx.knobs.duplicates.load(Ordering::SeqCst),
        2,
        "the two requests sent before the interruption were recognised"
    );
    let keys = rx.knobs.keys();
    assert_eq!(keys.len(), 3);
    assert!(first_keys.iter().all(|k| keys.contains(k)));
}
