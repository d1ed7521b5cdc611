//! `parley doctor URL`: the connection check of `{base}/check`, run from
//! the command line against a deployed Parley at the address users open,
//! through whatever proxy stands there: the page itself, the origin check as
//! a browser on that address would meet it, a WebSocket opening and a
//! ping's round trip, a polling session whose pong must not be held back,
//! and a request held as long as a long-poll. Each line names the fix of
//! what fails; the run succeeds only when both transports work.
//!
//! Blocking sockets and a small HTTP/1.1 client of its own (one request per
//! connection, `Connection: close`), TLS by rustls with the system's roots:
//! the binary gains no HTTP client for a command run by hand. It knows the
//! protocol only as a client does and touches nothing of the server's.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::config::PublicUrl;

/// How long one step may take before it counts as no answer.
const STEP: Duration = Duration::from_secs(10);

/// Where the checks go: scheme, host, port and base path of the URL given.
struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// The `Host` header: host, and port unless the scheme's default.
    authority: String,
    /// The page's origin, as a browser on the URL would send it.
    origin: String,
    /// The base path, "" at the root.
    base: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, String> {
        let public = PublicUrl::parse(url)?;
        let (scheme, authority) = public
            .origin
            .split_once("://")
            .ok_or_else(|| format!("{url}: no scheme"))?;
        let tls = scheme == "https";
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => (
                host.trim_matches(['[', ']']).to_owned(),
                port.parse().map_err(|_| format!("{url}: bad port"))?,
            ),
            _ => (authority.to_owned(), if tls { 443 } else { 80 }),
        };
        Ok(Target {
            tls,
            host,
            port,
            authority: authority.to_owned(),
            origin: public.origin.clone(),
            base: public.path.trim_end_matches('/').to_owned(),
        })
    }
}

/// A connection, plain or TLS.
trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A connection to `target` whose reads give up after `patience`.
fn connect(target: &Target, patience: Duration) -> io::Result<Box<dyn Stream>> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))?;
    tcp.set_read_timeout(Some(patience))?;
    tcp.set_write_timeout(Some(STEP))?;
    if !target.tls {
        return Ok(Box::new(tcp));
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let tls = rustls::ClientConnection::new(Arc::new(config), name).map_err(io::Error::other)?;
    Ok(Box::new(rustls::StreamOwned::new(tls, tcp)))
}

/// An answer: its status and body.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Reads a response head from `reader`.
fn read_head(reader: &mut impl BufRead) -> io::Result<(u16, Vec<(String, String)>)> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("not HTTP: {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            return Ok((status, headers));
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
}

/// One request on a connection of its own.
fn request(
    target: &Target,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> io::Result<Answer> {
    request_within(target, method, path, headers, body, STEP)
}

/// [`request`], waiting up to `patience` for the answer.
fn request_within(
    target: &Target,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    patience: Duration,
) -> io::Result<Answer> {
    let mut stream = connect(target, patience)?;
    let mut head = format!(
        "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: parley-doctor\r\n",
        target.base, target.authority
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    head.push_str(body.unwrap_or_default());
    stream.write_all(head.as_bytes())?;
    stream.flush()?;
    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader)?;
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        // A TLS peer may end without close_notify: what arrived counts.
        let _ = reader.read_to_end(&mut body);
    }
    Ok(Answer { status, body })
}

/// What the checks found, printed as they go.
struct Report<'a> {
    out: &'a mut dyn Write,
    failed: bool,
}

impl Report<'_> {
    fn pass(&mut self, what: &str, detail: &str) {
        let _ = writeln!(self.out, "PASS {what}: {detail}");
    }

    fn fail(&mut self, what: &str, detail: &str, fix: &str) {
        self.failed = true;
        let _ = writeln!(self.out, "FAIL {what}: {detail}");
        for line in fix.lines() {
            let _ = writeln!(self.out, "     fix: {line}");
        }
    }
}

