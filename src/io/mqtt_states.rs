//! Track states (contract §3: QoS 0, not retained) on an MQTT connection of their own,
//! written to the socket in batches.
//!
//! Why not through the rumqttc client that carries everything else: its event loop writes
//! and flushes each publication on its own — one system call per track state — and the
//! same loop reads the contacts and sends their acknowledgements between two of them. A
//! radar scan's few hundred states then cost a few hundred system calls on the connection
//! the contacts come in on; at 25,000 contacts/s (≈ 58,000 states/s in the latency bench's
//! compressed time) that loop, not the engine, fell behind and the broker dropped contacts
//! (BENCHMARKS.md, issue 23). Here each message's states are encoded with rumqttc's own
//! packet encoder into one buffer, handed over a bounded channel, and one task writes
//! everything waiting with one write. (The contacts' acknowledgements left rumqttc's
//! request queue the same way since: [`super::mqtt`].) The encoding and this task run on
//! the output thread ([`super::outputs`]), not the engine's.
//!
//! What QoS 0 allows, and this connection does rather than hold the engine back: a buffer
//! that finds the channel full, or arrives while the broker is unreachable, is dropped and
//! counted (`vigie_mqtt_publish_failures_total`, one per state) — states are superseded within a
//! second anyway. The connection reconnects with bounded back-off, answers nothing and
//! subscribes to nothing; its keep-alive pings prove it alive to the broker.

