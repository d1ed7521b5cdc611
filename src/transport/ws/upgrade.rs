//! Connections that ask to become WebSockets, served outside actix-http's
//! HTTP/1 dispatcher. The dispatcher gives every connection an 8 KiB read
//! buffer and an 8 KiB write buffer and keeps both for as long as the
//! connection lives, so an idle WebSocket held 16 KiB it did not need (see
//! docs/BENCHMARKS.md, "Memory per idle WebSocket"). actix-http hands a
//! request with `Upgrade: websocket` to this service together with its
//! socket; here it still goes through the whole actix-web application
//! (routing, origin check, handshake, the session actor), and the response
//! is then carried with no buffer held while the connection is idle: the
//! client's bytes are read on the stack when the handler asks for them and
//! handed on in chunks of exactly their size, and what the handler yields
//! is written from its own chunks.
//!
//! What the dispatcher does with such a response is kept: the head comes
//! from the same HTTP/1 codec; a 101 carries its body until the body ends,
//! anything else goes out with `Connection: close`; the body is polled only
//! while less than the configured write buffer size is waiting for the
//! socket, which is what lets [`crate::delivery::outbox`] bound a reader that stopped
//! reading; a client that half-closes ends the request body with an
//! "incomplete" error; after the body the server ends its side at once (it
//! closes first, as RFC 6455 §7.1.1 asks) and the connection lingers up to
//! the client-disconnect timeout for the client's own close.
//! It knows nothing of chat or of the session.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use actix_codec::{Encoder, Framed};
use actix_http::body::{BodySize, BoxBody, MessageBody};
use actix_http::error::PayloadError;
use actix_http::h1::{Codec, Message};
use actix_http::{BoxedPayloadStream, ConnectionType, Payload, Request, Response, ServiceConfig};
use actix_service::boxed::{BoxService, BoxServiceFactory};
use actix_web::dev::{fn_factory, fn_service, Service, ServiceFactory, ServiceResponse};
use actix_web::rt::net::TcpStream;
use actix_web::rt::time::{sleep_until, Instant, Sleep};
use bytes::{Buf, Bytes, BytesMut};
use futures_core::Stream;
use tokio::sync::Notify;

use crate::delivery::backlog::Backlog;

/// The most one read takes. The buffer lives on the stack for the call.
const READ_CHUNK: usize = 8 * 1024;

/// The most chunks handed to one vectored write.
const WRITE_SLICES: usize = 32;

/// What the session asks of its connection's writer, put in the
/// response's extensions: end the connection once `backlog` is marked
/// dropped, and cut a client whose socket takes nothing of what is queued
/// for `stall` (`--write-stall-secs`), whether or not the session runs: a
/// reader that stopped reading but stays under its backlog bound would
/// otherwise hold its connection for ever.
#[derive(Clone)]
pub(crate) struct Watch {
    /// The member's backlog.
    pub(crate) backlog: Backlog,
    /// The write-stall timeout.
    pub(crate) stall: Duration,
}

/// The actix-web application as one boxed service factory, so the upgrade
/// path can run its own instance of it on each worker.
pub(crate) type AppFactory = BoxServiceFactory<(), Request, ServiceResponse, actix_web::Error, ()>;

type AppService = BoxService<Request, ServiceResponse, actix_web::Error>;

/// The upgraded connections still open, across workers. Each runs as a
/// task of its own, which actix-server does not count, so a graceful stop
/// waits for them here ([`crate::server::Stopper::stop`]).
#[derive(Clone, Default)]
pub(crate) struct OpenConnections(Arc<Open>);

#[derive(Default)]
struct Open {
    count: AtomicUsize,
    none_left: Notify,
}

impl OpenConnections {
    /// Waits until no upgraded connection is open.
    pub(crate) async fn drained(&self) {
        loop {
            // Registered before the check, so a last close in between is
            // not missed.
            let none_left = self.0.none_left.notified();
            if self.0.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            none_left.await;
        }
    }

    fn enter(&self) -> OpenGuard {
        self.0.count.fetch_add(1, Ordering::SeqCst);
        OpenGuard(self.clone())
    }
}

