//! The console's HTTP server (contract §7): the page and its assets (embedded in the
//! binary, Leaflet included: nothing comes from the internet), `/api/snapshot`,
//! `/api/events` (Server-Sent Events, resumable with `Last-Event-ID`), operators' actions
//! (`POST /api/alerts/{id}/actions`), `/api/incidents`, HTTP Basic logins checked against
//! argon2 hashes.

use super::{ActionError, ActionRequest, Hub, SseEvent};
use crate::io::incidents::{self, Action, Record};
use crate::metrics::Metrics;
use crate::time::EventTime;
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::Engine as _;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rumqttc::{AsyncClient, QoS};
use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

type Body = BoxBody<Bytes, Infallible>;

const INDEX: &str = include_str!("page/index.html");
const APP_JS: &str = include_str!("page/app.js");
const APP_CSS: &str = include_str!("page/app.css");
const LEAFLET_JS: &str = include_str!(concat!(env!("VIGIE_LEAFLET_DIST"), "/leaflet.js"));
const LEAFLET_CSS: &str = include_str!(concat!(env!("VIGIE_LEAFLET_DIST"), "/leaflet.css"));
const LEAFLET_LICENSE: &str = include_str!(concat!(env!("VIGIE_LEAFLET_DIST"), "/../LICENSE"));
/// The land of the Dover Strait from OpenStreetMap (ODbL; see `fixtures/coast/README.md`).
const COAST: &str = include_str!("../../../fixtures/coast/dover-strait-land.geojson");
/// Largest action body accepted.
const MAX_BODY: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("console.users_file {path}: {problem}")]
    Users { path: PathBuf, problem: String },
    #[error("console TLS {path}: {problem}")]
    Tls { path: PathBuf, problem: String },
    #[error("console zones {path}: {source}")]
    Zones {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Operators allowed in: user name → PHC password hash (argon2).
pub struct Users {
    hashes: BTreeMap<String, String>,
    /// `Authorization` header values already verified: argon2 is slow by design (tens of
    /// milliseconds), and a page makes a request per asset and per reconnection.
    verified: Mutex<HashSet<String>>,
}

impl Users {
    /// Reads `user:hash` lines (blank lines and `#` comments skipped).
    pub fn load(path: &Path) -> Result<Users, ConsoleError> {
        let bad = |problem: String| ConsoleError::Users {
            path: path.to_path_buf(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let mut hashes = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err(bad(format!("line {}: expected user:hash", n + 1)));
            };
            if let Err(e) = PasswordHash::new(hash) {
                return Err(bad(format!(
                    "line {}: {user}'s hash is not a PHC string ({e}); make one with `vigie passwd`",
                    n + 1
                )));
            }
            hashes.insert(user.to_string(), hash.to_string());
        }
        if hashes.is_empty() {
            return Err(bad("no user: every request would be refused".into()));
        }
        Ok(Users {
            hashes,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// The user an `Authorization: Basic …` header logs in, if any.
    pub fn check(&self, header: Option<&str>) -> Option<String> {
        let h = header?;
        let b64 = h.strip_prefix("Basic ")?.trim();
        let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (user, password) = raw.split_once(':')?;
        let hash = self.hashes.get(user)?;
        let mut seen = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(h) {
            return Some(user.to_string());
        }
        let parsed = PasswordHash::new(hash).ok()?;
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .ok()?;
        seen.insert(h.to_string());
        Some(user.to_string())
    }
}

/// A password hash for a users file (argon2id, random salt, PHC string).
pub fn hash_password(password: &str) -> String {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes any password")
        .to_string()
}

/// Everything the console's requests need.
pub struct Console {
    pub hub: Arc<Hub>,
    pub users: Option<Users>,
    pub zones_geojson: String,
    pub incidents_file: PathBuf,
    pub record: Option<std::sync::mpsc::Sender<Record>>,
    /// Where actions are published (retained) and under which prefix.
    pub mqtt: Option<(AsyncClient, String)>,
    /// Where actions become CAP `Update`/`Ack` documents (`cap.publish`).
    pub cap: Option<Arc<crate::io::cap::CapSink>>,
    pub metrics: Arc<Metrics>,
    /// In a training debrief (`vigie debrief`): the player's commands.
    pub debrief: Option<tokio::sync::mpsc::UnboundedSender<super::DebriefCommand>>,
    /// `console.sse_batch_s`: longest a track state waits for others to share its write.
    pub sse_batch: Duration,
}

/// What the configuration decides of a console, whichever program serves it (`vigie run`,
/// `vigie debrief`): who may log in, the zones drawn, and TLS.
pub struct Access {
    pub users: Option<Users>,
    pub zones_geojson: String,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Access {
    pub fn from_config(cfg: &crate::config::Config) -> Result<Access, ConsoleError> {
        Ok(Access {
            users: match &cfg.console.users_file {
                Some(p) => Some(Users::load(p)?),
                None => None,
            },
            zones_geojson: std::fs::read_to_string(&cfg.zones.path).map_err(|source| {
                ConsoleError::Zones {
                    path: cfg.zones.path.clone(),
                    source,
                }
            })?,
            tls: match (&cfg.console.tls_cert_file, &cfg.console.tls_key_file) {
                (Some(c), Some(k)) => Some(tls_acceptor(c, k)?),
                _ => None,
            },
        })
    }
}

impl Console {
    /// An operator's action, from the page, the HTTP API or MQTT: checked, applied, kept in
    /// the incident record, published retained on `{prefix}/alerts/actions/{id}`.
    pub fn take_action(
        &self,
        alert_id: &str,
        req: ActionRequest,
        user: Option<&str>,
    ) -> Result<Action, ActionError> {
        let a = self.hub.act(req.validate(alert_id, user)?)?;
        self.metrics.console_actions.inc();
        tracing::info!(
            "alert {alert_id}: {} by {}{}",
            a.action,
            a.by,
            a.outcome
                .as_deref()
                .map(|o| format!(" ({o})"))
                .unwrap_or_default()
        );
        if let Some(tx) = &self.record {
            let _ = tx.send(Record::Action(a.clone()));
        }
        if let Some((client, prefix)) = &self.mqtt {
            let json = serde_json::to_string(&a).expect("actions serialise");
            if client
                .try_publish(
                    format!("{prefix}/alerts/actions/{alert_id}"),
                    QoS::AtLeastOnce,
                    true,
                    json,
                )
                .is_err()
            {
                self.metrics.publish_failures.inc();
            }
        }
        if let Some(cap) = &self.cap {
            cap.action(&a);
        }
        Ok(a)
    }
}

/// The TLS side of `console.tls_cert_file` / `tls_key_file` (PEM): HTTPS with rustls.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, ConsoleError> {
    let bad = |path: &Path, problem: String| ConsoleError::Tls {
        path: path.to_path_buf(),
        problem,
    };
    let open = |p: &Path| {
        std::fs::File::open(p)
            .map(std::io::BufReader::new)
            .map_err(|e| bad(p, e.to_string()))
    };
    let certs: Vec<_> = rustls_pemfile::certs(&mut open(cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(cert, "no PEM certificate in it".into()));
    }
    let key_der = rustls_pemfile::private_key(&mut open(key)?)
        .map_err(|e| bad(key, e.to_string()))?
        .ok_or_else(|| bad(key, "no PEM private key in it".into()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| bad(cert, e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Serves the console until the task is dropped, over TLS when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    console: Arc<Console>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let console = console.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let console = console.clone();
                async move { Ok::<_, Infallible>(route(req, &console).await) }
            });
            let http = hyper::server::conn::http1::Builder::new();
            let served = match tls {
                None => http.serve_connection(TokioIo::new(stream), svc).await,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(s) => http.serve_connection(TokioIo::new(s), svc).await,
                    Err(e) => {
                        tracing::debug!("console TLS handshake with {peer}: {e}");
                        return;
                    }
                },
            };
            if let Err(e) = served {
                tracing::debug!("console connection: {e}");
            }
        });
    }
}

fn full(code: StatusCode, ctype: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", ctype)
        .header("cache-control", "no-store")
        .body(Full::new(body.into()).boxed())
        .expect("valid response")
}

fn json(code: StatusCode, v: &serde_json::Value) -> Response<Body> {
    full(code, "application/json", v.to_string())
}

fn refuse(code: StatusCode, message: String) -> Response<Body> {
    json(code, &serde_json::json!({ "error": message }))
}

async fn route(req: Request<Incoming>, c: &Console) -> Response<Body> {
    let user = match &c.users {
        None => None,
        Some(users) => {
            let h = req
                .headers()
                .get(hyper::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            match users.check(h) {
                Some(u) => Some(u),
                None => {
                    c.metrics.console_unauthorized.inc();
                    let mut r = full(
                        StatusCode::UNAUTHORIZED,
                        "text/plain; charset=utf-8",
                        "login required\n",
                    );
                    r.headers_mut().insert(
                        hyper::header::WWW_AUTHENTICATE,
                        hyper::header::HeaderValue::from_static(
                            "Basic realm=\"vigie console\", charset=\"UTF-8\"",
                        ),
                    );
                    return r;
                }
            }
        }
    };
    let path = req.uri().path().to_string();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/") => full(StatusCode::OK, "text/html; charset=utf-8", INDEX),
        (&Method::GET, "/app.js") => full(StatusCode::OK, "text/javascript", APP_JS),
        (&Method::GET, "/app.css") => full(StatusCode::OK, "text/css", APP_CSS),
        (&Method::GET, "/vendor/leaflet.js") => {
            full(StatusCode::OK, "text/javascript", LEAFLET_JS)
        }
        (&Method::GET, "/vendor/leaflet.css") => full(StatusCode::OK, "text/css", LEAFLET_CSS),
        (&Method::GET, "/vendor/LICENSE-leaflet.txt") => {
            full(StatusCode::OK, "text/plain; charset=utf-8", LEAFLET_LICENSE)
        }
        (&Method::GET, "/api/coast") => full(StatusCode::OK, "application/geo+json", COAST),
        (&Method::GET, "/api/zones") => full(
            StatusCode::OK,
            "application/geo+json",
            c.zones_geojson.clone(),
        ),
        (&Method::GET, "/api/snapshot") => full(
            StatusCode::OK,
            "application/json",
            c.hub.snapshot_text(wants_tentative(req.uri().query())),
        ),
        (&Method::GET, "/api/events") => events(&req, c),
        (&Method::GET, "/api/incidents") => incidents_since(req.uri().query(), c),
        (&Method::POST, "/api/debrief") => {
            let Some(tx) = &c.debrief else {
                return refuse(
                    StatusCode::NOT_FOUND,
                    "not a debrief: `vigie debrief FILE` serves a recording with a timeline".into(),
                );
            };
            let body = match read_body(req).await {
                Ok(b) => b,
                Err(m) => return refuse(StatusCode::BAD_REQUEST, m),
            };
            let cmd: super::DebriefCommand = match serde_json::from_slice(&body) {
                Ok(c) => c,
                Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("bad command: {e}")),
            };
            if let Err(m) = cmd.check() {
                return refuse(StatusCode::BAD_REQUEST, m);
            }
            match tx.send(cmd) {
                Ok(()) => json(StatusCode::ACCEPTED, &serde_json::json!({ "ok": true })),
                Err(_) => refuse(StatusCode::SERVICE_UNAVAILABLE, "the player has stopped".into()),
            }
        }
        (&Method::POST, p) if p.starts_with("/api/alerts/") && p.ends_with("/actions") => {
            let id = p["/api/alerts/".len()..p.len() - "/actions".len()].to_string();
            let body = match read_body(req).await {
                Ok(b) => b,
                Err(m) => return refuse(StatusCode::BAD_REQUEST, m),
            };
            let parsed: ActionRequest = match serde_json::from_slice(&body) {
                Ok(r) => r,
                Err(e) => {
                    return refuse(
                        StatusCode::BAD_REQUEST,
                        format!("not an action ({e}): send {{\"action\": \"acknowledge\", \"by\": \"…\"}}"),
                    )
                }
            };
            match c.take_action(&id, parsed, user.as_deref()) {
                Ok(a) => json(StatusCode::OK, &serde_json::to_value(a).expect("json")),
                Err(e @ ActionError::Unknown(_)) => refuse(StatusCode::NOT_FOUND, e.to_string()),
                Err(e @ ActionError::Cleared(..)) => refuse(StatusCode::CONFLICT, e.to_string()),
                Err(e @ ActionError::Invalid(_)) => {
                    refuse(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
                }
            }
        }
        _ => full(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: try /, /api/snapshot, /api/events, POST /api/alerts/{id}/actions, /api/incidents\n",
        ),
    }
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, String> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY);
    limited
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| format!("body unreadable or over {MAX_BODY} bytes: {e}"))
}

