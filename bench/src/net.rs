//! Client sockets: where the server is, and which local address each
//! client connects from. Many connections to one server port from one
//! source address run out of ephemeral ports (about 28,000 on Linux), so
//! clients are spread over 127.0.0.2, 127.0.0.3, ... (all of 127/8 is
//! loopback), and each socket is bound with IP_BIND_ADDRESS_NO_PORT so the
//! kernel picks the port at connect time, per destination.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;

use tokio::net::{TcpSocket, TcpStream};

/// The server's HTTP base URL, split into what the clients need.
#[derive(Debug, Clone)]
pub struct ServerUrl {
    /// `http://host:port`, without a trailing `/`.
    pub base: String,
    /// The server's socket address (the host must be an IP literal).
    pub addr: SocketAddr,
    /// `host:port`, for the Host header of WebSocket handshakes.
    pub authority: String,
}

impl ServerUrl {
    /// Parses `http://127.0.0.1:3000` (a path, if any, is ignored).
    pub fn parse(url: &str) -> Result<ServerUrl, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
        let authority = rest.split('/').next().unwrap_or_default().to_string();
        let addr = authority
            .parse()
            .map_err(|_| format!("{url}: the host must be an IP address with a port"))?;
        Ok(ServerUrl {
            base: format!("http://{authority}"),
            addr,
            authority,
        })
    }
}

/// The local addresses clients connect from, handed out round-robin.
#[derive(Debug, Clone)]
pub struct SourceAddrs {
    addrs: Vec<Ipv4Addr>,
}

impl SourceAddrs {
    /// `count` addresses from 127.0.0.2 on; 0 means the kernel's choice.
    pub fn new(count: u8) -> SourceAddrs {
        let addrs = (0..count)
            .map(|i| Ipv4Addr::new(127, 0, 0, 2 + i.min(250)))
            .collect();
        SourceAddrs { addrs }
    }

    /// The address client `index` connects from, if any is set.
    pub fn for_client(&self, index: usize) -> Option<Ipv4Addr> {
        (!self.addrs.is_empty()).then(|| self.addrs[index % self.addrs.len()])
    }

    /// Every address (for per-address HTTP client pools).
    pub fn all(&self) -> &[Ipv4Addr] {
        &self.addrs
    }
}

/// Opens a TCP connection to `to` from `from` (any port), with Nagle off,
/// and a receive buffer of `recv_buffer` bytes rather than the kernel's
/// self-tuned one when given.
pub async fn connect(
    from: Option<Ipv4Addr>,
    to: SocketAddr,
    recv_buffer: Option<u32>,
) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(from) = from {
        let one: libc::c_int = 1;
        // SAFETY: a valid socket descriptor, an option that takes a c_int,
        // and a pointer to a live c_int with its exact size.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        socket.bind(SocketAddr::new(IpAddr::V4(from), 0))?;
    }
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    let stream = socket.connect(to).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}
