//! One LISTEN connection per process for every in-memory copy that must hear of changes made
//! anywhere: verified API keys (`atrium_api_keys`) and loaded actors (`atrium_actors`). The
//! triggers of migrations 0011 and 0018 announce the changes.
//!
//! A copy is served only while the connection demonstrably works: each process pings itself
//! through the feed, and the moment the connection drops, one of its own pings goes unanswered
//! too long, or the listening task ends, every subscriber is told to serve nothing kept (fail
//! closed) until a ping sent after that comes back.
//!
//! `barrier` gives a process read-your-writes: PostgreSQL delivers notifications in commit
//! order, so once a marker sent after a commit comes back, every change that commit announced
//! has been applied here.
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The feed's own channel: pings and barrier markers.
pub const CHANNEL: &str = "atrium_feed";

/// How often each process pings itself, and how long a ping may go unanswered before the
/// subscribers are switched off. A connection that drops is noticed at once; these catch one
/// that silently stops delivering.
const PING_EVERY: Duration = Duration::from_secs(2);
const PING_DEADLINE: Duration = Duration::from_secs(5);
/// A barrier marker that has not come back by then means the feed is not working.
const BARRIER_DEADLINE: Duration = Duration::from_secs(2);

/// Something kept in memory that a channel's notifications invalidate.
pub trait Subscriber: Send + Sync {
    fn channel(&self) -> &'static str;
    /// A change was announced on the channel.
    fn changed(&self, payload: &str);
    /// The feed works (again). What changed while it did not was not heard: start afresh.
    fn resumed(&self);
    /// Changes may be going unheard: serve nothing kept.
    fn lost(&self, why: &str);
}

pub struct Feed {
    /// Sends pings and barrier markers; not the listening pool, so neither competes with it.
    notify: PgPool,
    subscribers: Vec<Arc<dyn Subscriber>>,
    /// Whether the subscribers serve what they keep, and since which of our pings.
    state: Mutex<Liveness>,
    /// Mirrors `state.live` for lock-free reads.
    live: AtomicBool,
    started: Instant,
    /// Tells this process's pings and markers apart from other processes'.
    token: u64,
    next_ping: AtomicU64,
    next_marker: AtomicU64,
    waiting: Mutex<HashMap<u64, tokio::sync::oneshot::Sender<()>>>,
    /// Tests slow the delivery down to show that `barrier`, not the speed of loopback, makes
    /// writes visible.
    delay_ms: AtomicU64,
}

/// Only our own pings prove the feed current: another process's ping, or an old message still
/// buffered, says nothing about whether this connection hears what is committed now.
struct Liveness {
    live: bool,
    /// When one of our pings last came back (ms since `started`).
    last_back_ms: u64,
    /// After a loss, a ping numbered at least this must come back before serving again: one
    /// sent after the loss, so through the connection that listens now.
    resume_from: u64,
}

