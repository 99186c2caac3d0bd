//! The `batch/scheduler` service task: runs the job at the times of
//! `batch.job.schedule` and whenever [`BatchStatus::trigger`] asks, one
//! run at a time (a scheduled time that finds a run in progress is
//! skipped). A failed run leaves the task degraded in /health with the
//! reason until a later run succeeds; there is no immediate retry: the next
//! scheduled time is the retry, and it picks up the same new data.
//!
//! At shutdown a run in progress is cancelled (it stops at its next file or
//! training step; nothing of it is recorded as seen) and awaited.

use super::config::Schedule;
use super::report::{RunRecord, RunStatus, Trigger};
use super::status::{BatchStatus, RunRequest};
use crate::supervisor::{TaskContext, TaskReport, TaskResult};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

/// The scheduler's end of the run-request channel; survives restarts.
pub(crate) type Requests = Arc<Mutex<mpsc::Receiver<RunRequest>>>;

pub(crate) async fn run(
    ctx: TaskContext,
    status: BatchStatus,
    schedule: Schedule,
    requests: Requests,
    cancel: CancellationToken,
) -> TaskResult {
    let mut requests = requests.lock().await;
    let mut next = schedule.next_after(Utc::now());
    ctx.health.running();
    tracing::info!(
        "batch job scheduled: {schedule} (next run {})",
        describe(next)
    );
    let mut runs = 0u64;
    loop {
        let wait = next
            .and_then(|t| (t - Utc::now()).to_std().ok())
            .unwrap_or_default();
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait), if next.is_some() => {
                next = schedule.next_after(Utc::now());
                match status.claim(Trigger::Schedule) {
                    Ok(record) => {
                        let done = execute(&status, record, &ctx, &cancel).await;
                        runs += 1;
                        report_health(&ctx, &done, next);
                    }
                    Err(refused) => tracing::info!("scheduled batch run skipped: {refused}"),
                }
            }
            request = requests.recv() => {
                let Some(request) = request else { break };
                let done = execute(&status, request.record, &ctx, &cancel).await;
                runs += 1;
                report_health(&ctx, &done, next);
                if let Some(reply) = request.done {
                    let _ = reply.send(done);
                }
            }
        }
    }
    status.set_requests(None);
    Ok(TaskReport::new(format!("stopped after {runs} batch runs")))
}

/// Runs a claimed run on a blocking thread; at shutdown, cancels it and
/// waits for it to stop.
async fn execute(
    status: &BatchStatus,
    record: RunRecord,
    ctx: &TaskContext,
    cancel: &CancellationToken,
) -> RunRecord {
    let claimed = record.clone();
    let worker = status.clone();
    let mut handle = tokio::task::spawn_blocking(move || worker.execute(record));
    let joined = tokio::select! {
        joined = &mut handle => joined,
        _ = ctx.shutdown.cancelled() => {
            tracing::info!(run = %claimed.run_id, "stopping: cancelling the batch run in progress");
            cancel.cancel();
            handle.await
        }
    };
    match joined {
        Ok(done) => done,
        Err(e) => {
            status.release(&claimed.run_id);
            claimed.failed(format!("the run's thread failed: {e}"))
        }
    }
}

fn report_health(ctx: &TaskContext, done: &RunRecord, next: Option<DateTime<Utc>>) {
    match done.status {
        RunStatus::Failed => ctx.health.degraded(format!(
            "batch run {} failed: {}; retrying at the next scheduled run ({})",
            done.run_id,
            done.error.as_deref().unwrap_or("unknown error"),
            describe(next)
        )),
        RunStatus::Success | RunStatus::Running => ctx.health.running(),
    }
}

fn describe(next: Option<DateTime<Utc>>) -> String {
    next.map_or("never".to_string(), |t| {
        t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    })
}
