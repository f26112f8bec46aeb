//! Where goroutine dumps come from: a directory of recorded dumps, or each
//! component's pprof endpoint, behind one trait.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{read_goroutine_dump, Dump, MAX_INFLATED};
use crate::error::IngestError;
use crate::model::Micros;

/// A dump and when it was taken, if known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedDump {
    pub at: Option<Micros>,
    /// The file or URL it came from.
    pub from: PathBuf,
    pub dump: Dump,
}

/// Gives the goroutine dumps of the components it knows.
pub trait GoroutineSource {
    /// The components it has dumps of (or an endpoint for), sorted.
    fn components(&self) -> Vec<String>;
    /// The dumps of `component`, oldest first: for a live source, one taken now.
    fn dumps(&self, component: &str) -> Result<Vec<TimedDump>, IngestError>;
}

/// Recorded dumps: `DIR/<component>/<file>`, any of the three formats per
/// file. A file name starting with digits (`1767261600.txt`) was taken at that
/// Unix second; others have no time and are ordered by name.
#[derive(Clone, Debug)]
pub struct DirGoroutineSource {
    pub dir: PathBuf,
}

impl GoroutineSource for DirGoroutineSource {
    fn components(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect();
        out.sort();
        out
    }

    fn dumps(&self, component: &str) -> Result<Vec<TimedDump>, IngestError> {
        read_dump_dir(&self.dir.join(component))
    }
}

/// Reads every dump in `dir` (one component's), oldest first.
pub fn read_dump_dir(dir: &Path) -> Result<Vec<TimedDump>, IngestError> {
    let io = |source| IngestError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files: Vec<(Option<Micros>, String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.path().is_file() {
            continue;
        }
        let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
        let at = match digits.parse::<i64>() {
            // A Unix second, not a sequence number.
            Ok(s) if digits.len() >= 9 => s.checked_mul(1_000_000),
            _ => None,
        };
        files.push((at, name, entry.path()));
    }
    files.sort();
    files
        .into_iter()
        .map(|(at, _, path)| {
            let bytes = std::fs::read(&path).map_err(|source| IngestError::Io {
                path: path.clone(),
                source,
            })?;
            let dump = read_goroutine_dump(&path, &bytes)?;
            Ok(TimedDump {
                at,
                from: path,
                dump,
            })
        })
        .collect()
}

/// Each component's pprof goroutine endpoint, e.g.
/// `http://orders:6060/debug/pprof/goroutine?debug=2`.
#[derive(Clone, Debug)]
pub struct HttpGoroutineSource {
    pub endpoints: BTreeMap<String, String>,
    pub timeout: Duration,
}

impl GoroutineSource for HttpGoroutineSource {
    fn components(&self) -> Vec<String> {
        self.endpoints.keys().cloned().collect()
    }

    fn dumps(&self, component: &str) -> Result<Vec<TimedDump>, IngestError> {
        let Some(url) = self.endpoints.get(component) else {
            return Ok(Vec::new());
        };
        let at = chrono::Utc::now().timestamp_micros();
        let dump = fetch_goroutine_dump(url, self.timeout)?;
        Ok(vec![TimedDump {
            at: Some(at),
            from: PathBuf::from(url),
            dump,
        }])
    }
}

