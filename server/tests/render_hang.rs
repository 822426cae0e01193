//! The render hang, reproduced. Generating a leptos route list runs the app with a
//! process-global flag set (`SuppressResourceLoad`), and a resource first polled anywhere in
//! the process while it is set waits forever (leptos #4773). The test binary used to build a
//! router, and so a route list, for every test server while other tests rendered pages: now
//! and then a page never finished. This binary is a process of its own, so the flag it raises
//! cannot reach the other tests.
#[allow(dead_code)]
#[path = "it/helpers.rs"]
mod helpers;

use app::domain::Role;
use helpers::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const PAGES: [&str; 4] = ["/t/acme/users", "/t/acme/api-keys", "/t/acme/audit", "/t/acme/"];

/// Renders each page `rounds` times while `build` runs over and over on a blocking thread;
/// returns the renders that had not finished after 5 s.
async fn stalls_while(app: &TestApp, rounds: usize, build: impl Fn() + Send + 'static) -> Vec<String> {
    let (_, admin) = app.member(app.company("Acme").await, "admin@acme.test", Role::Admin).await;
    let stop = Arc::new(AtomicBool::new(false));
    let builder = {
        let stop = stop.clone();
        tokio::task::spawn_blocking(move || {
            while !stop.load(Ordering::Relaxed) {
                build();
            }
        })
    };
    let mut stalled = Vec::new();
    for _ in 0..rounds {
        for page in PAGES {
            match tokio::time::timeout(Duration::from_secs(5), app.get(&admin, page)).await {
                Ok(r) => assert_eq!(r.status(), 200, "{page}"),
                Err(_) => stalled.push(page.to_string()),
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    builder.await.unwrap();
    stalled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_list_generated_while_pages_render_stalls_them_and_atrium_generates_one_per_process() {
    // Atrium's side first: routers built over and over (as the test servers are) reuse the one
    // route list, and no page stalls.
    let app = spawn_app().await;
    let stalled = stalls_while(&app, 5, || drop(atrium_server::web::route_list())).await;
    assert!(stalled.is_empty(), "pages stalled while routers were built: {stalled:?}");

    // The hazard itself: generating route lists afresh while pages render. Any stall proves
    // the flag leaks across tasks. When leptos fixes #4773 this assertion fails; then the
    // once-per-process list in `web::route_list` is no longer needed for this reason.
    let app = spawn_app().await;
    let stalled = stalls_while(&app, 1, || drop(leptos_axum::generate_route_list(app::App))).await;
    assert!(!stalled.is_empty(), "no page stalled: leptos #4773 may be fixed");
}
