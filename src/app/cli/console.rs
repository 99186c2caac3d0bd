//! `smokewatch run --console windows|alerts|dead-letters`: the daemon itself prints, to
//! stdout, the tables `smokewatch tail` prints (the Smart Home job's
//! console sink), from its live views rather than over HTTP. Logs go to
//! stderr, so the two do not mix in a pipe.

use super::tail::{Follower, Format, KeyArg, TableKind, Tailed};
use crate::stream::KeyKind;
use crate::stream::sinks::{LiveViews, WindowName};
use serde_json::json;
use std::io::Write;
use std::time::Duration;

/// How often the live views are compared with the previous look: the
/// stream's triggers are at least this far apart by default (10 s).
const LOOK_INTERVAL: Duration = Duration::from_secs(1);

/// Prints a batch whenever the tailed rows changed; runs until dropped.
pub async fn print(what: Tailed, live: LiveViews) {
    let table = match what {
        Tailed::Windows => TableKind::windows(KeyArg::RoomSensor),
        Tailed::Alerts => TableKind::alerts(),
        Tailed::DeadLetters => TableKind::dead_letters(),
    };
    let mut follower = Follower::new(table, Format::Table);
    let mut ticks = tokio::time::interval(LOOK_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // The same shape as the HTTP API's answer, so `tail` and the
        // console print the same tables.
        let body = match what {
            Tailed::Windows => {
                let updates = live.window_updates();
                let windows: Vec<_> = live
                    .current_windows()
                    .into_iter()
                    .filter(|w| {
                        w.window == WindowName::Tumbling && w.key_kind == KeyKind::RoomSensor
                    })
                    .collect();
                json!({"updates": updates, "windows": windows})
            }
            Tailed::Alerts => json!({"alerts": live.recent_alerts()}),
            Tailed::DeadLetters => {
                let (notes, updates) = live.recent_dead_letters();
                json!({"updates": updates, "dead_letters": notes})
            }
        };
        match follower.next(&body) {
            Ok(Some(text)) => {
                let mut out = std::io::stdout().lock();
                if out
                    .write_all(text.as_bytes())
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    // stdout closed: nobody reads the console any more.
                    tracing::warn!("--console: stdout is closed; console output stops");
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("--console: {}; console output stops", e.message());
                return;
            }
        }
    }
}
