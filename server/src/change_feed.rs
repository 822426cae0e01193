//! One LISTEN connection per process for every in-memory copy that must hear of changes made
//! anywhere: verified API keys (`atrium_api_keys`) and loaded actors (`atrium_actors`). The
//! triggers of migrations 0011 and 0018 announce the changes.
//!
//! A copy is served only while the connection demonstrably works: each process pings itself
//! through the feed, and the moment the connection drops or a ping goes unanswered every
//! subscriber is told to serve nothing kept (fail closed) until the feed is heard again.
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
    pool: PgPool,
    subscribers: Vec<Arc<dyn Subscriber>>,
    live: AtomicBool,
    /// When the connection last delivered anything (ms since `started`).
    last_heard_ms: AtomicU64,
    started: Instant,
    /// Tells this process's markers apart from other processes'.
    token: u64,
    next_marker: AtomicU64,
    waiting: Mutex<HashMap<u64, tokio::sync::oneshot::Sender<()>>>,
    /// Tests slow the delivery down to show that `barrier`, not the speed of loopback, makes
    /// writes visible.
    delay_ms: AtomicU64,
}

impl Feed {
    /// Listens until the process ends; returns once listening, so a caller can start serving
    /// knowing that changes will be heard.
    pub async fn start(
        pool: &PgPool,
        subscribers: Vec<Arc<dyn Subscriber>>,
    ) -> anyhow::Result<(Arc<Feed>, tokio::task::JoinHandle<()>)> {
        let mut channels: Vec<&str> = subscribers.iter().map(|s| s.channel()).collect();
        channels.push(CHANNEL);
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen_all(channels).await?;
        let feed = Arc::new(Feed {
            pool: pool.clone(),
            subscribers,
            live: AtomicBool::new(false),
            last_heard_ms: AtomicU64::new(0),
            started: Instant::now(),
            token: rand::random(),
            next_marker: AtomicU64::new(0),
            waiting: Mutex::new(HashMap::new()),
            delay_ms: AtomicU64::new(0),
        });
        feed.heard();
        let pinger = tokio::spawn(ping(feed.clone()));
        let task = {
            let feed = feed.clone();
            tokio::spawn(async move {
                let _pinger = AbortOnDrop(pinger);
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
                        // try_recv reconnects and listens again; the first ping heard through it
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
        self.heard();
        if channel == CHANNEL {
            if let Some(marker) = payload.strip_prefix(&format!("sync:{}:", self.token)) {
                if let Some(done) = marker.parse().ok().and_then(|n: u64| self.waiting.lock().expect("lock").remove(&n))
                {
                    let _ = done.send(());
                }
            }
            return;
        }
        for s in self.subscribers.iter().filter(|s| s.channel() == channel) {
            s.changed(payload);
        }
    }

    fn heard(&self) {
        self.last_heard_ms.store(self.started.elapsed().as_millis() as u64, Ordering::Release);
        if !self.live.load(Ordering::Acquire) {
            for s in &self.subscribers {
                s.resumed();
            }
            self.live.store(true, Ordering::Release);
        }
    }

    fn lose(&self, why: &str) {
        if self.live.swap(false, Ordering::AcqRel) {
            tracing::warn!("in-memory caches off: {why}");
        }
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
            .execute(&self.pool)
            .await;
        let back = sent.is_ok() && tokio::time::timeout(BARRIER_DEADLINE, heard).await.is_ok();
        if !back {
            self.waiting.lock().expect("lock").remove(&n);
            self.lose("a barrier marker did not come back");
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn ping(feed: Arc<Feed>) {
    let mut tick = tokio::time::interval(PING_EVERY);
    loop {
        tick.tick().await;
        let sent =
            sqlx::query("SELECT pg_notify($1, 'ping:' || pg_backend_pid())").bind(CHANNEL).execute(&feed.pool).await;
        let silent_ms = feed.started.elapsed().as_millis() as u64 - feed.last_heard_ms.load(Ordering::Acquire);
        if sent.is_err() || silent_ms > PING_DEADLINE.as_millis() as u64 {
            feed.lose("the notification connection stopped answering");
        }
    }
}
