//! The actors this process has loaded, kept by session so a page view need not ask the
//! database who its caller is. Kept copies are dropped when the `atrium_actors` feed announces
//! a change (migration 0018), are never used past the session's end or an act-as window's
//! close, are checked again after a minute in any case, and are not used at all while the
//! feed is not heard (the server's change feed says so): then every request loads its actor.
use crate::server_ctx::{Actor, SessionAuth};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use uuid::Uuid;

/// A kept actor is loaded again after this long, in case a notification was lost (and so
/// that the session's last-seen time keeps moving).
const REVALIDATE: Duration = Duration::from_secs(60);
/// Past this many sessions the cache starts afresh.
const MAX_ENTRIES: usize = 100_000;
pub const CHANNEL: &str = "atrium_actors";

struct Kept {
    actor: Actor,
    loaded: Instant,
    /// The session's end, or the act-as window's close if sooner, on the monotonic clock (a
    /// wall clock set back must not stretch a window).
    until: Instant,
}

pub struct ActorCache {
    enabled: bool,
    /// Set while the change feed is heard.
    live: AtomicBool,
    /// Bumped by every change: a load that raced one is not kept.
    epoch: AtomicU64,
    kept: RwLock<HashMap<Uuid, Kept>>,
}

impl ActorCache {
    /// `enabled: false` keeps nothing (`ATRIUM_ACTOR_CACHE=false`).
    pub fn new(enabled: bool) -> ActorCache {
        ActorCache {
            enabled,
            live: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            kept: RwLock::new(HashMap::new()),
        }
    }

    fn serving(&self) -> bool {
        self.enabled && self.live.load(Ordering::Acquire)
    }

    /// The kept actor of this sign-in, if it may still be used.
    pub fn get(&self, auth: &SessionAuth) -> Option<Actor> {
        if !self.serving() {
            return None;
        }
        let kept = self.kept.read().expect("actor cache lock");
        let k = kept.get(&auth.session_id)?;
        let fresh = k.actor.user_id == auth.user_id && k.loaded.elapsed() < REVALIDATE && Instant::now() < k.until;
        fresh.then(|| k.actor.clone())
    }

