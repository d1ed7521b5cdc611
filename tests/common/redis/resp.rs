//! Raw RESP (the Redis wire protocol) over a plain blocking `TcpStream`:
//! enough for the harness to ping Redis and for a test to write a key and
//! read it back, without a Redis client crate. One connection per command;
//! every read and write has a timeout, so a Redis that hangs fails the test.
//! It knows nothing about Parley's keys.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// How long one connect, read or write may take (a hang guard).
const IO_PATIENCE: Duration = Duration::from_secs(5);

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$3\r\nfoo`, or `$-1` (none).
    Bulk(Option<String>),
    /// `*2\r\n...`, or `*-1` (none).
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The bulk strings of an array reply (as `KEYS` gives), in order.
    pub fn strings(&self) -> Vec<String> {
        match self {
            Reply::Array(Some(items)) => items
                .iter()
                .map(|item| match item {
                    Reply::Bulk(Some(text)) => text.clone(),
                    other => panic!("expected a bulk string, got {other:?}"),
                })
                .collect(),
            other => panic!("expected an array, got {other:?}"),
        }
    }
}

fn connect(port: u16) -> std::io::Result<TcpStream> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = TcpStream::connect_timeout(&address, IO_PATIENCE)?;
    stream.set_read_timeout(Some(IO_PATIENCE))?;
    stream.set_write_timeout(Some(IO_PATIENCE))?;
    Ok(stream)
}

/// Whether Redis on `port` answers an inline `PING` with `+PONG`; while it
/// replays its append-only file it answers `-LOADING`, which is a no.
pub fn pong(port: u16) -> bool {
    let answer = connect(port).and_then(|mut stream| {
        stream.write_all(b"PING\r\n")?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line)?;
        Ok(line)
    });
    answer.is_ok_and(|line| line.trim_end() == "+PONG")
}

/// Sends one command (each argument a bulk string) to Redis on `port` and
/// returns its reply; panics if Redis cannot be reached.
pub fn command(port: u16, args: &[&str]) -> Reply {
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    let mut stream = connect(port).unwrap_or_else(|e| panic!("connect to redis on {port}: {e}"));
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("send {args:?} to redis: {e}"));
    read_reply(&mut BufReader::new(stream))
        .unwrap_or_else(|e| panic!("read redis's answer to {args:?}: {e}"))
}

fn read_reply(reader: &mut impl BufRead) -> std::io::Result<Reply> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at(1.min(line.len()));
    let number = || -> std::io::Result<i64> {
        rest.parse()
            .map_err(|_| std::io::Error::other(format!("bad RESP line {line:?}")))
    };
    Ok(match kind {
        "+" => Reply::Simple(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Integer(number()?),
        "$" => match usize::try_from(number()?) {
            Err(_) => Reply::Bulk(None),
            Ok(len) => {
                let mut body = vec![0; len + 2];
                reader.read_exact(&mut body)?;
                body.truncate(len);
                Reply::Bulk(Some(String::from_utf8_lossy(&body).into_owned()))
            }
        },
        "*" => match usize::try_from(number()?) {
            Err(_) => Reply::Array(None),
            Ok(len) => Reply::Array(Some(
                (0..len)
                    .map(|_| read_reply(reader))
                    .collect::<std::io::Result<_>>()?,
            )),
        },
        _ => return Err(std::io::Error::other(format!("bad RESP line {line:?}"))),
    })
}
