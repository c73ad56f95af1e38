//! Reads a snapshot with the Rust server's format types and prints what that
//! server would hold, in the canonical text form of the fixtures' README:
//!
//!     next_generation <n>
//!     config <bucket> <compact JSON>                      (sorted by bucket)
//!     status <bucket> <key> <AWS word> <generation> <ns>  (sorted by bucket, key)
//!
//! `<ns>` is recorded_at in nanoseconds since the epoch, or `NOW` where the
//! file had none (the server stamps its load time there). A file the server
//! would reject prints `ERR <serde_json's message>` and exits with 1.
//!
//! The types below mirror the server's exactly (field names, order, Option,
//! untagged legacy form, defaults): the point is to accept and reject what it
//! does, with its error wording. So they have none of s3repl's own members
//! (a rule's "aws", an entry's "destinations", "versions", "generations_exhausted"):
//! serde skips unknown fields, as the server's reader does.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use serde_derive::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct ReplicationFilter {
    prefix: Option<String>,
    tags: Vec<(String, String)>,
}

#[derive(Serialize, Deserialize)]
struct ReplicationRule {
    id: String,
    priority: u32,
    status_enabled: bool,
    filter: ReplicationFilter,
    destination_bucket: String,
    destination_storage_class: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct ReplicationConfig {
    role: String,
    rules: Vec<ReplicationRule>,
}

#[derive(Clone, Copy, Deserialize)]
enum ReplicationStatus {
    Pending,
    Completed,
    Failed,
    Replica,
}

impl ReplicationStatus {
    fn aws_word(self) -> &'static str {
        match self {
            ReplicationStatus::Pending => "PENDING",
            ReplicationStatus::Completed => "COMPLETED",
            ReplicationStatus::Failed => "FAILED",
            ReplicationStatus::Replica => "REPLICA",
        }
    }
}

#[derive(Deserialize)]
struct Entry {
    status: ReplicationStatus,
    generation: u64,
    recorded_at: Option<DateTime<Utc>>,
}

/// The oldest snapshots hold a bare status where entries are now objects.
#[derive(Deserialize)]
#[serde(untagged)]
enum StatusOrEntry {
    Status(ReplicationStatus),
    Entry(Entry),
}

#[derive(Deserialize)]
struct Snapshot {
    by_bucket: HashMap<String, ReplicationConfig>,
    statuses: Vec<((String, String), StatusOrEntry)>,
    #[serde(default)]
    next_generation: u64,
}

/// recorded_at as integer nanoseconds; i128 because chrono's own
/// timestamp_nanos overflows on the way for the earliest times an i64 holds.
fn nanos_since_epoch(t: &DateTime<Utc>) -> i128 {
    i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos())
}

fn canonical(snapshot: Snapshot) -> Result<String, serde_json::Error> {
    let mut out = format!("next_generation {}\n", snapshot.next_generation.max(1));
    let configs: BTreeMap<String, ReplicationConfig> = snapshot.by_bucket.into_iter().collect();
    for (bucket, config) in &configs {
        out += &format!("config {} {}\n", bucket, serde_json::to_string(config)?);
    }
    // The server keeps statuses in a map: a (bucket, key) listed twice ends
    // up with the later entry.
    let mut statuses = BTreeMap::new();
    for (bucket_key, value) in snapshot.statuses {
        let entry = match value {
            StatusOrEntry::Status(status) => Entry { status, generation: 0, recorded_at: None },
            StatusOrEntry::Entry(entry) => entry,
        };
        statuses.insert(bucket_key, entry);
    }
    for ((bucket, key), entry) in &statuses {
        let recorded_at = match &entry.recorded_at {
            Some(t) => nanos_since_epoch(t).to_string(),
            None => "NOW".to_string(),
        };
        out += &format!(
            "status {} {} {} {} {}\n",
            serde_json::to_string(bucket)?,
            serde_json::to_string(key)?,
            entry.status.aws_word(),
            entry.generation,
            recorded_at
        );
    }
    Ok(out)
}

fn run(path: &str) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {}", path, e))?;
    let snapshot: Snapshot = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    canonical(snapshot).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 2 {
        eprintln!("usage: {} SNAPSHOT.json", args[0]);
        return ExitCode::from(2);
    }
    match run(&args[1]) {
        Ok(text) => {
            print!("{}", text);
            ExitCode::SUCCESS
        }
        Err(message) => {
            println!("ERR {}", message);
            ExitCode::from(1)
        }
    }
}
