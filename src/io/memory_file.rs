//! `alerts.memory_file`: the loiter rule's learned picture on disk (see
//! [`crate::behaviour::memory`]), so that a restart neither forgets the buoys nor takes a
//! boat stopped during it for one.
//!
//! Written whole to a temporary file beside it, synced, then renamed over it: a `kill -9`
//! or a power cut mid-write leaves the previous file, never half of one.

use crate::behaviour::memory::{MemoryFile, MEMORY_FORMAT};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MemoryFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a vigie memory file ({message}); it is ignored and will be rewritten")]
    Parse { path: PathBuf, message: String },
    #[error("{path} is of format {found}, this vigie reads {MEMORY_FORMAT}; it is ignored and will be rewritten")]
    Format { path: PathBuf, found: u32 },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The saved memory, or `None` when there is no file yet (a first start).
pub fn load(path: &Path) -> Result<Option<MemoryFile>, MemoryFileError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(MemoryFileError::Read {
                path: path.into(),
                source,
            })
        }
    };
    let m: MemoryFile = serde_json::from_slice(&text).map_err(|e| MemoryFileError::Parse {
        path: path.into(),
        message: e.to_string(),
    })?;
    if m.format != MEMORY_FORMAT {
        return Err(MemoryFileError::Format {
            path: path.into(),
            found: m.format,
        });
    }
    Ok(Some(m))
}

/// Replaces the file with `m`, atomically.
pub fn save(path: &Path, m: &MemoryFile) -> Result<(), MemoryFileError> {
    let err = |source| MemoryFileError::Write {
        path: path.into(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    // Buffered: serde_json writes token by token, and unbuffered that was one system call
    // per number — ~300 a second on the engine's machine with 2,000 boats under way
    // (strace during the latency bench), a tenth of the process's CPU under load.
    let mut f =
        std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create(&tmp).map_err(err)?);
    serde_json::to_writer(&mut f, m).map_err(|e| err(e.into()))?;
    f.write_all(b"\n").map_err(err)?;
    let f = f.into_inner().map_err(|e| err(e.into_error()))?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::behaviour::memory::{LearnedFixed, Mover};
    use crate::EventTime;

    #[test]
    fn saved_memory_reads_back_and_bad_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("vigie-mem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.json");
        assert!(load(&path).unwrap().is_none(), "no file: a first start");
        let t = EventTime::parse_rfc3339("2026-03-16T03:00:00Z").unwrap();
        let mut m = MemoryFile {
            format: MEMORY_FORMAT,
            ..Default::default()
        };
        m.live.fixed_objects.push(LearnedFixed {
            lat: 50.9,
            lon: 1.7,
            learned: t,
            seen: t,
        });
        m.exercise.movers.push(Mover {
            lat: 50.8,
            lon: 1.6,
            t,
        });
        save(&path, &m).unwrap();
        assert_eq!(load(&path).unwrap(), Some(m.clone()));
        std::fs::write(&path, b"{\"format\":1,").unwrap();
        assert!(matches!(load(&path), Err(MemoryFileError::Parse { .. })));
        m.format = 99;
        save(&path, &m).unwrap();
        assert!(matches!(
            load(&path),
            Err(MemoryFileError::Format { found: 99, .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
