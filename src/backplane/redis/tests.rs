//! Tests of the Redis backplane against a real `redis-server`, and their
//! harness: [`TestRedis`] starts one of the test's own (plain or TLS) on a
//! free port and can kill and relaunch it; the helpers build the tokens,
//! rooms and join requests the tests share. Each theme is a file of its
//! own: `equivalence.rs` (the same outcomes as the in-memory backplane),
//! `decisions.rs` (what the scripts decide and keep, across instances),
//! `subscription.rs` (what the feed passes on), `connection.rs`
//! (connecting, outages, TLS, redaction) and `cluster.rs` (a Redis Cluster
//! of three masters, its harness, and rooms spread over them).
//!
//! The harness holds no test of its own and must not reach into Redis
//! beyond starting it and giving a raw connection ([`TestRedis::conn`]).

mod cluster;
mod connection;
mod decisions;
mod equivalence;
mod subscription;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use redis::{Client, Connection};

use super::link::open;
use super::*;
use crate::core::backplane::{Logged, Origin};

/// A redis-server of the test's own on a free loopback port, in a
/// temporary directory, with no persistence; killed on drop.
struct TestRedis {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    /// Serving TLS only, with a self-signed certificate in `dir`.
    tls: bool,
}

impl TestRedis {
    fn start() -> TestRedis {
        TestRedis::start_with(false)
    }

    fn start_with(tls: bool) -> TestRedis {
        // unwrap: binding port 0 on loopback does not fail in a test box.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!(
            "parley-backplane-redis-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create the redis directory");
        if tls {
            let made = Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                ])
                .args([
                    "-subj",
                    "/CN=localhost",
                    "-addext",
                    "subjectAltName=DNS:localhost",
                ])
                .args(["-addext", "basicConstraints=critical,CA:FALSE"])
                .args(["-keyout", "key.pem", "-out", "cert.pem"])
                .current_dir(&dir)
                .stderr(Stdio::null())
                .status()
                .expect("the TLS test needs the openssl command (apt-get install -y openssl)");
            assert!(made.success(), "openssl could not make a certificate");
        }
        let mut redis = TestRedis {
            child: None,
            port,
            dir,
            tls,
        };
        redis.launch();
        redis
    }

    fn launch(&mut self) {
        let port = self.port.to_string();
        let mut command = Command::new("redis-server");
        if self.tls {
            command
                .args([
                    "--port",
                    "0",
                    "--tls-port",
                    &port,
                    "--tls-auth-clients",
                    "no",
                ])
                .args(["--tls-cert-file", "cert.pem", "--tls-key-file", "key.pem"]);
        } else {
            command.args(["--port", &port]);
        }
        let child = command
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is missing: these tests need a real Redis \
                 (apt-get install -y redis-server)"
            ),
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.tls && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            let ready = Client::open(self.url())
                .and_then(|c| c.get_connection_with_timeout(IO_TIMEOUT))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if ready.is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A raw connection, for looking behind the backplane.
    fn conn(&self) -> Connection {
        open(&Client::open(self.url()).unwrap()).unwrap()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn backplane(redis: &TestRedis, prefix: &str, history: usize) -> RedisBackplane {
    RedisBackplane::connect(&redis.url(), prefix, history).expect("connect")
}

fn tok(who: &str) -> ResumeToken {
    ResumeToken::from(format!("tok-{who}"))
}

fn room(name: &str) -> RoomName {
    RoomName::parse(name).unwrap()
}

fn nick(name: &str) -> Nickname {
    Nickname::parse(name, 32).unwrap()
}

fn origin() -> Origin {
    // A member id past 2^53, which a float would not keep.
    Origin {
        node: "node-a".into(),
        member: (1 << 60) + 3,
    }
}

fn join(who: &str, name: &str, in_room: &str, max_members: usize) -> JoinRequest {
    JoinRequest {
        room: room(in_room),
        nick: nick(name),
        token: tok(who),
        origin: origin(),
        since: Some(12_345_678_901_234_567),
        max_members,
        lease_ms: 60_000,
    }
}

const NOW: u64 = 1_700_000_000_123;

fn wait_subscribed(redis: &TestRedis, channel: &str) {
    let mut raw = redis.conn();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, count): (String, u64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel)
            .query(&mut raw)
            .unwrap();
        if count > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "nobody subscribed to {channel}");
        thread::sleep(Duration::from_millis(10));
    }
}
