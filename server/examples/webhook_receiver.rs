//! A receiver for the delivery benchmark (bench/deliveries.py): answers every POST /hook with
//! 204 at once and counts the distinct webhook-ids it saw; GET /count returns how many.
//! A duplicate webhook-id would mean a delivery was sent twice.
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Seen {
    ids: HashSet<String>,
    duplicates: u64,
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(9900);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = axum::Router::new()
        .route(
            "/hook",
            post(|State(seen): State<Arc<Mutex<Seen>>>, headers: HeaderMap| async move {
                let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                let mut s = seen.lock().unwrap();
                if !s.ids.insert(id) {
                    s.duplicates += 1;
                }
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/count",
            get(|State(seen): State<Arc<Mutex<Seen>>>| async move {
                let s = seen.lock().unwrap();
                // Duplicates are added in, so a double send shows up as too many arrivals.
                format!("{}", s.ids.len() as u64 + s.duplicates)
            }),
        )
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    println!("listening on {port}");
    axum::serve(listener, app).await.unwrap();
}
