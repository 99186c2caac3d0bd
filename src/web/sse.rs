//! `GET /api/stream`: the dashboard feed as Server-Sent Events.
//!
//! On connect a client gets one `history` event (the snapshots of the last
//! few minutes, or those after its `Last-Event-ID` when it reconnects),
//! then a `snapshot` event each second. The stream ends when the daemon
//! shuts down, so an open dashboard never holds up a graceful stop.

use super::App;
use super::feed::Snapshot;
use futures::{Stream, StreamExt};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use warp::sse::Event;

/// How long a browser waits before reconnecting after the stream ends.
const RETRY: Duration = Duration::from_secs(2);

/// The SSE response for one client.
pub fn reply(app: &App, last_event_id: Option<String>) -> warp::reply::Response {
    use warp::Reply as _;
    let after = last_event_id.and_then(|id| id.trim().parse::<u64>().ok());
    let stream = events(app, after);
    let stream = warp::sse::keep_alive()
        .interval(Duration::from_secs(15))
        .stream(stream);
    warp::sse::reply(stream).into_response()
}

fn events(
    app: &App,
    after: Option<u64>,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + Sync + 'static {
    let history = app.feed.history_after(after);
    let last_sent = history.last().map(|s| s.seq).or(after);
    let first = history_event(&history);
    let mut updates = app.feed.subscribe();
    updates.mark_unchanged();
    let guard = app.stats.sse_client();
    let shutdown = app.shutdown.clone();
    let live = futures::stream::unfold(
        (updates, last_sent, guard),
        |(mut updates, last_sent, guard)| async move {
            loop {
                updates.changed().await.ok()?;
                let latest = updates.borrow_and_update().clone();
                if let Some(snapshot) = latest
                    && last_sent.is_none_or(|seq| snapshot.seq > seq)
                {
                    let seq = snapshot.seq;
                    return Some((snapshot_event(&snapshot), (updates, Some(seq), guard)));
                }
            }
        },
    );
    futures::stream::iter([first])
        .chain(live)
        .map(Ok)
        .take_until(async move { shutdown.cancelled_owned().await })
}

fn history_event(history: &[Arc<Snapshot>]) -> Event {
    let event = Event::default().event("history").retry(RETRY);
    let event = match history.last() {
        Some(last) => event.id(last.seq.to_string()),
        None => event,
    };
    json_event(event, &history)
}

fn snapshot_event(snapshot: &Snapshot) -> Event {
    let event = Event::default()
        .event("snapshot")
        .id(snapshot.seq.to_string());
    json_event(event, snapshot)
}

/// Serialising these plain structs cannot fail; if it ever did, the client
/// gets a comment line instead of a broken stream.
fn json_event(event: Event, data: &impl serde::Serialize) -> Event {
    match serde_json::to_string(data) {
        Ok(json) => event.data(json),
        Err(e) => Event::default().comment(format!("snapshot not serialisable: {e}")),
    }
}