use super::mqtt::MqttError;
use crate::config::broker::{parse_url, BrokerAddr, Security};
use crate::metrics::Metrics;
use bytes::{Bytes, BytesMut};
use rumqttc::{Packet, QoS};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Buffers waiting for the socket (each one message's states): past this the engine is
/// far ahead of the broker and newer states are dropped rather than queued.
const CHANNEL_BUFFERS: usize = 4096;
/// At most this many bytes go out in one write.
const MAX_WRITE: usize = 256 * 1024;

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// The engine's end: [`push`](Self::push) each state, [`send`](Self::send) once per message.
pub struct StateLink {
    tx: Option<mpsc::Sender<(Bytes, u32)>>,
    buf: BytesMut,
    count: u32,
    max_packet: usize,
    metrics: Option<Arc<Metrics>>,
    task: JoinHandle<()>,
}

/// How to reach the broker: the main link's URL, credentials and TLS material.
pub struct StateLinkOptions {
    pub url: String,
    /// The main client's id; this connection uses `{client_id}-states`.
    pub client_id: String,
    pub security: Security,
    pub keep_alive: Duration,
    pub max_packet_bytes: usize,
    pub metrics: Option<Arc<Metrics>>,
}

impl StateLink {
    /// Starts the connection task, or says why this connection cannot be made (then track
    /// states stay on the main client): a `mqtts://` URL without `mqtt.ca_file` trusts the
    /// system's roots, which only rumqttc loads.
    pub fn start(o: StateLinkOptions) -> Result<Option<StateLink>, MqttError> {
        let addr = parse_url(&o.url).map_err(|reason| MqttError::Url {
            url: o.url.clone(),
            reason,
        })?;
        let tls = if addr.tls {
            let Some(ca) = &o.security.ca_pem else {
                return Ok(None);
            };
            Some(
                tls_connector(ca, o.security.client_cert.as_ref()).map_err(|reason| {
                    MqttError::Url {
                        url: o.url.clone(),
                        reason: format!("TLS set-up for the track-state connection: {reason}"),
                    }
                })?,
            )
        } else {
            None
        };
        let (tx, rx) = mpsc::channel(CHANNEL_BUFFERS);
        let conn = Connection {
            addr,
            url: o.url,
            client_id: format!("{}-states", o.client_id),
            security: o.security,
            keep_alive: o.keep_alive.max(Duration::from_secs(1)),
            tls,
            metrics: o.metrics.clone(),
        };
        let task = tokio::spawn(conn.run(rx));
        Ok(Some(StateLink {
            tx: Some(tx),
            buf: BytesMut::with_capacity(64 * 1024),
            count: 0,
            max_packet: o.max_packet_bytes,
            metrics: o.metrics,
            task,
        }))
    }

    /// Encodes one state as a QoS 0 PUBLISH into the message's buffer.
    pub fn push(&mut self, topic: String, payload: String) {
        let p = Packet::Publish(rumqttc::Publish::new(topic, QoS::AtMostOnce, payload));
        match p.write(&mut self.buf, self.max_packet) {
            Ok(_) => self.count += 1,
            Err(e) => {
                tracing::warn!("track state not published: {e}");
                self.failed(1);
            }
        }
    }

    /// Hands the message's states to the connection task, without waiting.
    pub fn send(&mut self) {
        if self.count == 0 {
            return;
        }
        let chunk = self.buf.split().freeze();
        let n = std::mem::take(&mut self.count);
        let sent = self.tx.as_ref().map(|tx| tx.try_send((chunk, n)));
        if !matches!(sent, Some(Ok(()))) {
            self.failed(n);
        }
    }

    fn failed(&self, n: u32) {
        if let Some(m) = &self.metrics {
            m.publish_failures.inc_by(n.into());
        }
    }

    /// Writes what is queued (for at most 2 s), disconnects cleanly, and stops.
    pub async fn close(mut self) {
        self.send();
        self.tx = None;
        if tokio::time::timeout(Duration::from_secs(2), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

struct Connection {
    addr: BrokerAddr,
    url: String,
    client_id: String,
    security: Security,
    keep_alive: Duration,
    tls: Option<tokio_rustls::TlsConnector>,
    metrics: Option<Arc<Metrics>>,
}

impl Connection {
    async fn run(self, mut rx: mpsc::Receiver<(Bytes, u32)>) {
        let mut backoff = Duration::from_millis(100);
        let mut down_since: Option<std::time::Instant> = None;
        loop {
            let connected = match tokio::time::timeout(Duration::from_secs(5), self.connect()).await
            {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err("no connection acknowledgement within 5 s".to_string()),
            };
            let stream = match connected {
                Ok(s) => s,
                Err(why) => {
                    self.down(&mut down_since, &why);
                    if !self.wait(&mut rx, &mut backoff).await {
                        return;
                    }
                    continue;
                }
            };
            backoff = Duration::from_millis(100);
            if let Some(since) = down_since.take() {
                tracing::info!(
                    "track-state connection to {} restored after {:.1} s",
                    self.url,
                    since.elapsed().as_secs_f64()
                );
            }
            match self.serve(stream, &mut rx).await {
                Ok(()) => return,
                Err(e) => self.down(&mut down_since, &e.to_string()),
            }
            if !self.wait(&mut rx, &mut backoff).await {
                return;
            }
        }
    }

    fn down(&self, since: &mut Option<std::time::Instant>, why: &str) {
        if since.is_none() {
            tracing::warn!(
                "track-state MQTT connection to {} lost or refused: {why}; retrying with back-off (states are dropped meanwhile)",
                self.url
            );
            *since = Some(std::time::Instant::now());
        } else {
            tracing::debug!("track-state connection still down: {why}");
        }
    }

    /// Back-off with jitter, dropping (and counting) the states that arrive meanwhile:
    /// they would be stale by the time the broker is back. False once the engine is gone.
    async fn wait(&self, rx: &mut mpsc::Receiver<(Bytes, u32)>, backoff: &mut Duration) -> bool {
        let until = tokio::time::Instant::now() + super::mqtt::next_backoff(backoff);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return true,
                chunk = rx.recv() => match chunk {
                    Some((_, n)) => {
                        if let Some(m) = &self.metrics {
                            m.publish_failures.inc_by(n.into());
                        }
                    }
                    None => return false,
                },
            }
        }
    }

    async fn connect(&self) -> std::io::Result<Box<dyn Stream>> {
        let tcp = tokio::net::TcpStream::connect((self.addr.host.as_str(), self.addr.port)).await?;
        tcp.set_nodelay(true)?;
        let mut stream: Box<dyn Stream> = match &self.tls {
            Some(c) => {
                let name = rustls::pki_types::ServerName::try_from(self.addr.host.clone())
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                Box::new(c.connect(name, tcp).await?)
            }
            None => Box::new(tcp),
        };
        let mut connect = rumqttc::Connect::new(self.client_id.clone());
        connect.keep_alive = self.keep_alive.as_secs().min(u16::MAX.into()) as u16;
        connect.clean_session = true;
        if let Some(user) = &self.security.username {
            connect.set_login(user, self.security.password.clone().unwrap_or_default());
        }
        let mut buf = encode(Packet::Connect(connect))?;
        stream.write_all(&buf).await?;
        buf.clear();
        match read_packet(&mut stream, &mut buf).await? {
            Packet::ConnAck(ack) if ack.code == rumqttc::ConnectReturnCode::Success => Ok(stream),
            Packet::ConnAck(ack) => Err(std::io::Error::other(format!(
                "the broker refused the connection: {:?}",
                ack.code
            ))),
            p => Err(std::io::Error::other(format!(
                "expected CONNACK, got {p:?}"
            ))),
        }
    }

    /// Writes buffers as they come, everything waiting in one write; pings on the
    /// keep-alive. Ok when the engine has gone (after a clean DISCONNECT).
    async fn serve(
        &self,
        stream: Box<dyn Stream>,
        rx: &mut mpsc::Receiver<(Bytes, u32)>,
    ) -> std::io::Result<()> {
        let (mut rd, mut wr) = tokio::io::split(stream);
        // The broker only ever answers pings here: read them to know it is alive.
        let (alive_tx, mut alive) = mpsc::channel::<()>(1);
        let reader = tokio::spawn(async move {
            let mut buf = BytesMut::with_capacity(64);
            loop {
                match read_packet(&mut rd, &mut buf).await {
                    Ok(_) => {
                        let _ = alive_tx.try_send(());
                    }
                    Err(e) => return e,
                }
            }
        });
        let _reader = AbortOnDrop(reader);
        let mut ping = tokio::time::interval(self.keep_alive);
        ping.tick().await;
        let mut answered = true;
        let mut out = BytesMut::with_capacity(MAX_WRITE);
        loop {
            tokio::select! {
                chunk = rx.recv() => {
                    let Some((chunk, _)) = chunk else {
                        let _ = wr.write_all(&encode(Packet::Disconnect)?).await;
                        let _ = wr.flush().await;
                        return Ok(());
                    };
                    out.extend_from_slice(&chunk);
                    while out.len() < MAX_WRITE {
                        match rx.try_recv() {
                            Ok((c, _)) => out.extend_from_slice(&c),
                            Err(_) => break,
                        }
                    }
                    wr.write_all(&out).await?;
                    out.clear();
                }
                _ = ping.tick() => {
                    if !answered {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the broker did not answer a ping within the keep-alive",
                        ));
                    }
                    answered = false;
                    wr.write_all(&encode(Packet::PingReq)?).await?;
                }
                r = alive.recv() => match r {
                    Some(()) => answered = true,
                    None => {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionAborted,
                            "the broker closed the connection",
                        ))
                    }
                },
            }
        }
    }
}