const FIX_WEBSOCKET: &str = "nginx: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";
Apache: a2enmod proxy_wstunnel, and route upgrades to ws:// (RewriteCond %{HTTP:Upgrade} =websocket [NC]; RewriteRule ^/?(.*) ws://127.0.0.1:3000/$1 [P,L])
IIS: install the WebSocket Protocol feature; Azure App Service: Configuration, General settings, Web sockets: On";

const FIX_BUFFERED: &str =
    "nginx: proxy_buffering off; for the polling path (Parley sends X-Accel-Buffering: no)
Apache: no mod_deflate or mod_buffer on the polling path; ProxyPass ... flushpackets=on
IIS: responseBufferLimit=\"0\" on the handler (the shipped web.config has it)";

const FIX_IDLE: &str = "nginx: proxy_read_timeout 60s;
Apache: ProxyTimeout 60
IIS: requestTimeout=\"00:02:00\" on httpPlatform; ARR: Server Proxy Settings, Time-out 120 s
or start Parley with a shorter --poll-wait-secs";

/// Runs every check against `url`, printing to `out`; true when both
/// transports work.
pub fn run(url: &str, out: &mut dyn Write) -> bool {
    let target = match Target::parse(url) {
        Ok(target) => target,
        Err(err) => {
            let _ = writeln!(out, "FAIL the URL: {err}");
            return false;
        }
    };
    let mut report = Report { out, failed: false };
    let seen = page_and_origin(&target, &mut report);
    let websocket = websocket(&target, &mut report);
    let polling = polling(&target, &seen, &mut report);
    idle(&target, &seen, &mut report);
    let works = websocket && polling && !report.failed;
    let _ = writeln!(
        report.out,
        "{}",
        match (websocket, polling) {
            (true, true) if works => "Both transports work.",
            (true, true) => "Both transports work, but see the failures above.",
            (false, true) => "Long-polling works, WebSocket does not: the chat works, more slowly.",
            (true, false) => "WebSocket works, long-polling does not.",
            (false, false) => "Neither transport works: the chat cannot connect here.",
        }
    );
    websocket && polling
}

/// The page, and what the server saw of a browser's request from the URL.
fn page_and_origin(target: &Target, report: &mut Report<'_>) -> Value {
    match request(target, "GET", "/", &[], None) {
        Ok(page) if page.status == 200 && page.body.windows(9).any(|w| w == b"data-base") => {
            report.pass(
                "the page",
                &format!("{}{}/ is Parley's", target.origin, target.base),
            );
        }
        Ok(page) => report.fail(
            "the page",
            &format!(
                "{}{}/ answered HTTP {} but not Parley's page",
                target.origin, target.base, page.status
            ),
            "check the proxy's address, port and path, and Parley's --base-path",
        ),
        Err(err) => report.fail(
            "the page",
            &format!("{}{}/: {err}", target.origin, target.base),
            "is the proxy (or Parley) listening there?",
        ),
    }
    let origin = [("Origin", target.origin.as_str())];
    match request(target, "POST", "/check/seen", &origin, Some("{}")) {
        Ok(answer) if answer.status == 200 => {
            let seen = answer.json();
            let host = seen["host"].as_str().unwrap_or("(none)");
            if seen["origin_allowed"] == json!(true) {
                report.pass(
                    "origin",
                    &format!(
                        "a page from {} may connect (the server saw Host {host})",
                        target.origin
                    ),
                );
            } else {
                let hint = seen["hint"].as_str().unwrap_or("the origin is refused");
                report.fail(
                    "origin",
                    &format!("a page from {} is refused", target.origin),
                    hint,
                );
            }
            seen
        }
        Ok(answer) => {
            report.fail(
                "origin",
                &format!("/check/seen answered HTTP {}", answer.status),
                "an older Parley, or the proxy does not pass POST requests",
            );
            Value::Null
        }
        Err(err) => {
            report.fail(
                "origin",
                &err.to_string(),
                "is the proxy passing requests on?",
            );
            Value::Null
        }
    }
}

