//! `tributary state show|reset`: what a pipeline's state store holds (windows landed per
//! shard, runs, leases, cursors and bookmarks), and forgetting parts of it so that a
//! `run --resume` lands them again.

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};

use serde::Serialize;
use tributary_engine::config::Pipeline;
use tributary_engine::lease::LeaseRecord;
use tributary_engine::run::Shard;
use tributary_engine::state::{RunRecord, StateStore, WindowRecord};
use tributary_engine::{EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME};

/// One run record, whole pipeline or shard.
#[derive(Debug, Serialize)]
struct RunView {
    /// `K/N`, or empty for an unsharded run.
    shard: String,
    #[serde(flatten)]
    run: RunRecord,
    /// Windows of this shard's plan landed, of how many.
    landed: usize,
    planned: usize,
}

/// One lease object.
#[derive(Debug, Serialize)]
struct LeaseView {
    shard: String,
    #[serde(flatten)]
    lease: LeaseRecord,
    /// Still binding (not expired, holder not known to be gone).
    live: bool,
}

/// What `state show --json` prints.
#[derive(Debug, Serialize)]
struct StateView {
    pipeline: String,
    state_url: String,
    windows_planned: usize,
    /// Landed windows of the current plan.
    landed: Vec<WindowRecord>,
    /// Window ids of the current plan not landed yet, in plan order.
    missing: Vec<String>,
    /// Landed windows that are not in the current plan (an earlier date range).
    outside_plan: Vec<String>,
    runs: Vec<RunView>,
    leases: Vec<LeaseView>,
    /// `cursor-<source>` / `bookmark-<source>` objects as stored.
    cursors: serde_json::Map<String, serde_json::Value>,
}

fn load(file: &std::path::Path) -> Result<Pipeline, u8> {
    crate::sources::load(file).map(|(p, _)| p).map_err(|e| {
        eprint!("{e}");
        EXIT_CONFIG
    })
}

async fn gather(pipeline: &Pipeline, store: &StateStore) -> anyhow::Result<StateView> {
    let today = chrono::Utc::now().date_naive();
    let plan = tributary_engine::run::plan(pipeline, today, None).await?;
    let planned: Vec<String> = plan.iter().map(|w| w.id.clone()).collect();
    let in_plan: BTreeSet<&str> = planned.iter().map(String::as_str).collect();
    let mut landed = Vec::new();
    let mut outside_plan = Vec::new();
    let mut runs = Vec::new();
    let mut leases = Vec::new();
    let mut cursors = serde_json::Map::new();
    let keys = store.keys().await?;
    let mut landed_ids = BTreeSet::new();
    for key in &keys {
        if let Some(id) = key
            .strip_prefix("windows/")
            .and_then(|k| k.strip_suffix(".json"))
        {
            landed_ids.insert(id.to_string());
            if !in_plan.contains(id) {
                outside_plan.push(id.to_string());
            } else if let Some(v) = store.read(key).await? {
                landed.push(serde_json::from_value::<WindowRecord>(v)?);
            }
        }
    }
    for key in &keys {
        let Some(stem) = key.strip_suffix(".json").filter(|k| !k.contains('/')) else {
            continue;
        };
        if let Some(suffix) = stem.strip_prefix("run") {
            let Some(v) = store.read(key).await? else {
                continue;
            };
            let run: RunRecord = serde_json::from_value(v)?;
            let shard = Shard::from_suffix(suffix);
            let mine = match shard {
                Some(s) => tributary_engine::run::plan(pipeline, today, Some(s)).await?,
                None => plan.clone(),
            };
            runs.push(RunView {
                shard: shard.map(|s| s.to_string()).unwrap_or_default(),
                run,
                landed: mine.iter().filter(|w| landed_ids.contains(&w.id)).count(),
                planned: mine.len(),
            });
        } else if let Some(suffix) = stem.strip_prefix("lease") {
            let Some(v) = store.read(key).await? else {
                continue;
            };
            let lease: LeaseRecord = serde_json::from_value(v)?;
            leases.push(LeaseView {
                shard: Shard::from_suffix(suffix)
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                live: lease.live(),
                lease,
            });
        } else if stem.starts_with("cursor-") || stem.starts_with("bookmark-") {
            if let Some(v) = store.read(key).await? {
                cursors.insert(stem.to_string(), v);
            }
        }
    }
    let missing = planned
        .iter()
        .filter(|id| !landed_ids.contains(*id))
        .cloned()
        .collect();
    Ok(StateView {
        pipeline: pipeline.header.name.clone(),
        state_url: store.url().to_string(),
        windows_planned: planned.len(),
        landed,
        missing,
        outside_plan,
        runs,
        leases,
        cursors,
    })
}