struct AbortOnDrop<T>(JoinHandle<T>);
impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One control packet, with rumqttc's encoder.
fn encode(p: Packet) -> std::io::Result<BytesMut> {
    let mut buf = BytesMut::new();
    p.write(&mut buf, usize::MAX)
        .map_err(std::io::Error::other)?;
    Ok(buf)
}

/// Reads one packet (the broker sends only CONNACK and PINGRESP here).
async fn read_packet(
    rd: &mut (impl AsyncRead + Unpin),
    buf: &mut BytesMut,
) -> std::io::Result<Packet> {
    loop {
        match Packet::read(buf, 1024) {
            Ok(p) => return Ok(p),
            Err(rumqttc::Error::InsufficientBytes(_)) => {}
            Err(e) => return Err(std::io::Error::other(e)),
        }
        if rd.read_buf(buf).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the broker closed the connection",
            ));
        }
    }
}

/// TLS as the main link does it: the configured CA, and the client certificate if any.
fn tls_connector(
    ca_pem: &[u8],
    client_cert: Option<&(Vec<u8>, Vec<u8>)>,
) -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut &ca_pem[..]) {
        roots
            .add(c.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots);
    let config = match client_cert {
        Some((cert, key)) => {
            let certs = rustls_pemfile::certs(&mut &cert[..])
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            let key = rustls_pemfile::private_key(&mut &key[..])
                .map_err(|e| e.to_string())?
                .ok_or("no private key in the client key file")?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| e.to_string())?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}