/// Reads one server frame (unmasked, unfragmented) as text.
fn read_frame(reader: &mut impl Read) -> io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    reader.read_exact(&mut head)?;
    let mut len = u64::from(head[1] & 0x7f);
    if len == 126 {
        let mut ext = [0u8; 2];
        reader.read_exact(&mut ext)?;
        len = u64::from(u16::from_be_bytes(ext));
    } else if len == 127 {
        let mut ext = [0u8; 8];
        reader.read_exact(&mut ext)?;
        len = u64::from_be_bytes(ext);
    }
    let mut payload = vec![0; usize::try_from(len.min(1 << 20)).unwrap_or(0)];
    reader.read_exact(&mut payload)?;
    Ok((head[0] & 0x0f, payload))
}

fn websocket(target: &Target, report: &mut Report<'_>) -> bool {
    let started = Instant::now();
    let opened = (|| -> Result<(), String> {
        let mut stream = connect(target, STEP).map_err(|e| e.to_string())?;
        let head = format!(
            "GET {}/ws HTTP/1.1\r\nHost: {}\r\nOrigin: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: cGFybGV5LWRvY3Rvci0xMg==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            target.base, target.authority, target.origin
        );
        stream
            .write_all(head.as_bytes())
            .map_err(|e| e.to_string())?;
        let mut reader = BufReader::new(stream);
        let (status, _) =
            read_head(&mut reader).map_err(|e| format!("no answer to the upgrade: {e}"))?;
        match status {
            101 => {}
            403 => return Err("the upgrade was refused (403): see the origin check".into()),
            400 | 426 => {
                return Err(format!(
                "the upgrade got HTTP {status}: the proxy does not pass Upgrade and Connection on"
            ))
            }
            _ => return Err(format!("the upgrade got HTTP {status}, not 101")),
        }
        let opened_in = started.elapsed();
        // A masked text frame {"type":"ping"} with a zero mask.
        let ping = br#"{"type":"ping"}"#;
        let mut frame = vec![0x81, 0x80 | ping.len() as u8, 0, 0, 0, 0];
        frame.extend_from_slice(ping);
        reader
            .get_mut()
            .write_all(&frame)
            .map_err(|e| e.to_string())?;
        let sent = Instant::now();
        loop {
            let (op, payload) = read_frame(&mut reader).map_err(|e| format!("no pong: {e}"))?;
            if op == 0x1 && payload.windows(6).any(|w| w == b"\"pong\"") {
                report.pass(
                    "WebSocket",
                    &format!(
                        "opened in {} ms, a ping's round trip {} ms",
                        opened_in.as_millis(),
                        sent.elapsed().as_millis()
                    ),
                );
                return Ok(());
            }
            if op == 0x8 {
                return Err("the server closed it".into());
            }
        }
    })();
    match opened {
        Ok(()) => true,
        Err(why) => {
            report.fail("WebSocket", &why, FIX_WEBSOCKET);
            false
        }
    }
}

fn frames_have_pong(answer: &Answer) -> bool {
    answer.json()["frames"]
        .as_array()
        .is_some_and(|frames| frames.iter().any(|f| f["type"] == "pong"))
}