struct OpenGuard(OpenConnections);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        let open = &(self.0).0;
        if open.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            open.none_left.notify_waiters();
        }
    }
}

/// actix-http's upgrade service: answers every request that asked for an
/// upgrade with an instance of the application made for this worker, then
/// carries the response in a task of its own. That lets actix-http's
/// connection task end, and with it the dispatcher it holds (about 1 KiB).
pub(crate) fn service(
    app: AppFactory,
    open: OpenConnections,
) -> impl ServiceFactory<
    (Request, Framed<TcpStream, Codec>),
    Config = (),
    Response = (),
    Error = actix_web::Error,
    InitError = (),
> {
    fn_factory(move || {
        let app = app.new_service(());
        let open = open.clone();
        async move {
            let app: Rc<AppService> = Rc::new(app.await?);
            Ok(fn_service(
                move |(req, framed): (Request, Framed<TcpStream, Codec>)| {
                    let (app, open) = (Rc::clone(&app), open.clone());
                    // Boxed: the dispatcher holds this future inline, and
                    // answering takes more room than anything it holds
                    // for a plain request.
                    Box::pin(async move {
                        if let Some(connection) = answer(app, req, framed).await {
                            actix_web::rt::spawn(Upgraded {
                                phase: Phase::Carrying(connection),
                                _open: open.enter(),
                            });
                        }
                        Ok(())
                    })
                        as Pin<Box<dyn Future<Output = Result<(), actix_web::Error>>>>
                },
            ))
        }
    })
}

/// One upgraded connection after its response head: the task that carries
/// it to its end.
struct Upgraded {
    phase: Phase,
    _open: OpenGuard,
}

enum Phase {
    /// The response is on its way out.
    Carrying(UpgradedConnection),
    /// After the body: waiting for the client's close until the deadline.
    Lingering(Rc<TcpStream>, Pin<Box<Sleep>>),
}

impl Future for Upgraded {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let next = match &mut self.phase {
                Phase::Carrying(connection) => {
                    if let Err(err) = ready!(connection.poll(cx)) {
                        log::debug!("upgraded connection ended: {err}");
                        return Poll::Ready(());
                    }
                    // The server closes first (RFC 6455 §7.1.1): its side
                    // ends as soon as the body (a WebSocket's close frame
                    // last) is written.
                    let io = Rc::clone(&connection.io);
                    shut_down(&io);
                    match connection.config.client_disconnect_deadline() {
                        Some(deadline) => {
                            Phase::Lingering(io, Box::pin(sleep_until(deadline.into())))
                        }
                        None => return Poll::Ready(()),
                    }
                }
                Phase::Lingering(io, deadline) => {
                    // Reads and discards until the client closes too or the
                    // deadline passes, so a client's close frame or last
                    // bytes do not turn into a reset.
                    if deadline.as_mut().poll(cx).is_pending() {
                        while let Ok(Some(_)) = ready!(read(io, cx)) {}
                    }
                    return Poll::Ready(());
                }
            };
            self.phase = next;
        }
    }
}

/// Ends the connection's write side; the socket closes when dropped.
fn shut_down(io: &TcpStream) {
    if let Err(err) = socket2::SockRef::from(io).shutdown(std::net::Shutdown::Write) {
        log::debug!("shutdown of an upgraded connection failed: {err}");
    }
}

