//! A connection's socket, captured when actix-web accepts it, so that a
//! session can cut off a client that stopped reading. Closing the actor is
//! not enough: the HTTP layer stops polling a response whose socket is full,
//! so it would never notice, and the client's backlog would stay in memory.
//! `shutdown(2)` on the socket makes the pending write fail and the HTTP layer
//! drop the connection and everything queued for it.

use std::any::Any;

use actix_web::dev::Extensions;

/// The raw socket of one accepted connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnSocket {
    #[cfg(unix)]
    fd: std::os::fd::RawFd,
}

/// The HTTP service's connect hook (`on_connect_ext`, src/server.rs):
/// remembers the socket of each connection.
pub(crate) fn capture(conn: &dyn Any, extensions: &mut Extensions) {
    #[cfg(unix)]
    if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
        use std::os::fd::AsRawFd;
        extensions.insert(ConnSocket {
            fd: tcp.as_raw_fd(),
        });
    }
    #[cfg(not(unix))]
    let _ = (conn, extensions);
}

impl ConnSocket {
    /// Shuts the socket down in both directions.
    ///
    /// Call it only from the connection's own session while that session
    /// runs: the session lives inside the connection's response, so the
    /// connection (and with it the descriptor) is still open then and the
    /// descriptor cannot have been reused for another socket.
    pub(crate) fn cut(self) {
        #[cfg(unix)]
        {
            // SAFETY: by the contract above the descriptor is open and is
            // this connection's for the whole call; it is only borrowed.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) };
            if let Err(err) = socket2::SockRef::from(&fd).shutdown(std::net::Shutdown::Both) {
                log::debug!("shutdown of a slow client's socket failed: {err}");
            }
        }
    }
}
