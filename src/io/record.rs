//! `vigie record`: every message on the contact topics written to a recording (§6.3).

use super::error::{io_err, ServiceError};
use super::mqtt::{Link, LinkOptions};
use crate::config::broker::Security;
use crate::recording::RecordLine;
use std::io::Write;

/// `vigie record`: writes every message on `{prefix}/contacts/#` until `stop` resolves.
pub async fn record(
    url: &str,
    prefix: &str,
    security: &Security,
    out: &mut (dyn Write + Send),
    stop: impl std::future::Future<Output = ()>,
) -> Result<u64, ServiceError> {
    let mut o = LinkOptions::new(url, &format!("vigie-record-{}", std::process::id()));
    o.security = security.clone();
    o.subscribe = vec![format!("{prefix}/contacts/#")];
    let mut link = Link::start(o)?;
    link.wait_connected(url, 10).await?;
    tokio::pin!(stop);
    let mut n = 0;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            msg = link.inbound.recv() => {
                let Some(msg) = msg else { break };
                let line = RecordLine::new(msg.t_rx, &msg.topic, &msg.payload);
                let mut text = serde_json::to_string(&line).expect("serialises");
                text.push('\n');
                out.write_all(text.as_bytes()).and_then(|_| out.flush()).map_err(io_err("writing the recording"))?;
                n += 1;
            }
        }
    }
    link.close().await;
    Ok(n)
}