impl Feed {
    /// Listens (on `listen`'s connection) until the process ends; returns once listening, so
    /// a caller can start serving knowing that changes will be heard. Pings and barrier
    /// markers go through `notify`.
    pub async fn start(
        listen: &PgPool,
        notify: &PgPool,
        subscribers: Vec<Arc<dyn Subscriber>>,
    ) -> anyhow::Result<(Arc<Feed>, tokio::task::JoinHandle<()>)> {
        let mut channels: Vec<&str> = subscribers.iter().map(|s| s.channel()).collect();
        channels.push(CHANNEL);
        let mut listener = sqlx::postgres::PgListener::connect_with(listen).await?;
        // A dropped connection is reported at once (`Ok(None)`), not after reconnecting.
        listener.eager_reconnect(false);
        listener.listen_all(channels).await?;
        let feed = Arc::new(Feed {
            notify: notify.clone(),
            subscribers,
            state: Mutex::new(Liveness { live: false, last_back_ms: 0, resume_from: 0 }),
            live: AtomicBool::new(false),
            started: Instant::now(),
            token: rand::random(),
            next_ping: AtomicU64::new(0),
            next_marker: AtomicU64::new(0),
            waiting: Mutex::new(HashMap::new()),
            delay_ms: AtomicU64::new(0),
        });
        // LISTEN has returned: everything committed from now on will be delivered.
        feed.resume_if(0);
        let pinger = tokio::spawn(ping(feed.clone()));
        let task = {
            let feed = feed.clone();
            tokio::spawn(async move {
                // However this task ends (a panic included), nothing kept is trusted after it.
                let _guard = LoseOnDrop(feed.clone(), pinger);
                loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => {
                            let delay = feed.delay_ms.load(Ordering::Acquire);
                            if delay > 0 {
                                tokio::time::sleep(Duration::from_millis(delay)).await;
                            }
                            feed.deliver(n.channel(), n.payload())
                        }
                        // The connection dropped: anything may have changed meanwhile. The next
                        // try_recv reconnects and listens again; our first ping heard through it
                        // turns the subscribers back on.
                        Ok(None) => feed.lose("lost the notification connection"),
                        Err(e) => {
                            feed.lose(&format!("notifications: {e}"));
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            })
        };
        Ok((feed, task))
    }

    /// Holds every notification back this long before applying it (tests only).
    #[doc(hidden)]
    pub fn delay_deliveries(&self, delay: Duration) {
        self.delay_ms.store(delay.as_millis() as u64, Ordering::Release);
    }

    /// Is the feed heard (and so are kept copies served)?
    pub fn live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    fn deliver(&self, channel: &str, payload: &str) {
        if channel == CHANNEL {
            let ours = |kind: &str| {
                payload.strip_prefix(&format!("{kind}:{}:", self.token)).and_then(|n| n.parse::<u64>().ok())
            };
            if let Some(n) = ours("ping") {
                self.resume_if(n);
            } else if let Some(n) = ours("sync") {
                if let Some(done) = self.waiting.lock().expect("lock").remove(&n) {
                    let _ = done.send(());
                }
            }
            return;
        }
        for s in self.subscribers.iter().filter(|s| s.channel() == channel) {
            s.changed(payload);
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Our ping number `n` came back (0: LISTEN itself returned): the feed is current.
    fn resume_if(&self, n: u64) {
        let mut state = self.state.lock().expect("lock");
        state.last_back_ms = self.now_ms();
        if !state.live && n >= state.resume_from {
            for s in &self.subscribers {
                s.resumed();
            }
            state.live = true;
            self.live.store(true, Ordering::Release);
        }
    }

    fn lose(&self, why: &str) {
        let mut state = self.state.lock().expect("lock");
        if state.live {
            tracing::warn!("in-memory caches off: {why}");
        }
        state.live = false;
        self.live.store(false, Ordering::Release);
        state.resume_from = self.next_ping.load(Ordering::Acquire) + 1;
        for s in &self.subscribers {
            s.lost(why);
        }
    }

    /// Returns once every change committed before the call has been applied in this process
    /// (or the feed is found not working, and the subscribers serve nothing kept). A request
    /// that changed something calls it before answering, so the caller's next request, on this
    /// process, sees the change.
    pub async fn barrier(&self) {
        if !self.live() {
            return;
        }
        let n = self.next_marker.fetch_add(1, Ordering::AcqRel);
        let (done, heard) = tokio::sync::oneshot::channel();
        self.waiting.lock().expect("lock").insert(n, done);
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("sync:{}:{n}", self.token))
            .execute(&self.notify)
            .await;
        let back = sent.is_ok() && tokio::time::timeout(BARRIER_DEADLINE, heard).await.is_ok();
        if !back {
            self.waiting.lock().expect("lock").remove(&n);
            self.lose("a barrier marker did not come back");
        }
    }
}

struct LoseOnDrop(Arc<Feed>, tokio::task::JoinHandle<()>);

impl Drop for LoseOnDrop {
    fn drop(&mut self) {
        self.1.abort();
        self.0.lose("the notification task ended");
    }
}

/// Pings this process through the feed every `PING_EVERY`; when our own newest answered ping
/// is older than `PING_DEADLINE`, the feed is not current (a silent connection, or one too far
/// behind), whatever else it still delivers.
async fn ping(feed: Arc<Feed>) {
    let mut tick = tokio::time::interval(PING_EVERY);
    loop {
        tick.tick().await;
        let n = feed.next_ping.fetch_add(1, Ordering::AcqRel) + 1;
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("ping:{}:{n}", feed.token))
            .execute(&feed.notify)
            .await;
        let last_back = feed.state.lock().expect("lock").last_back_ms;
        let silent_ms = feed.now_ms().saturating_sub(last_back);
        if sent.is_err() || silent_ms > PING_DEADLINE.as_millis() as u64 {
            feed.lose("the notification connection stopped answering");
        }
    }
}