/// Takes a goroutine dump from a pprof endpoint over plain HTTP (pprof is
/// served on an internal port, without TLS), within `timeout` in all:
/// connecting, asking and reading. The format follows the URL's `debug=`.
pub fn fetch_goroutine_dump(url: &str, timeout: Duration) -> Result<Dump, IngestError> {
    let path = PathBuf::from(url);
    let bad = |what: String| IngestError::malformed(&path, what);
    let io = |source: std::io::Error| IngestError::Io {
        path: PathBuf::from(url),
        source,
    };
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("only http:// pprof endpoints are supported".into()))?;
    let (authority, target) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/debug/pprof/goroutine?debug=2"),
    };
    if authority.is_empty() {
        return Err(bad("no host in the URL".into()));
    }
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "timed out",
                ))
            })
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| bad(format!("{authority} resolves to no address")))?;
    let mut stream = TcpStream::connect_timeout(&addr, left()?).map_err(io)?;
    stream.set_write_timeout(Some(left()?)).map_err(io)?;
    write!(
        stream,
        "GET {target} HTTP/1.0\r\nHost: {authority}\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    let mut answer = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        stream.set_read_timeout(Some(left()?)).map_err(io)?;
        let n = stream.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        if answer.len() as u64 > MAX_INFLATED {
            return Err(bad(format!("answer longer than {MAX_INFLATED} bytes")));
        }
    }
    let head_end = memchr::memmem::find(&answer, b"\r\n\r\n")
        .ok_or_else(|| bad("the answer has no end of headers".into()))?;
    let head = String::from_utf8_lossy(&answer[..head_end]);
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_default();
    if status != "200" {
        return Err(bad(format!(
            "answered {:?}",
            head.lines().next().unwrap_or_default()
        )));
    }
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = &answer[head_end + 4..];
    let body = if chunked {
        dechunk(body).ok_or_else(|| bad("bad chunked body".into()))?
    } else {
        body.to_vec()
    };
    read_goroutine_dump(&path, &body)
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = memchr::memmem::find(body, b"\r\n")?;
        let size = std::str::from_utf8(&body[..eol]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        body = &body[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn recorded() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/goleaks/chan_send/dumps")
    }

    /// Serves `body` once, the way Go's pprof handler does, and returns the URL.
    fn serve_once(body: Vec<u8>, status: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = [0u8; 1024];
            let _ = s.read(&mut req);
            let _ = write!(s, "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n\r\n");
            let _ = s.write_all(&body);
        });
        format!("http://{addr}/debug/pprof/goroutine?debug=2")
    }

    #[test]
    fn both_sources_give_the_same_dump() {
        let dir = tempfile::tempdir().unwrap();
        let comp = dir.path().join("orders");
        std::fs::create_dir(&comp).unwrap();
        let bytes = std::fs::read(recorded().join("2.debug2.txt")).unwrap();
        std::fs::write(comp.join("1767261600.txt"), &bytes).unwrap();
        let from_dir = DirGoroutineSource {
            dir: dir.path().to_path_buf(),
        };
        assert_eq!(from_dir.components(), vec!["orders".to_string()]);
        let recorded = from_dir.dumps("orders").unwrap();
        assert_eq!(recorded[0].at, Some(1_767_261_600_000_000));

        let live = HttpGoroutineSource {
            endpoints: [("orders".to_string(), serve_once(bytes, "200 OK"))].into(),
            timeout: Duration::from_secs(5),
        };
        let taken = live.dumps("orders").unwrap();
        assert_eq!(taken.len(), 1);
        assert!(taken[0].at.is_some());
        assert_eq!(taken[0].dump, recorded[0].dump);
    }

    #[test]
    fn an_endpoint_that_fails_is_an_error_naming_it() {
        let url = serve_once(b"not found".to_vec(), "404 Not Found");
        let err = fetch_goroutine_dump(&url, Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("404"), "{err}");
        let err = fetch_goroutine_dump("https://x/debug", Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("only http://"), "{err}");
        // Nothing listens there (a port just freed): refused, not a hang.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err =
            fetch_goroutine_dump(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(2));
        assert!(matches!(err, Err(IngestError::Io { .. })), "{err:?}");
    }

    #[test]
    fn a_silent_endpoint_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/debug/pprof/goroutine?debug=2",
            listener.local_addr().unwrap()
        );
        let started = Instant::now();
        let err = fetch_goroutine_dump(&url, Duration::from_millis(300)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3), "{err}");
        drop(listener);
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
        assert!(dechunk(b"9\r\nabc").is_none());
    }
}