fn incidents_since(query: Option<&str>, c: &Console) -> Response<Body> {
    let since = query
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("since=")))
        .map(|s| s.replace("%3A", ":"));
    let since = match since.as_deref().map(EventTime::parse_rfc3339) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(_)) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "since must be an RFC 3339 time, e.g. 2026-03-14T00:00:00Z".into(),
            )
        }
    };
    if !c.incidents_file.exists() {
        return json(StatusCode::OK, &serde_json::json!([]));
    }
    match incidents::list(&c.incidents_file, since) {
        Ok(list) => json(StatusCode::OK, &serde_json::to_value(list).expect("json")),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Whether the query asks for tentative tracks too (`?tentative=1`): the page's toggle,
/// off by default as the contract's picture is confirmed tracks.
fn wants_tentative(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .any(|kv| matches!(kv, "tentative=1" | "tentative=true" | "tentative"))
    })
}

/// How often a page that shows tentative tracks gets their whole set.
const TENTATIVE_EVERY: Duration = Duration::from_secs(1);

/// A batch is written at once past this size.
const SSE_BATCH_BYTES: usize = 64 * 1024;

/// Server-Sent Events: what a page missed since `Last-Event-ID` (or a snapshot when it is
/// too far behind, or new), then every event as it happens, with a comment every 15 s to
/// keep proxies from closing the stream; with `?tentative=1`, also every tentative track
/// once a second ([`Hub::tentative_frame`]).
fn events(req: &Request<Incoming>, c: &Console) -> Response<Body> {
    let last: Option<u64> = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    // From here on the page reads the backlog after the last id it was sent: nothing
    // falls between the first read and the next.
    let first: Vec<Arc<SseEvent>> = match last.and_then(|id| c.hub.since(id)) {
        Some(missed) => missed,
        None => vec![Arc::new(c.hub.snapshot_event())],
    };
    let mut sent = first.last().map_or(last.unwrap_or(0), |e| e.id);
    let (mut tx, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(64);
    let hub = c.hub.clone();
    let mut tentative =
        wants_tentative(req.uri().query()).then(|| tokio::time::interval(TENTATIVE_EVERY));
    let batch_every = c.sse_batch;
    tokio::spawn(async move {
        let mut buf = String::new();
        for e in first {
            e.write_wire(&mut buf);
        }
        if tx.send(Frame::data(Bytes::from(buf))).await.is_err() {
            return;
        }
        let mut keepalive = tokio::time::interval(Duration::from_secs(15));
        keepalive.tick().await;
        // Events are written in batches: the task wakes at once for an alert or an action
        // (the hub's urgent watch) and otherwise every `console.sse_batch_s`, and each time
        // writes all the backlog holds after its last event in one frame. Why: one write
        // per track state (2,000 tracks a second on a busy night) cost more than everything
        // else the page asks of vigie, and so did one wake-up per track state once the
        // engine ran on its own thread; five writes a second still cost three times what
        // one does (BENCHMARKS.md, console_sse).
        let mut urgent = hub.watch_urgent();
        let mut batch = tokio::time::interval(batch_every);
        batch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut buf = String::new();
        let mut pending: Vec<Arc<SseEvent>> = Vec::new();
        loop {
            let mut closed = false;
            tokio::select! {
                r = urgent.changed() => closed = r.is_err(),
                _ = batch.tick() => {}
                _ = keepalive.tick() => buf.push_str(": keep-alive\n\n"),
                _ = async { tentative.as_mut().expect("guarded").tick().await }, if tentative.is_some() => {
                    hub.tentative_frame(&mut buf);
                }
            }
            if !hub.since_into(sent, &mut pending) {
                // Too far behind the backlog: start again from a snapshot.
                let s = hub.snapshot_event();
                sent = s.id;
                buf.clear();
                s.write_wire(&mut buf);
            }
            for ev in pending.drain(..) {
                sent = ev.id;
                ev.write_wire(&mut buf);
                if buf.len() > SSE_BATCH_BYTES
                    && tx
                        .send(Frame::data(Bytes::from(std::mem::take(&mut buf))))
                        .await
                        .is_err()
                {
                    return;
                }
            }
            if !buf.is_empty()
                && tx
                    .send(Frame::data(Bytes::from(std::mem::take(&mut buf))))
                    .await
                    .is_err()
            {
                return;
            }
            if closed {
                return;
            }
        }
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-store")
        .body(body.boxed())
        .expect("valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_logins_are_checked_against_argon2_hashes() {
        let dir = std::env::temp_dir().join(format!("vigie-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users");
        std::fs::write(
            &path,
            format!("# operators\nleroy:{}\n", hash_password("s3cret")),
        )
        .unwrap();
        let users = Users::load(&path).unwrap();
        let header = |u: &str, p: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        };
        assert_eq!(
            users.check(Some(&header("leroy", "s3cret"))).as_deref(),
            Some("leroy")
        );
        // Again, from the cache.
        assert_eq!(
            users.check(Some(&header("leroy", "s3cret"))).as_deref(),
            Some("leroy")
        );
        assert_eq!(users.check(Some(&header("leroy", "wrong"))), None);
        assert_eq!(users.check(Some(&header("nobody", "s3cret"))), None);
        assert_eq!(users.check(Some("Basic !!!")), None);
        assert_eq!(users.check(None), None);
        std::fs::write(&path, "leroy:plaintext\n").unwrap();
        assert!(
            Users::load(&path).is_err(),
            "a plain password is not a hash"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
