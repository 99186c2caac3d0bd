//! The watched folder end to end, in the in-process daemon: CSV files in
//! the data set's format dropped in are stored row for row, malformed rows
//! are quarantined with their line numbers, and nothing is ingested twice —
//! not after a restart, not when the same content comes back under another
//! name, not after a crash between staging and publishing.

mod batch_common;

use batch_common::*;
use smokewatch::app::daemon::Daemon;
use smokewatch::batch::ingest::{IngestOutcome, Ingester, hash_file, ledger_path};
use smokewatch::batch::ledger::{IngestState, Ledger, LedgerEntry};
use smokewatch::schema::registry::DeviceRegistry;
use smokewatch::store::HistoryStore;
use smokewatch::supervisor::TaskState;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Row indexes broken in the bad copy, and how: (index, reason).
const BROKEN: [(usize, &str); 3] = [(10, "wrong_type"), (500, "not_finite"), (4000, "short_row")];

/// `text` with three rows broken: a non-number, NaN, a cut-off row.
fn break_rows(text: &str) -> (String, Vec<(u64, String)>) {
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_string).collect();
    let mut broken = Vec::new();
    for (index, reason) in BROKEN {
        let line = index + 1; // 0-based position in `lines` (header first)
        let mut cells: Vec<String> = lines[line].split(',').map(str::to_string).collect();
        match reason {
            "wrong_type" => cells[4] = "abc".into(),
            "not_finite" => cells[3] = "NaN".into(),
            _ => cells.truncate(12),
        }
        lines[line] = cells.join(",");
        broken.push(((line + 1) as u64, lines[line].clone()));
    }
    (lines.join("\r\n"), broken)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_csv_files_are_stored_bad_rows_quarantined_and_restarts_ingest_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(config(dir.path()));
    let incoming = config.batch.incoming_dir.clone();
    let readings = history(5_000, 1, 11, 1);
    let good = csv_text(&readings);
    let (bad, broken) = break_rows(&good);

    let daemon = Daemon::start(config.clone()).await.unwrap();
    drop_file(&incoming, "h001-kitchen-smoke.csv", good.as_bytes());
    drop_file(
        &incoming,
        "h002-kitchen-smoke__bad-copy.csv",
        bad.as_bytes(),
    );
    let processed = incoming.join("processed");
    wait_until("both files processed", Duration::from_secs(60), || {
        file_names(&processed).len() == 2
    })
    .await;
    assert!(
        file_names(&incoming).is_empty(),
        "{:?}",
        file_names(&incoming)
    );

    // Every valid row is in the store, exactly once, as it was in the file.
    let mut expected = as_stored("h001-kitchen-smoke", &readings);
    let mut second = as_stored("h002-kitchen-smoke", &readings);
    for (index, _) in BROKEN.iter().rev() {
        second.remove(*index);
    }
    expected.extend(second);
    let stored = store_readings(&config.batch.store_dir);
    assert_eq!(stored.len(), 5_000 + 4_997);
    assert_same(&stored, &expected);

    // Exactly the three malformed rows are quarantined, with line numbers.
    let quarantine = incoming.join("quarantine");
    let names = file_names(&quarantine);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].starts_with("h002-kitchen-smoke__bad-copy.csv."),
        "{names:?}"
    );
    let rows: Vec<csv::StringRecord> = csv::Reader::from_path(quarantine.join(&names[0]))
        .unwrap()
        .records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 3);
    for (row, ((line, raw), (_, reason))) in rows.iter().zip(broken.iter().zip(BROKEN)) {
        assert_eq!(row[0].parse::<u64>().unwrap(), *line);
        assert_eq!(&row[1], reason);
        assert!(row[2].starts_with(&format!("line {line}")), "{:?}", &row[2]);
        assert_eq!(&row[3], raw.as_str());
    }
    let ingests = daemon.handles().batch.snapshot().recent_ingests;
    assert_eq!(ingests.len(), 2);
    let summary = daemon.stop().await;
    assert!(summary.is_clean(), "{:?}", summary.aborted);

    // Restart, and drop both files in again under other names.
    let files_before: Vec<String> = HistoryStore::new(&config.batch.store_dir)
        .files()
        .unwrap()
        .into_iter()
        .map(|f| f.relative)
        .collect();
    let daemon = Daemon::start(config.clone()).await.unwrap();
    drop_file(&incoming, "again.csv", good.as_bytes());
    drop_file(&incoming, "h002-kitchen-smoke.csv", bad.as_bytes());
    wait_until("the copies processed", Duration::from_secs(60), || {
        file_names(&processed).len() == 4
    })
    .await;
    assert_eq!(
        daemon.health().task("batch/watcher").map(|t| t.state),
        Some(TaskState::Running)
    );
    daemon.stop().await;
    let files_after: Vec<String> = HistoryStore::new(&config.batch.store_dir)
        .files()
        .unwrap()
        .into_iter()
        .map(|f| f.relative)
        .collect();
    assert_eq!(files_after, files_before, "nothing was stored again");
    assert_same(&store_readings(&config.batch.store_dir), &expected);
    let ledger = Ledger::open(&ledger_path(&config.batch)).unwrap();
    assert_eq!(ledger.entries().count(), 2, "one entry per content");
    assert_eq!(file_names(&quarantine).len(), 1);
}