fn print_view(v: &StateView) {
    println!("pipeline `{}`, state at {}", v.pipeline, v.state_url);
    println!(
        "windows: {} of {} planned landed{}",
        v.landed.len(),
        v.windows_planned,
        if v.outside_plan.is_empty() {
            String::new()
        } else {
            format!(" (and {} outside the current plan)", v.outside_plan.len())
        }
    );
    if let Some(next) = v.missing.first() {
        println!("  next to land: {next} ({} left)", v.missing.len());
    }
    if let Some(last) = v
        .landed
        .iter()
        .max_by(|a, b| a.completed_at.cmp(&b.completed_at))
    {
        println!(
            "  last landed: {} ({} records, run {}, at {})",
            last.window_id, last.records, last.run_id, last.completed_at
        );
    }
    if v.runs.is_empty() {
        println!("runs: none yet");
    }
    for r in &v.runs {
        let who = if r.shard.is_empty() {
            "run".to_string()
        } else {
            format!("shard {}", r.shard)
        };
        println!(
            "{who}: {} {} (started {}{}), {} of {} of its windows landed",
            r.run.run_id,
            r.run.status,
            r.run.started_at,
            r.run
                .ended_at
                .as_deref()
                .map(|e| format!(", ended {e}"))
                .unwrap_or_default(),
            r.landed,
            r.planned
        );
    }
    let live: Vec<&LeaseView> = v.leases.iter().filter(|l| l.live).collect();
    if live.is_empty() {
        println!("lease: none held");
    }
    for l in live {
        println!(
            "lease{}: held by run {} on {} (pid {}) until {}",
            if l.shard.is_empty() {
                String::new()
            } else {
                format!(" of shard {}", l.shard)
            },
            l.lease.run_id,
            l.lease.host,
            l.lease.pid,
            l.lease.expires_at
        );
    }
    for (k, c) in &v.cursors {
        println!("{k}: {c}");
    }
}

/// The lease of a run of this pipeline that is going, in words, if one is.
///
/// # Errors
/// When the state store cannot be read.
pub async fn live_lease(store: &StateStore) -> anyhow::Result<Option<String>> {
    for key in store
        .keys()
        .await?
        .iter()
        .filter(|k| k.starts_with("lease"))
    {
        if let Some(v) = store.read(key).await? {
            let lease: LeaseRecord = serde_json::from_value(v)?;
            if lease.live() {
                return Ok(Some(format!(
                    "run {} on {} (pid {}) holds {key} until {}",
                    lease.run_id, lease.host, lease.pid, lease.expires_at
                )));
            }
        }
    }
    Ok(None)
}

/// `tributary state show FILE [--json]`.
pub fn show(file: &std::path::Path, json: bool) -> anyhow::Result<u8> {
    let pipeline = match load(file) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let store = StateStore::open(&pipeline.header.state.url, &pipeline.header.name)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let view = rt.block_on(gather(&pipeline, &store))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        print_view(&view);
    }
    Ok(EXIT_OK)
}

/// What `state reset` forgets.
#[derive(Debug)]
pub enum ResetWhat {
    /// These landed windows: a `run --resume` lands them again.
    Windows(Vec<String>),
    /// Every source's incremental cursor and Reporting bookmark.
    Cursors,
    /// Everything but a live lease.
    All,
}

fn confirm(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).is_ok()
        && matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
}

/// The keys `what` names, or an error message naming what is not there.
fn keys_to_delete(what: &ResetWhat, keys: &[String]) -> Result<Vec<String>, String> {
    match what {
        ResetWhat::Windows(ids) => {
            let mut out = Vec::new();
            for id in ids {
                let key = format!("windows/{id}.json");
                if !keys.contains(&key) {
                    let landed: Vec<&str> = keys
                        .iter()
                        .filter_map(|k| k.strip_prefix("windows/")?.strip_suffix(".json"))
                        .take(5)
                        .collect();
                    return Err(format!(
                        "window `{id}` is not recorded as landed (landed windows include: {}); \
                         `tributary state show` lists them",
                        if landed.is_empty() {
                            "none".to_string()
                        } else {
                            landed.join(", ")
                        }
                    ));
                }
                out.push(key);
            }
            Ok(out)
        }
        ResetWhat::Cursors => Ok(keys
            .iter()
            .filter(|k| k.starts_with("cursor-") || k.starts_with("bookmark-"))
            .cloned()
            .collect()),
        ResetWhat::All => Ok(keys
            .iter()
            .filter(|k| !k.starts_with("lease"))
            .cloned()
            .collect()),
    }
}

