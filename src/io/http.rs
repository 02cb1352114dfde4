//! HTTP endpoints: `/metrics` (Prometheus text exposition), `/healthz`, `/readyz`.

use crate::metrics::Metrics;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

/// What `/readyz` checks.
#[derive(Default)]
pub struct Readiness {
    pub broker_connected: AtomicBool,
    pub zones_loaded: AtomicBool,
}

/// Serves until the task is dropped. Binding errors are returned to the caller.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    ready: Arc<Readiness>,
) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let (metrics, ready) = (metrics.clone(), ready.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let resp = route(req.uri().path(), &metrics, &ready);
                async move { Ok::<_, std::convert::Infallible>(resp) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!("http connection: {e}");
            }
        });
    }
}

fn route(path: &str, metrics: &Metrics, ready: &Readiness) -> Response<Full<Bytes>> {
    let text = |code: StatusCode, body: &str| {
        Response::builder()
            .status(code)
            .header("content-type", "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("valid response")
    };
    match path {
        "/metrics" => {
            let (ctype, body) = metrics.render();
            Response::builder()
                .header("content-type", ctype)
                .body(Full::new(Bytes::from(body)))
                .expect("valid response")
        }
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => {
            let b = ready.broker_connected.load(Ordering::Relaxed);
            let z = ready.zones_loaded.load(Ordering::Relaxed);
            if b && z {
                text(StatusCode::OK, "ready\n")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("not ready: broker_connected={b} zones_loaded={z}\n"),
                )
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /metrics, /healthz, /readyz\n",
        ),
    }
}