/// Answers one upgrade request through the application and writes the
/// response head; `None` if the connection cannot go on.
async fn answer(
    app: Rc<AppService>,
    mut req: Request,
    framed: Framed<TcpStream, Codec>,
) -> Option<UpgradedConnection> {
    let parts = framed.into_parts();
    let io = Rc::new(parts.io);
    let mut codec = parts.codec;
    let mut out = WriteQueue::default();
    // The tail of an earlier response on this connection, if the dispatcher
    // had not written all of it yet.
    out.push(Bytes::copy_from_slice(&parts.write_buf));
    // Whatever the client sent after the request head (its first frames).
    let early = Bytes::copy_from_slice(&parts.read_buf);
    drop((parts.read_buf, parts.write_buf));
    let incoming: BoxedPayloadStream = Box::pin(Incoming {
        io: Rc::clone(&io),
        early,
        ended: false,
    });
    *req.payload() = Payload::from(incoming);

    let response: Response<BoxBody> = match app.call(req).await {
        Ok(response) => response.into(),
        Err(err) => err.into(),
    };
    let (mut head, body) = response.into_parts();
    let watch = head.extensions().get::<Watch>().cloned();
    let upgraded = head.upgrade();
    if !upgraded {
        // The request body (the rest of the connection) was not read.
        head.head_mut().set_connection_type(ConnectionType::Close);
    }
    let size = body.size();
    let mut encoded = BytesMut::new();
    if let Err(err) = codec.encode(Message::Item((head, size)), &mut encoded) {
        log::debug!("upgrade: cannot encode the response head: {err}");
        return None;
    }
    out.push(encoded.freeze());
    out.uncounted = out.queued;
    Some(UpgradedConnection {
        watch,
        stall: None,
        config: codec.config().clone(),
        done: matches!(size, BodySize::None | BodySize::Sized(0)),
        // After a 101 the codec passes chunks through untouched (the
        // connection's end delimits the body), so they are written as they
        // come, with no copy, and the codec is not kept.
        codec: (!upgraded).then(|| Box::new(codec)),
        io,
        body,
        out,
    })
}

/// Reads what the socket holds, up to [`READ_CHUNK`], into a buffer of
/// exactly that size; `None` at the end of the stream.
fn read(io: &TcpStream, cx: &mut Context<'_>) -> Poll<io::Result<Option<Bytes>>> {
    let mut buf = [0u8; READ_CHUNK];
    loop {
        ready!(io.poll_read_ready(cx))?;
        match io.try_read(&mut buf) {
            Ok(0) => return Poll::Ready(Ok(None)),
            Ok(n) => return Poll::Ready(Ok(Some(Bytes::copy_from_slice(&buf[..n])))),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Poll::Ready(Err(err)),
        }
    }
}

/// The request body of an upgraded connection: what the client sends,
/// read from the socket only when the handler polls for it.
struct Incoming {
    io: Rc<TcpStream>,
    /// Bytes that arrived with the request head, handed out first.
    early: Bytes,
    ended: bool,
}

impl Stream for Incoming {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if !self.early.is_empty() {
            return Poll::Ready(Some(Ok(std::mem::take(&mut self.early))));
        }
        if self.ended {
            return Poll::Ready(None);
        }
        let item = match ready!(read(&self.io, cx)) {
            Ok(Some(bytes)) => return Poll::Ready(Some(Ok(bytes))),
            // As the dispatcher does: a body that is cut short is an error.
            Ok(None) => PayloadError::Incomplete(None),
            Err(err) => PayloadError::Io(err),
        };
        self.ended = true;
        Poll::Ready(Some(Err(item)))
    }
}

/// Bytes waiting for the socket, in order, as the chunks they came in.
#[derive(Default)]
struct WriteQueue {
    chunks: VecDeque<Bytes>,
    queued: usize,
    /// Bytes at the front that no backlog counts (the response head).
    uncounted: usize,
    /// Bytes written in all, so a stall can be told from slow progress.
    written: u64,
}