/// `tributary state reset FILE (--window ID… | --cursor | --all) [--yes]`.
pub fn reset(file: &std::path::Path, what: ResetWhat, yes: bool) -> anyhow::Result<u8> {
    let pipeline = match load(file) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let header = &pipeline.header;
    let store = StateStore::open(&header.state.url, &header.name)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let keys = rt.block_on(store.keys())?;
    // A live run would write its own progress over the reset; refuse while one holds a lease.
    if let Some(held) = rt.block_on(live_lease(&store))? {
        eprintln!(
            "error: {held}: reset the state when no run of `{}` is going",
            header.name
        );
        return Ok(EXIT_RUNTIME);
    }
    let doomed = match keys_to_delete(&what, &keys) {
        Ok(d) => d,
        Err(m) => {
            eprintln!("error: {m}");
            return Ok(EXIT_CONFIG);
        }
    };
    if doomed.is_empty() {
        println!(
            "nothing to reset in the state of `{}` at {}",
            header.name,
            store.url()
        );
        return Ok(EXIT_OK);
    }
    let question = format!(
        "Forget {} state object(s) of pipeline `{}` at {} ({})?",
        doomed.len(),
        header.name,
        store.url(),
        doomed
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
            + if doomed.len() > 3 { ", …" } else { "" }
    );
    if !yes {
        if !std::io::stdin().is_terminal() {
            eprintln!("error: {question}\n  pass --yes to confirm when not at a terminal");
            return Ok(EXIT_CONFIG);
        }
        if !confirm(&question) {
            eprintln!("nothing changed");
            return Ok(EXIT_RUNTIME);
        }
    }
    let mut removed = Vec::new();
    for key in &doomed {
        if rt.block_on(store.delete(key))? {
            removed.push(key.clone());
        }
    }
    if let Some(a) = &header.audit {
        let mut log =
            tributary_engine::audit::AuditLog::open(std::path::Path::new(&a.path), a.key.clone())?;
        let mut entry = serde_json::Map::new();
        entry.insert("kind".into(), "state_reset".into());
        entry.insert("ts".into(), chrono::Utc::now().to_rfc3339().into());
        entry.insert("pipeline".into(), header.name.clone().into());
        entry.insert("state_url".into(), store.url().into());
        entry.insert("what".into(), format!("{what:?}").into());
        entry.insert("removed".into(), removed.clone().into());
        entry.insert("host".into(), tributary_engine::lease::host_name().into());
        entry.insert("pid".into(), std::process::id().into());
        log.append(entry)?;
    }
    println!(
        "forgot {} state object(s) of `{}`: {}",
        removed.len(),
        header.name,
        removed.join(", ")
    );
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_suffixes_parse() {
        assert_eq!(
            Shard::from_suffix("-shard-2-of-3").map(|s| s.to_string()),
            Some("2/3".into())
        );
        assert!(Shard::from_suffix("").is_none());
        assert!(Shard::from_suffix("-shard-3-of-3").is_none());
    }

    #[test]
    fn reset_names_a_window_that_is_not_landed() {
        let keys = vec![
            "windows/a.json".to_string(),
            "cursor-cxone.json".into(),
            "lease.json".into(),
            "run.json".into(),
        ];
        assert_eq!(
            keys_to_delete(&ResetWhat::Windows(vec!["a".into()]), &keys),
            Ok(vec!["windows/a.json".to_string()])
        );
        let e = keys_to_delete(&ResetWhat::Windows(vec!["b".into()]), &keys).unwrap_err();
        assert!(e.contains("`b`") && e.contains("a"), "{e}");
        assert_eq!(
            keys_to_delete(&ResetWhat::Cursors, &keys),
            Ok(vec!["cursor-cxone.json".to_string()])
        );
        let all = keys_to_delete(&ResetWhat::All, &keys).unwrap();
        assert!(!all.contains(&"lease.json".to_string()) && all.len() == 3);
    }
}