fn polling(target: &Target, seen: &Value, report: &mut Report<'_>) -> bool {
    let tag = format!("parley-doctor-{}", &crate::core::ids::new_secret()[..6]);
    let origin = ("Origin", target.origin.as_str());
    let join = json!({"type": "join", "nick": tag, "room": tag}).to_string();
    let opened = match request(target, "POST", "/poll/open", &[origin], Some(&join)) {
        Ok(answer) if answer.status == 200 => answer.json(),
        Ok(answer) => {
            let error = &answer.json()["error"];
            let why = error["hint"]
                .as_str()
                .or(error["message"].as_str())
                .unwrap_or("");
            report.fail(
                "long-polling",
                &format!(
                    "opening got HTTP {} {}",
                    answer.status,
                    error["code"].as_str().unwrap_or("")
                ),
                if why.is_empty() {
                    "see the origin check"
                } else {
                    why
                },
            );
            return false;
        }
        Err(err) => {
            report.fail(
                "long-polling",
                &format!("opening: {err}"),
                "is the proxy passing POST requests on?",
            );
            return false;
        }
    };
    let session = opened["session"].as_str().unwrap_or_default().to_owned();
    let mut cursor = opened["cursor"].as_u64().unwrap_or(0);
    let wait = Duration::from_secs(seen["poll_wait_secs"].as_u64().unwrap_or(25));
    let patience = wait + STEP;
    let sent = Instant::now();
    let (result, elapsed) = std::thread::scope(|scope| {
        let session = session.as_str();
        let waiting = scope.spawn(move || {
            let path = format!("/poll?cursor={cursor}");
            request_within(
                target,
                "GET",
                &path,
                &[("Parley-Session", session)],
                None,
                patience,
            )
        });
        std::thread::sleep(Duration::from_millis(300));
        let ping = r#"[{"type":"ping"}]"#;
        if let Err(err) = request(
            target,
            "POST",
            "/poll/send",
            &[("Parley-Session", session), origin],
            Some(ping),
        ) {
            return (Err(format!("sending: {err}")), sent.elapsed());
        }
        let mut answer = waiting
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the poll failed")));
        loop {
            match answer {
                Ok(batch) if batch.status == 200 && frames_have_pong(&batch) => {
                    return (Ok(()), sent.elapsed());
                }
                Ok(batch) if batch.status == 200 && sent.elapsed() < wait + STEP => {
                    cursor = batch.json()["cursor"].as_u64().unwrap_or(cursor);
                    let path = format!("/poll?cursor={cursor}");
                    let session = [("Parley-Session", session)];
                    answer = request_within(target, "GET", &path, &session, None, patience);
                }
                Ok(batch) => {
                    return (
                        Err(format!("a poll got HTTP {}", batch.status)),
                        sent.elapsed(),
                    )
                }
                Err(err) => return (Err(format!("polling: {err}")), sent.elapsed()),
            }
        }
    });
    let _ = request(
        target,
        "POST",
        "/poll/close",
        &[("Parley-Session", &session), origin],
        None,
    );
    match result {
        Ok(()) if elapsed < Duration::from_secs(5).min(wait) => {
            report.pass(
                "long-polling",
                &format!("a ping's pong came back in {} ms", elapsed.as_millis()),
            );
            true
        }
        Ok(()) => {
            report.fail(
                "long-polling",
                &format!("a ping's pong came back only after {} s: the proxy holds long-poll answers back", elapsed.as_secs()),
                FIX_BUFFERED,
            );
            false
        }
        Err(why) => {
            report.fail("long-polling", &why, FIX_BUFFERED);
            false
        }
    }
}

fn idle(target: &Target, seen: &Value, report: &mut Report<'_>) {
    let Some(wait) = seen["poll_wait_secs"].as_u64() else {
        return;
    };
    let secs = wait + 2;
    let path = format!("/check/wait?secs={secs}");
    let patience = Duration::from_secs(secs) + STEP;
    match request_within(target, "GET", &path, &[], None, patience) {
        Ok(answer) if answer.status == 200 => report.pass("idle timeout", &format!("a request may wait {secs} s, longer than a long-poll")),
        Ok(answer) => report.fail(
            "idle timeout",
            &format!("a request waiting {secs} s got HTTP {}: the proxy gives up sooner than a long-poll waits", answer.status),
            FIX_IDLE,
        ),
        Err(err) => report.fail("idle timeout", &format!("a request waiting {secs} s: {err}"), FIX_IDLE),
    }
}
