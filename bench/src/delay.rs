//! `parley-bench delay-proxy`: a TCP proxy that holds every chunk of bytes
//! for a fixed time in each direction before passing it on, so that the
//! cluster cases can put a network's round trip between the servers and
//! Redis on one machine. Each connection gets two pumps per direction (a
//! reader that stamps each chunk with the time it arrived, a writer that
//! sends it once the delay has passed), on plain threads: `thread::sleep`
//! keeps to tens of microseconds here, where an async timer wheel rounds up
//! to whole milliseconds. Order is kept, nothing is dropped, and a close on
//! either side is passed on after the bytes before it.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Largest chunk read at once; a bigger burst goes out as several.
const CHUNK: usize = 64 * 1024;

/// Serves until the process is killed: every connection to `listen` is
/// relayed to `to`, each direction delayed by `one_way`.
pub fn serve(listen: SocketAddr, to: SocketAddr, one_way: Duration) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen)?;
    eprintln!(
        "delay-proxy: {} -> {to}, {} us each way",
        listener.local_addr()?,
        one_way.as_micros()
    );
    for client in listener.incoming() {
        let client = match client {
            Ok(client) => client,
            Err(err) => {
                eprintln!("delay-proxy: accept: {err}");
                continue;
            }
        };
        let server = match TcpStream::connect(to) {
            Ok(server) => server,
            Err(err) => {
                eprintln!("delay-proxy: connect {to}: {err}");
                continue;
            }
        };
        for stream in [&client, &server] {
            stream.set_nodelay(true)?;
        }
        relay(client.try_clone()?, server.try_clone()?, one_way);
        relay(server, client, one_way);
    }
    Ok(())
}

/// Starts the two threads that carry `from`'s bytes to `to`, late by
/// `delay`.
fn relay(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (send, receive) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        let mut buffer = vec![0; CHUNK];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if send
                        .send((Instant::now() + delay, buffer[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        // Dropping `send` tells the writer that the bytes have ended.
    });
    thread::spawn(move || {
        while let Ok((due, bytes)) = receive.recv() {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
