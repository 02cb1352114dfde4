//! A real Mosquitto (Debian's package) that a test starts on a free port, kills and restarts:
//! broker faults, persistence and TLS cannot be tested against the machine's shared broker.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Is the `mosquitto` binary here? Without it the tests that need one are skipped with a
/// message, unless `VIGIE_REQUIRE_MOSQUITTO=1` (CI) makes its absence a failure.
pub fn available() -> bool {
    super::util::tool_available(
        "mosquitto",
        "VIGIE_REQUIRE_MOSQUITTO",
        "apt-get install mosquitto",
    )
}

/// A folder for one test's files, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(super::util::unique_prefix(name));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Mosquitto {
    pub port: u16,
    conf: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    /// Starts a broker on a free loopback port with persistence in `dir`, saved after every
    /// change (so a kill -9 loses nothing it acknowledged), and large queues. `extra` is
    /// appended to the listener's configuration (TLS, passwords, ACLs).
    pub fn start(dir: &Path, extra: &str) -> Mosquitto {
        let port = vigie::io::broker::free_port().expect("a free port");
        let conf = dir.join("mosquitto.conf");
        let log = dir.join("mosquitto.log");
        let text = format!(
            "user root\n\
             persistence true\n\
             persistence_location {dir}/\n\
             autosave_interval 1\n\
             autosave_on_changes true\n\
             max_queued_messages 100000\n\
             max_inflight_messages 100\n\
             log_dest file {log}\n\
             log_type error\nlog_type warning\nlog_type notice\n\
             listener {port} 127.0.0.1\n\
             {extra}\n",
            dir = dir.display(),
            log = log.display(),
            extra = if extra.is_empty() {
                "allow_anonymous true"
            } else {
                extra
            },
        );
        std::fs::write(&conf, text).unwrap();
        let mut m = Mosquitto {
            port,
            conf,
            log,
            child: None,
        };
        m.restart();
        m
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the broker process and waits until its port accepts connections.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Some(st)) = self.child.as_mut().map(|c| c.try_wait().unwrap()) {
                panic!("mosquitto exited ({st}); log:\n{}", self.log_text());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "mosquitto did not listen on {}; log:\n{}",
                self.port,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no goodbye, no final save.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}
