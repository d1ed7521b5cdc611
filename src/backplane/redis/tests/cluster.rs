//! The Redis backplane on a Redis Cluster: [`TestCluster`] starts three
//! masters of the test's own (`redis-server --cluster-enabled yes` on free
//! loopback ports, joined by `redis-cli --cluster create`) and waits until
//! every node says `cluster_state:ok`; the tests drive the contract's
//! script through it as through one Redis (`equivalence.rs` holds the
//! cases, run on both) and check that rooms really spread over the
//! masters. Each test starts its own cluster (nextest runs each test in a
//! process of its own, so there is nothing to share), killed on drop.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use redis::cluster::ClusterClient;

use super::*;

/// Three masters, no replicas, in a temporary directory; killed on drop.
pub(super) struct TestCluster {
    children: Vec<Child>,
    ports: Vec<u16>,
    dir: PathBuf,
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    // unwrap: binding port 0 on loopback does not fail in a test box.
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl TestCluster {
    pub(super) fn start() -> TestCluster {
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let dir = std::env::temp_dir().join(format!(
            "parley-backplane-cluster-{}-{}",
            std::process::id(),
            ports[0]
        ));
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        let mut cluster = TestCluster {
            children: Vec::new(),
            ports,
            dir,
        };
        for &port in &cluster.ports.clone() {
            // The cluster bus gets a free port of its own: port + 10000
            // may be past 65535 or taken.
            let bus = free_port().to_string();
            let port = port.to_string();
            let child = Command::new("redis-server")
                .args(["--port", &port, "--cluster-port", &bus])
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&cluster.dir)
                .current_dir(&cluster.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server is missing: apt-get install -y redis-server");
            cluster.children.push(child);
        }
        for &port in &cluster.ports {
            cluster.await_node(port, |_| true);
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli is missing: apt-get install -y redis-tools");
        assert!(created.success(), "redis-cli --cluster create failed");
        for &port in &cluster.ports {
            cluster.await_node(port, |info| info.contains("cluster_state:ok"));
        }
        cluster
    }

    /// Waits until the node on `port` answers CLUSTER INFO with what `ok`
    /// accepts (bounded).
    fn await_node(&self, port: u16, ok: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let info = Client::open(format!("redis://127.0.0.1:{port}"))
                .and_then(|c| c.get_connection_with_timeout(IO_TIMEOUT))
                .and_then(|mut c| redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut c));
            if info.is_ok_and(|info| ok(&info)) {
                return;
            }
            assert!(Instant::now() < deadline, "cluster node {port} not ready");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every node, comma-separated, as `--redis-url` takes them with
    /// `--redis-cluster`.
    pub(super) fn url(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A raw cluster connection, for looking behind the backplane.
    pub(super) fn conn(&self) -> redis::cluster::ClusterConnection {
        let nodes: Vec<String> = self.url().split(',').map(str::to_owned).collect();
        ClusterClient::new(nodes).unwrap().get_connection().unwrap()
    }

    /// How many keys each master holds.
    pub(super) fn keys_per_node(&self) -> Vec<usize> {
        self.ports
            .iter()
            .map(|port| {
                let mut conn =
                    open(&Client::open(format!("redis://127.0.0.1:{port}")).unwrap()).unwrap();
                redis::cmd("DBSIZE").query(&mut conn).unwrap()
            })
            .collect()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(super) fn cluster_backplane(
    cluster: &TestCluster,
    prefix: &str,
    history: usize,
) -> RedisBackplane {
    RedisBackplane::connect_to(&cluster.url(), true, prefix, history).expect("connect")
}

#[test]
fn rooms_spread_over_the_masters() {
    let cluster = TestCluster::start();
    let mut bp = cluster_backplane(&cluster, "parley:", 10);
    let names: Vec<String> = (0..12).map(|n| format!("room-{n}")).collect();
    for (n, name) in names.iter().enumerate() {
        bp.join(join(&format!("m{n}"), &format!("M{n}"), name, 10))
            .unwrap();
        bp.say(&room(name), &tok(&format!("m{n}")), "hi".into(), None, NOW)
            .unwrap();
    }
    let per_node = cluster.keys_per_node();
    assert!(
        per_node.iter().all(|&keys| keys > 0),
        "every master holds some rooms: {per_node:?}"
    );
    for (n, name) in names.iter().enumerate() {
        let snapshot = bp.snapshot(&room(name)).unwrap();
        assert_eq!(snapshot.members.len(), 1);
        assert_eq!(snapshot.history[0].nick, format!("M{n}"));
    }
}

/// The wrong flag is a clear error at start, both ways round.
#[test]
fn the_cluster_flag_must_match_what_redis_is() {
    let cluster = TestCluster::start();
    let first = cluster.url().split(',').next().unwrap().to_owned();
    let error = RedisBackplane::connect_to(&first, false, "parley:", 10).unwrap_err();
    assert!(error.contains("--redis-cluster"), "{error}");
    let redis = TestRedis::start();
    let error = RedisBackplane::connect_to(&redis.url(), true, "parley:", 10).unwrap_err();
    assert!(error.contains("without --redis-cluster"), "{error}");
}
