//! Connecting and losing the connection: an outage is refused as
//! degraded and heals, an unreachable Redis fails at start without showing
//! the password, `rediss://` checks the certificate, an ACL user, its
//! password, a database number and a prefix are used as the URL says, and
//! [`redact`] hides only the password. What the scripts decide is tested elsewhere.

use std::sync::mpsc;

use std::time::Instant;

use super::*;

#[test]
fn an_outage_is_refused_fast_as_degraded_and_heals() {
    let mut redis = TestRedis::start();
    let mut bp = backplane(&redis, "parley:", 10);
    let (tx, rx) = mpsc::channel();
    bp.subscribe_with(Box::new(move |logged| {
        if let Logged::Degraded(down) = logged {
            let _ = tx.send(down);
        }
    }));
    wait_subscribed(&redis, "parley:ev");
    bp.join(join("a", "Ann", "lobby", 10)).unwrap();
    assert!(bp.healthy());
    redis.kill();
    // Each call gives up after the connection's 1 s timeouts at most (how
    // fast is a benchmark's business, not this test's).
    for _ in 0..4 {
        let refused = bp.typing(&room("lobby"), &tok("a"), true).unwrap_err();
        assert_eq!(refused, Refusal::degraded());
        assert!(!bp.healthy());
        thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(rx.recv_timeout(Duration::from_secs(3)), Ok(true));
    redis.launch();
    let deadline = Instant::now() + Duration::from_secs(5);
    while bp.join(join("a", "Ann", "lobby", 10)).is_err() {
        assert!(Instant::now() < deadline, "never reconnected");
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(false));
    assert!(bp.healthy());
    assert!(rx.try_recv().is_err(), "each change told once");
}

#[test]
fn an_unreachable_redis_fails_at_start_naming_it_without_the_password() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://user:hunter2@127.0.0.1:{port}/0");
    let error = RedisBackplane::connect(&url, "parley:", 10).unwrap_err();
    assert!(
        error.contains(&format!("redis://user:***@127.0.0.1:{port}/0")),
        "{error}"
    );
    assert!(!error.contains("hunter2"), "{error}");
}

#[test]
fn rediss_checks_the_servers_certificate() {
    let redis = TestRedis::start_with(true);
    let url = format!("rediss://localhost:{}/0", redis.port);
    let error = RedisBackplane::connect(&url, "parley:", 10).unwrap_err();
    assert!(error.contains("invalid peer certificate"), "{error}");
}

#[test]
fn redacts_the_password_only() {
    assert_eq!(
        redact("redis://user:secret@host:6379/2"),
        "redis://user:***@host:6379/2"
    );
    assert_eq!(redact("rediss://:pw@h/0?x=1"), "rediss://:***@h/0?x=1");
    assert_eq!(redact("redis://host:6379/0"), "redis://host:6379/0");
    assert_eq!(redact("redis://user@host"), "redis://user@host");
}

#[test]
fn an_acl_user_a_database_and_a_prefix_are_what_the_url_says() {
    let redis = TestRedis::start();
    let mut admin = redis.conn();
    redis::cmd("ACL")
        .arg(&[
            "SETUSER", "chat", "on", ">s3cret", "~team:*", "&team:*", "+@all",
        ])
        .query::<()>(&mut admin)
        .unwrap();
    let port = redis.port;
    let wrong = RedisBackplane::connect(
        &format!("redis://chat:wrong@127.0.0.1:{port}/3"),
        "team:",
        10,
    )
    .unwrap_err();
    assert!(
        !wrong.contains("wrong"),
        "the password is not shown: {wrong}"
    );
    let url = format!("redis://chat:s3cret@127.0.0.1:{port}/3");
    let mut bp = RedisBackplane::connect(&url, "team:", 10).expect("the ACL user connects");
    bp.join(join("a", "Ann", "lobby", 10)).unwrap();
    // Everything went to database 3, under the prefix.
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut admin).unwrap();
    assert!(keys.is_empty(), "nothing in database 0: {keys:?}");
    redis::cmd("SELECT").arg(3).query::<()>(&mut admin).unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut admin).unwrap();
    assert!(!keys.is_empty());
    assert!(keys.iter().all(|k| k.starts_with("team:")), "{keys:?}");
}
