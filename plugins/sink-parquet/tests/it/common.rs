//! Shared helpers: the CXone-shaped test data, the moto S3 server, and the pyarrow reader.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use serde_json::{Value, json};

pub const DAYS: [&str; 3] = ["2023-01-15", "2023-01-16", "2023-02-01"];

/// `n` CXone-shaped records starting at id `start`; one in 50 has an unparseable startTime,
/// one in 7 a null holdTime.
pub fn cxone_batch(start: usize, n: usize) -> (RecordBatch, Vec<Value>) {
    let mut expected = Vec::with_capacity(n);
    let (mut id, mut dir, mut med, mut st, mut et, mut ag, mut q) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut hold, mut wrap, mut talk) = (vec![], vec![], vec![]);
    for i in start..start + n {
        let day = DAYS[i % DAYS.len()];
        let start_time = if i % 50 == 49 {
            "not-a-time".to_string()
        } else {
            format!("{day}T{:02}:{:02}:00.000Z", i % 24, i % 60)
        };
        let r = (
            format!("id-{i:08}"),
            if i % 2 == 0 { "inbound" } else { "outbound" }.to_string(),
            ["phone", "chat", "email"][i % 3].to_string(),
            start_time,
            format!("{day}T23:59:59.000Z"),
            format!("agent-{}", i % 17),
            format!("queue-{}", i % 5),
            if i % 7 == 0 {
                None
            } else {
                Some((i % 300) as i64)
            },
            (i % 40) as i64,
            (i * 13 % 900) as i64,
        );
        expected.push(json!({
            "id": r.0, "direction": r.1, "medium": r.2, "startTime": r.3, "endTime": r.4,
            "agentId": r.5, "queueId": r.6, "holdTime": r.7, "wrapTime": r.8, "talkTime": r.9,
        }));
        id.push(r.0);
        dir.push(r.1);
        med.push(r.2);
        st.push(r.3);
        et.push(r.4);
        ag.push(r.5);
        q.push(r.6);
        hold.push(r.7);
        wrap.push(r.8);
        talk.push(r.9);
    }
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(StringArray::from(id))),
        ("direction", Arc::new(StringArray::from(dir))),
        ("medium", Arc::new(StringArray::from(med))),
        ("startTime", Arc::new(StringArray::from(st))),
        ("endTime", Arc::new(StringArray::from(et))),
        ("agentId", Arc::new(StringArray::from(ag))),
        ("queueId", Arc::new(StringArray::from(q))),
        ("holdTime", Arc::new(Int64Array::from(hold))),
        ("wrapTime", Arc::new(Int64Array::from(wrap))),
        ("talkTime", Arc::new(Int64Array::from(talk))),
    ];
    (RecordBatch::try_from_iter(cols).unwrap(), expected)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TRIBUTARY_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = workspace_root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no python with pyarrow: set TRIBUTARY_PYTHON or run `python3 -m venv .venv && .venv/bin/pip install pyarrow 'moto[server]'` in the workspace root"
    );
    venv
}

const READ_PARQUET: &str = r#"
import sys, os, json
import pyarrow.parquet as pq
root = sys.argv[1]
files, rows = [], []
for d, _, fs in os.walk(root):
    for f in fs:
        if f.endswith('.parquet'):
            p = os.path.join(d, f)
            files.append(os.path.relpath(p, root))
            rows.extend(pq.ParquetFile(p).read().to_pylist())
rows.sort(key=lambda r: r['id'])
print(json.dumps({'files': sorted(files), 'rows': rows}, default=str))
"#;

/// What pyarrow reads from every `*.parquet` under `root`: (relative file names, records sorted by id).
pub fn pyarrow_read(root: &Path) -> (Vec<String>, Vec<Value>) {
    let out = Command::new(python())
        .arg("-c")
        .arg(READ_PARQUET)
        .arg(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pyarrow failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    (files, v["rows"].as_array().unwrap().clone())
}

/// Asserts that pyarrow's records equal `expected`, record by record.
pub fn assert_same_records(got: &[Value], expected: &[Value]) {
    let mut expected = expected.to_vec();
    expected.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    assert_eq!(got.len(), expected.len(), "row count");
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e, "record differs");
    }
}

/// A moto S3 server on a free loopback port, killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const INSTALL: &str = "install it with `python3 -m venv .venv && .venv/bin/pip install 'moto[server]'` in the workspace root, \
     or point TRIBUTARY_MOTO_SERVER at a moto_server binary, or set TRIBUTARY_SKIP_S3=1 to skip the S3 tests";

/// Starts moto, or returns `None` (after saying why) when TRIBUTARY_SKIP_S3=1.
pub fn moto() -> Option<Moto> {
    if std::env::var("TRIBUTARY_SKIP_S3").as_deref() == Ok("1") {
        eprintln!("TRIBUTARY_SKIP_S3=1: skipping the S3 test");
        return None;
    }
    let bin = match std::env::var_os("TRIBUTARY_MOTO_SERVER") {
        Some(p) => PathBuf::from(p),
        None => {
            let venv = workspace_root().join(".venv/bin/moto_server");
            if venv.exists() {
                venv
            } else {
                PathBuf::from("moto_server")
            }
        }
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start moto_server ({}): {e}; {INSTALL}",
                bin.display()
            )
        });
    let mut moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = moto.child.try_wait() {
            panic!(
                "moto_server ({}) exited with {status}; {INSTALL}",
                bin.display()
            );
        }
        if http(reqwest::Method::GET, &moto.endpoint).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "moto_server did not answer on {} within 20 s; {INSTALL}",
            moto.endpoint
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(moto)
}

/// One unsigned HTTP request (moto accepts them); returns the status.
pub fn http(method: reqwest::Method, url: &str) -> Result<u16, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        client
            .request(method, url)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    })
}

impl Moto {
    pub fn create_bucket(&self, bucket: &str) {
        let status = http(reqwest::Method::PUT, &format!("{}/{bucket}", self.endpoint)).unwrap();
        assert_eq!(status, 200, "creating bucket {bucket}");
    }

    /// The sink's `s3` settings for this server.
    pub fn s3_config(&self) -> Value {
        json!({
            "endpoint": self.endpoint, "region": "us-east-1", "access_key_id": "testing",
            "secret_access_key": "testing", "force_path_style": true, "allow_http": true
        })
    }

    pub fn store(&self, bucket: &str) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(&self.endpoint)
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            .build()
            .unwrap()
    }
}
