//! A real local HTTP receiver for deliveries: records every request, answers from a script,
//! and verifies Standard Webhooks signatures the way a partner's endpoint would.
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub enum Reply {
    Status(u16),
    /// A status with extra headers (Retry-After, Location).
    With(u16, Vec<(&'static str, String)>),
    /// A body with the status.
    Body(u16, String),
    /// Waits this long before answering 200 (longer than the worker's timeout: a timeout).
    Hang(Duration),
}

#[derive(Clone, Debug)]
pub struct Hit {
    pub at: Instant,
    pub headers: HeaderMap,
    pub body: String,
}

impl Hit {
    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    }
}

#[derive(Default)]
struct Inner {
    hits: Vec<Hit>,
    script: VecDeque<Reply>,
    /// webhook-ids answered with a 2xx: what the receiver processed.
    processed: Vec<String>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let router = axum::Router::new().route("/hook", axum::routing::post(handle)).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Receiver { url, inner }
    }

    /// The next replies, in order; after them, 200.
    pub fn script(&self, replies: Vec<Reply>) {
        self.inner.lock().unwrap().script.extend(replies);
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.inner.lock().unwrap().hits.clone()
    }

    pub fn processed(&self) -> Vec<String> {
        self.inner.lock().unwrap().processed.clone()
    }
}

async fn handle(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: Bytes) -> Response {
    let reply = {
        let mut g = inner.lock().unwrap();
        g.hits.push(Hit { at: Instant::now(), headers: headers.clone(), body: String::from_utf8_lossy(&body).into() });
        g.script.pop_front().unwrap_or(Reply::Status(200))
    };
    let (status, extra, text) = match reply {
        Reply::Status(s) => (s, vec![], "{\"ok\":true}".to_string()),
        Reply::With(s, h) => (s, h, String::new()),
        Reply::Body(s, b) => (s, vec![], b),
        Reply::Hang(d) => {
            // Dropped mid-wait when the worker gives up or dies: never processed.
            tokio::time::sleep(d).await;
            (200, vec![], "{\"ok\":true}".to_string())
        }
    };
    if (200..300).contains(&status) {
        let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        inner.lock().unwrap().processed.push(id);
    }
    let mut res = (StatusCode::from_u16(status).unwrap(), text).into_response();
    for (k, v) in extra {
        res.headers_mut().insert(k, v.parse().unwrap());
    }
    res
}

/// Verifies a delivery as the Standard Webhooks reference libraries do: the signature over
/// "{id}.{timestamp}.{body}" with the secret's decoded bytes, and a timestamp within 5 minutes.
pub fn verify(secret: &str, hit: &Hit) -> bool {
    let key = base64::engine::general_purpose::STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let (id, ts) = (hit.header("webhook-id"), hit.header("webhook-timestamp"));
    let Ok(ts_n) = ts.parse::<i64>() else { return false };
    if (time::OffsetDateTime::now_utc().unix_timestamp() - ts_n).abs() > 300 {
        return false;
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{}", hit.body).as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    hit.header("webhook-signature").split(' ').any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}