    /// Call before loading: `keep` stores the load only if nothing changed since.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn keep(&self, actor: &Actor, epoch: u64) {
        if !self.serving() {
            return;
        }
        let ends = match &actor.acting {
            Some(a) => a.until.min(actor.session_expires_at),
            None => actor.session_expires_at,
        };
        let left = (ends - OffsetDateTime::now_utc()).try_into().unwrap_or(Duration::ZERO);
        let until = Instant::now() + left;
        let mut kept = self.kept.write().expect("actor cache lock");
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if kept.len() >= MAX_ENTRIES {
            kept.clear();
        }
        kept.insert(actor.session_id, Kept { actor: actor.clone(), loaded: Instant::now(), until });
    }

    /// Applies one announcement: `s:<session>`, `u:<user>`, or anything else (`*`): all.
    pub fn changed(&self, payload: &str) {
        let mut kept = self.kept.write().expect("actor cache lock");
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let id = |prefix: &str| payload.strip_prefix(prefix).and_then(|s| Uuid::parse_str(s).ok());
        if let Some(session) = id("s:") {
            kept.remove(&session);
        } else if let Some(user) = id("u:") {
            kept.retain(|_, k| k.actor.user_id != user);
        } else {
            kept.clear();
        }
    }

    /// The feed is heard (again): start afresh and serve.
    pub fn resume(&self) {
        self.clear();
        self.live.store(true, Ordering::Release);
    }

    /// The feed may be missing changes: serve nothing kept.
    pub fn lose(&self) {
        self.live.store(false, Ordering::Release);
        self.clear();
    }

    fn clear(&self) {
        let mut kept = self.kept.write().expect("actor cache lock");
        self.epoch.fetch_add(1, Ordering::AcqRel);
        kept.clear();
    }

    /// Is the cache in use (for tests and metrics)?
    pub fn serving_now(&self) -> bool {
        self.serving()
    }

    pub fn len(&self) -> usize {
        self.kept.read().expect("actor cache lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;
    use crate::server_ctx::Acting;

    fn actor(user: Uuid, session: Uuid, ends_in: time::Duration) -> Actor {
        Actor {
            user_id: user,
            email: "a@b.test".into(),
            name: String::new(),
            role: Role::Admin,
            company_id: None,
            allowed_tenants: Vec::new(),
            session_id: session,
            acting: None,
            memberships: Vec::new(),
            grants: Default::default(),
            session_expires_at: OffsetDateTime::now_utc() + ends_in,
        }
    }

    fn auth(a: &Actor) -> SessionAuth {
        SessionAuth { user_id: a.user_id, session_id: a.session_id }
    }

    fn serving_cache() -> ActorCache {
        let c = ActorCache::new(true);
        c.resume();
        c
    }

    #[test]
    fn nothing_is_kept_until_the_feed_is_heard_or_when_switched_off() {
        let a = actor(Uuid::new_v4(), Uuid::new_v4(), time::Duration::hours(1));
        let deaf = ActorCache::new(true);
        deaf.keep(&a, deaf.epoch());
        assert!(deaf.get(&auth(&a)).is_none());
        let off = ActorCache::new(false);
        off.resume();
        off.keep(&a, off.epoch());
        assert!(off.get(&auth(&a)).is_none());
        let on = serving_cache();
        on.keep(&a, on.epoch());
        assert!(on.get(&auth(&a)).is_some());
        on.lose();
        assert!(on.get(&auth(&a)).is_none(), "a lost feed serves nothing");
        on.resume();
        assert!(on.get(&auth(&a)).is_none(), "and starts afresh when heard again");
    }

    #[test]
    fn announcements_drop_the_session_the_user_or_everyone() {
        let c = serving_cache();
        let user = Uuid::new_v4();
        let (one, two) = (
            actor(user, Uuid::new_v4(), time::Duration::hours(1)),
            actor(user, Uuid::new_v4(), time::Duration::hours(1)),
        );
        let other = actor(Uuid::new_v4(), Uuid::new_v4(), time::Duration::hours(1));
        for a in [&one, &two, &other] {
            c.keep(a, c.epoch());
        }
        c.changed(&format!("s:{}", one.session_id));
        assert!(c.get(&auth(&one)).is_none() && c.get(&auth(&two)).is_some());
        c.changed(&format!("u:{user}"));
        assert!(c.get(&auth(&two)).is_none() && c.get(&auth(&other)).is_some());
        c.changed("*");
        assert!(c.is_empty());
    }

    #[test]
    fn a_load_that_raced_a_change_is_not_kept() {
        let c = serving_cache();
        let a = actor(Uuid::new_v4(), Uuid::new_v4(), time::Duration::hours(1));
        let before = c.epoch();
        c.changed(&format!("u:{}", Uuid::new_v4()));
        c.keep(&a, before);
        assert!(c.get(&auth(&a)).is_none());
    }

    #[test]
    fn a_kept_actor_ends_with_its_session_or_its_act_as_window_and_belongs_to_its_user() {
        let c = serving_cache();
        let ended = actor(Uuid::new_v4(), Uuid::new_v4(), -time::Duration::seconds(1));
        c.keep(&ended, c.epoch());
        assert!(c.get(&auth(&ended)).is_none(), "past the session's end");
        let mut acting = actor(Uuid::new_v4(), Uuid::new_v4(), time::Duration::hours(1));
        acting.acting = Some(Acting {
            company_id: Uuid::new_v4(),
            until: OffsetDateTime::now_utc() - time::Duration::seconds(1),
            reason: "ticket".into(),
        });
        c.keep(&acting, c.epoch());
        assert!(c.get(&auth(&acting)).is_none(), "past the act-as window");
        let a = actor(Uuid::new_v4(), Uuid::new_v4(), time::Duration::hours(1));
        c.keep(&a, c.epoch());
        let forged = SessionAuth { user_id: Uuid::new_v4(), session_id: a.session_id };
        assert!(c.get(&forged).is_none(), "a session id with another user");
    }
}
