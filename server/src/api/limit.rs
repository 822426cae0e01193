//! Per-key rate limits: a generic cell rate algorithm (GCRA) per key, in memory. A key with
//! a limit of N per minute may burst N requests, then gets one every 60/N seconds.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the full allowance is back.
    pub reset: u64,
    /// Seconds to wait before the next request can pass (when refused).
    pub retry_after: u64,
}

#[derive(Default)]
pub struct RateLimiter {
    /// The theoretical arrival time of the next request, per key.
    tat: Mutex<HashMap<Uuid, Instant>>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl RateLimiter {
    pub fn check(&self, key: Uuid, per_minute: u32) -> Decision {
        self.check_at(key, per_minute, Instant::now())
    }

    fn check_at(&self, key: Uuid, per_minute: u32, now: Instant) -> Decision {
        let per_minute = per_minute.max(1);
        let interval = WINDOW / per_minute;
        let mut map = self.tat.lock().expect("limiter lock");
        let tat = map.get(&key).copied().unwrap_or(now).max(now);
        let next = tat + interval;
        let ahead = next - now;
        if ahead > WINDOW {
            let wait = ahead - WINDOW;
            let reset = (tat - now).as_secs_f64().ceil() as u64;
            return Decision { allowed: false, limit: per_minute, remaining: 0, reset, retry_after: ceil_secs(wait) };
        }
        map.insert(key, next);
        let remaining = ((WINDOW - ahead).as_nanos() / interval.as_nanos()) as u32;
        Decision { allowed: true, limit: per_minute, remaining, reset: ceil_secs(ahead), retry_after: 0 }
    }

    /// Drops keys whose allowance is full again (called by the usage flusher's tick).
    pub fn prune(&self) {
        let now = Instant::now();
        self.tat.lock().expect("limiter lock").retain(|_, tat| *tat > now);
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_the_limit_passes_then_one_per_interval() {
        let l = RateLimiter::default();
        let key = Uuid::new_v4();
        let t0 = Instant::now();
        for i in 0..5 {
            let d = l.check_at(key, 5, t0);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 4 - i);
        }
        let refused = l.check_at(key, 5, t0);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, 12);
        assert!(l.check_at(key, 5, t0 + Duration::from_secs(12)).allowed);
        assert!(!l.check_at(key, 5, t0 + Duration::from_secs(12)).allowed);
        // Another key has its own allowance.
        assert!(l.check_at(Uuid::new_v4(), 5, t0).allowed);
    }
}