impl WriteQueue {
    fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.queued += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// Writes until everything queued is written (`Ready(Ok)`) or the
    /// socket is full (`Pending`), releasing what the socket took from
    /// `backlog`.
    fn poll_write(
        &mut self,
        io: &TcpStream,
        backlog: Option<&Backlog>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while !self.chunks.is_empty() {
            ready!(io.poll_write_ready(cx))?;
            let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
            let mut count = 0;
            for (slot, chunk) in slices.iter_mut().zip(&self.chunks) {
                *slot = IoSlice::new(chunk);
                count += 1;
            }
            match io.try_write_vectored(&slices[..count]) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(written) => {
                    let counted = self.advance(written);
                    if let Some(backlog) = backlog {
                        backlog.release(counted);
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
        // An idle connection keeps no queue.
        self.chunks = VecDeque::new();
        Poll::Ready(Ok(()))
    }

    /// Moves past `written` bytes; answers how many of them were counted
    /// in a backlog (all but the response head).
    fn advance(&mut self, mut written: usize) -> usize {
        let counted = written.saturating_sub(self.uncounted);
        self.uncounted -= written - counted;
        self.queued -= written;
        self.written += written as u64;
        while written > 0 {
            // unwrap: the socket took no more than was queued.
            let front = self.chunks.front_mut().unwrap();
            if written < front.len() {
                front.advance(written);
                return counted;
            }
            written -= front.len();
            self.chunks.pop_front();
        }
        counted
    }
}

/// An upgraded connection carrying its response: all it holds while idle.
pub(crate) struct UpgradedConnection {
    io: Rc<TcpStream>,
    body: BoxBody,
    out: WriteQueue,
    /// A WebSocket's [`Watch`], from the response's extensions.
    watch: Option<Watch>,
    /// Armed while the socket takes nothing: when it fires, the client is
    /// cut. With the bytes written in all when it was armed.
    stall: Option<(Pin<Box<Sleep>>, u64)>,
    /// Encodes the body as the head announced; `None` after a 101, whose
    /// body goes out as it is.
    codec: Option<Box<Codec>>,
    done: bool,
    /// The server's HTTP settings: how much may wait for the socket before
    /// the body is no longer polled, how long to wait for the client's
    /// close after the body.
    config: ServiceConfig,
}

impl UpgradedConnection {
    /// Moves the body to the socket; `Ready(Ok)` once the body has ended
    /// and all of it is written.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.watch.as_ref().is_some_and(|w| w.backlog.is_dropped()) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            )));
        }
        loop {
            let mut full = false;
            while !self.done {
                if self.out.queued >= self.config.h1_write_buffer_size() {
                    full = true;
                    break;
                }
                match Pin::new(&mut self.body).poll_next(cx) {
                    Poll::Ready(Some(Ok(chunk))) => self.send(Some(chunk))?,
                    Poll::Ready(None) => {
                        self.send(None)?;
                        self.done = true;
                    }
                    Poll::Ready(Some(Err(err))) => {
                        return Poll::Ready(Err(io::Error::other(err.to_string())));
                    }
                    Poll::Pending => break,
                }
            }
            let backlog = self.watch.as_ref().map(|w| &w.backlog);
            if self.out.poll_write(&self.io, backlog, cx)?.is_pending() {
                return self.stalled(cx);
            }
            self.stall = None;
            if self.done {
                return Poll::Ready(Ok(()));
            }
            if !full {
                return Poll::Pending;
            }
        }
    }

    /// The socket took less than was queued: arms the stall timer, or
    /// re-arms it if the socket has taken anything since it was armed (a
    /// slow reader makes progress; only one that takes nothing is cut).
    fn stalled(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(watch) = &self.watch else {
            return Poll::Pending;
        };
        // A reader dropped while its socket is full must end now, not
        // when the socket drains or the stall timer fires.
        watch.backlog.wake_on_drop(cx.waker());
        let written = self.out.written;
        let timeout = watch.stall;
        let stall = match &mut self.stall {
            Some((timer, armed_at)) if *armed_at == written => timer,
            stall => {
                let deadline = Instant::now() + timeout;
                &mut stall.insert((Box::pin(sleep_until(deadline)), written)).0
            }
        };
        if stall.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took nothing for the write-stall timeout",
            )));
        }
        Poll::Pending
    }

    fn send(&mut self, chunk: Option<Bytes>) -> io::Result<()> {
        match (&mut self.codec, chunk) {
            (None, Some(chunk)) => self.out.push(chunk),
            (None, None) => {}
            (Some(codec), chunk) => {
                let mut encoded = BytesMut::new();
                codec.encode(Message::Chunk(chunk), &mut encoded)?;
                self.out.push(encoded.freeze());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream as StdStream;
    use std::time::Duration;

    use super::*;
    use crate::{Config, Server, Stopper};

    /// The real server on port 0, in a thread with its own actix system.
    fn start() -> (u16, Stopper) {
        let args = [
            "parley",
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--workers",
            "1",
            "--data-dir",
            "none",
        ];
        let config = Config::parse_args(args).expect("arguments parse");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let server = Server::bind(&config)?;
                // unwrap: the test waits on the other end.
                tx.send((server.port(), server.stopper())).unwrap();
                server.run().await
            })
        });
        // unwrap: the server thread sends once it is bound.
        rx.recv().unwrap()
    }

    fn stop(stopper: Stopper) {
        actix_rt::System::new().block_on(stopper.stop());
    }

    fn connect(port: u16) -> StdStream {
        let socket = StdStream::connect(("127.0.0.1", port)).expect("connects");
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout set");
        socket
    }

    fn handshake(path: &str, port: u16) -> String {
        format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
    }

    /// A client's text frame: masked, as clients must.
    fn text_frame(text: &str) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut frame = vec![0x81, 0x80 | text.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        frame
    }

    /// Reads until `buf` holds the response head; returns it and leaves
    /// what follows in `buf`.
    fn read_head(socket: &mut StdStream, buf: &mut Vec<u8>) -> String {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                buf.drain(..end + 4);
                return head;
            }
            let mut chunk = [0u8; 4096];
            let n = socket.read(&mut chunk).expect("reads the head");
            assert!(n > 0, "closed before the head: {buf:?}");
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next text frame from the server, skipping its pings.
    fn next_text(socket: &mut StdStream, buf: &mut Vec<u8>) -> String {
        loop {
            if buf.len() >= 2 && buf[1] < 126 && buf.len() >= 2 + buf[1] as usize {
                let len = buf[1] as usize;
                let frame: Vec<u8> = buf.drain(..2 + len).collect();
                if frame[0] == 0x81 {
                    return String::from_utf8(frame[2..].to_vec()).expect("UTF-8 text");
                }
                continue;
            }
            let mut chunk = [0u8; 4096];
            let n = socket.read(&mut chunk).expect("reads a frame");
            assert!(n > 0, "closed before a text frame");
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    #[test]
    fn frames_sent_with_the_handshake_are_not_lost() {
        let (port, stopper) = start();
        let mut socket = connect(port);
        let mut request = handshake("/ws", port).into_bytes();
        request.extend(text_frame(r#"{"type":"ping"}"#));
        socket.write_all(&request).expect("writes");
        let mut buf = Vec::new();
        let head = read_head(&mut socket, &mut buf);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert_eq!(next_text(&mut socket, &mut buf), r#"{"type":"pong"}"#);
        stop(stopper);
    }

    #[test]
    fn an_upgrade_elsewhere_is_answered_and_the_connection_closed() {
        let (port, stopper) = start();
        let mut socket = connect(port);
        socket
            .write_all(handshake("/nowhere", port).as_bytes())
            .expect("writes");
        let mut rest = Vec::new();
        let head = read_head(&mut socket, &mut rest);
        assert!(head.starts_with("HTTP/1.1 404"), "{head}");
        assert!(
            head.to_ascii_lowercase().contains("connection: close"),
            "{head}"
        );
        socket.read_to_end(&mut rest).expect("reads to the end");
        assert!(
            String::from_utf8_lossy(&rest).contains("not_found"),
            "{rest:?}"
        );
        stop(stopper);
    }

    #[test]
    fn a_drained_count_waits_for_the_last_connection() {
        actix_rt::System::new().block_on(async {
            let open = OpenConnections::default();
            open.drained().await;
            let guard = open.enter();
            let waiting = actix_rt::spawn({
                let open = open.clone();
                async move { open.drained().await }
            });
            actix_rt::time::sleep(Duration::from_millis(20)).await;
            assert!(!waiting.is_finished());
            drop(guard);
            // unwrap: the task does not panic.
            actix_rt::time::timeout(Duration::from_secs(5), waiting)
                .await
                .expect("drained once the last one closed")
                .unwrap();
        });
    }
}