#[test]
fn a_crash_between_staging_and_publishing_is_finished_once_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let incoming = &config.batch.incoming_dir;
    let store = HistoryStore::new(&config.batch.store_dir);
    let cancel = CancellationToken::new();
    let readings = history(3_000, 1, 5, 1);
    drop_file(
        incoming,
        "h001-kitchen-smoke.csv",
        csv_text(&readings).as_bytes(),
    );
    let path = incoming.join("h001-kitchen-smoke.csv");
    let (hash, _) = hash_file(&path).unwrap();
    let mut ingester = Ingester::open(&config.batch, DeviceRegistry::new()).unwrap();
    let IngestOutcome::Ingested(entry) = ingester.ingest(&path, &cancel).unwrap() else {
        panic!("not ingested");
    };
    drop(ingester);

    // Put the world back as a crash after "publishing" was recorded would
    // leave it: parts still staged, input file still in the folder.
    let staging = store.staging_dir(&format!("ingest-{}", &hash[..16]));
    for part in &entry.parts {
        let staged = staging.join(part);
        std::fs::create_dir_all(staged.parent().unwrap()).unwrap();
        std::fs::rename(store.root().join(part), staged).unwrap();
    }
    std::fs::rename(incoming.join("processed/h001-kitchen-smoke.csv"), &path).unwrap();
    let mut ledger = Ledger::open(&ledger_path(&config.batch)).unwrap();
    ledger
        .record(LedgerEntry {
            state: IngestState::Publishing,
            ..entry.clone()
        })
        .unwrap();
    assert!(store_readings(store.root()).is_empty());

    let mut ingester = Ingester::open(&config.batch, DeviceRegistry::new()).unwrap();
    assert_eq!(
        ingester.ledger().get(&hash).map(|e| e.state),
        Some(IngestState::Ingested)
    );
    let again = ingester.ingest(&path, &cancel).unwrap();
    assert!(
        matches!(again, IngestOutcome::Duplicate { .. }),
        "{again:?}"
    );
    assert_same(
        &store_readings(store.root()),
        &as_stored("h001-kitchen-smoke", &readings),
    );
    assert!(!staging.exists());
}

#[test]
fn a_crash_before_publishing_leaves_nothing_and_the_file_is_ingested_once_after() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let incoming = &config.batch.incoming_dir;
    let store = HistoryStore::new(&config.batch.store_dir);
    let readings = history(2_000, 1, 6, 1);
    drop_file(incoming, "d.csv", csv_text(&readings).as_bytes());
    let path = incoming.join("d.csv");
    let (hash, bytes) = hash_file(&path).unwrap();
    // The crash: an entry "started" and a half-written staging folder.
    Ledger::open(&ledger_path(&config.batch))
        .unwrap()
        .record(LedgerEntry::started(&hash, "d.csv", bytes))
        .unwrap();
    let staged = store
        .staging_dir(&format!("ingest-{}", &hash[..16]))
        .join("date=2022-06-08/ingest-x-00000.parquet");
    std::fs::create_dir_all(staged.parent().unwrap()).unwrap();
    std::fs::write(&staged, b"half a parquet file").unwrap();

    let mut ingester = Ingester::open(&config.batch, DeviceRegistry::new()).unwrap();
    assert!(
        !staged.exists(),
        "unpublished staging is discarded at start"
    );
    let outcome = ingester.ingest(&path, &CancellationToken::new()).unwrap();
    assert!(matches!(outcome, IngestOutcome::Ingested(_)), "{outcome:?}");
    assert_same(&store_readings(store.root()), &as_stored("d", &readings));
}

#[test]
fn a_cancelled_ingest_stores_nothing_and_leaves_the_file_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let incoming = &config.batch.incoming_dir;
    drop_file(
        incoming,
        "d.csv",
        csv_text(&history(5_000, 1, 7, 1)).as_bytes(),
    );
    let mut ingester = Ingester::open(&config.batch, DeviceRegistry::new()).unwrap();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let err = ingester
        .ingest(&incoming.join("d.csv"), &cancel)
        .unwrap_err();
    assert!(err.to_string().contains("cancelled"), "{err}");
    assert!(store_readings(&config.batch.store_dir).is_empty());
    assert_eq!(file_names(incoming), ["d.csv"]);
    let outcome = ingester
        .ingest(&incoming.join("d.csv"), &CancellationToken::new())
        .unwrap();
    assert!(matches!(outcome, IngestOutcome::Ingested(ref e) if e.rows_stored == 5_000));
}
