//! Where the broker is and how to prove who we are to it: the `mqtt.url` form and the
//! TLS material and credentials [`super::MqttConfig::security`] reads.
//!
//! Why here and not in the MQTT adapter: validating a configuration must not need the
//! adapter (configuration is read by the core and by every command; `io` depends on
//! configuration, never the other way round).

/// A broker address parsed from a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddr {
    pub host: String,
    pub port: u16,
    /// `mqtts://` (or `ssl://`): TLS, default port 8883.
    pub tls: bool,
}

/// `mqtt://host:port` or `tcp://host:port` (port defaults to 1883), `mqtts://host:port` or
/// `ssl://host:port` for TLS (port defaults to 8883).
pub fn parse_url(url: &str) -> Result<BrokerAddr, String> {
    let (rest, tls) = if let Some(r) = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
    {
        (r, false)
    } else if let Some(r) = url
        .strip_prefix("mqtts://")
        .or_else(|| url.strip_prefix("ssl://"))
    {
        (r, true)
    } else {
        return Err("the scheme must be mqtt://, tcp://, mqtts:// or ssl://".into());
    };
    let default_port = if tls { 8883 } else { 1883 };
    let hostport = rest.trim_end_matches('/');
    if hostport.is_empty() || hostport.contains('/') || hostport.contains('@') {
        return Err("expected mqtt://HOST:PORT (credentials belong in mqtt.username and mqtt.password_file, not the URL)".into());
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h, p.parse::<u16>().map_err(|_| format!("bad port `{p}`"))?)
        }
        _ => (hostport, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("empty host".into());
    }
    Ok(BrokerAddr {
        host: host.to_string(),
        port,
        tls,
    })
}

/// How to authenticate to the broker. Secrets live here only in memory: `Debug` prints
/// neither the password nor key material, so they never reach a log line.
#[derive(Clone, Default)]
pub struct Security {
    /// PEM CA bundle that signs the broker's certificate; `Some` turns TLS on.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM client certificate and private key, for brokers that require them.
    pub client_cert: Option<(Vec<u8>, Vec<u8>)>,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("tls", &self.ca_pem.is_some())
            .field("client_cert", &self.client_cert.is_some())
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let a = |h: &str, port, tls| BrokerAddr {
            host: h.into(),
            port,
            tls,
        };
        assert_eq!(
            parse_url("mqtt://127.0.0.1:1883").unwrap(),
            a("127.0.0.1", 1883, false)
        );
        assert_eq!(parse_url("tcp://broker").unwrap(), a("broker", 1883, false));
        assert_eq!(
            parse_url("mqtt://[::1]:1884").unwrap(),
            a("::1", 1884, false)
        );
        assert_eq!(
            parse_url("mqtts://broker").unwrap(),
            a("broker", 8883, true)
        );
        assert_eq!(parse_url("ssl://b:8884").unwrap(), a("b", 8884, true));
        assert!(parse_url("mqtt://user:pw@b:1883").is_err());
        assert!(parse_url("http://x:1").is_err());
        assert!(parse_url("mqtt://x:notaport").is_err());
        assert!(parse_url("mqtt://").is_err());
    }
}
