//! A real Redis Cluster of three masters for the cluster tests:
//! [`RedisCluster::start`] runs three `redis-server --cluster-enabled yes`
//! on free loopback ports (each with a free cluster-bus port of its own,
//! no persistence, a temporary directory), joins them with `redis-cli
//! --cluster create ... --cluster-replicas 0 --cluster-yes`, and waits
//! until every node answers `CLUSTER INFO` with `cluster_state:ok`
//! (bounded by [`WAIT`], failing with the nodes' logs). The nodes are
//! killed and the directory removed on drop; after a failed test their
//! logs are kept in `test-artifacts/`.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::resp::{self, Reply};
use crate::common::browser::{artifacts_dir, POLL, WAIT};

const REDIS_SERVER: &str = "/usr/bin/redis-server";
const REDIS_CLI: &str = "/usr/bin/redis-cli";

/// Three masters, no replicas.
pub struct RedisCluster {
    children: Vec<Child>,
    ports: Vec<u16>,
    dir: PathBuf,
}

impl RedisCluster {
    /// Starts the three nodes, creates the cluster and waits until every
    /// node says the cluster is ok.
    pub async fn start() -> RedisCluster {
        let ports: Vec<u16> = (0..3).map(|_| crate::common::free_port()).collect();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "parley-redis-cluster-{}-{}-{nanos}",
            std::process::id(),
            ports[0]
        ));
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        let mut cluster = RedisCluster {
            children: Vec::new(),
            ports: ports.clone(),
            dir,
        };
        for port in ports {
            let log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(cluster.dir.join(format!("redis-{port}.log")))
                .expect("open the node's log");
            // The bus gets a free port of its own: port + 10000 (the
            // default) may be past 65535 or taken.
            let bus = crate::common::free_port().to_string();
            let child = Command::new(REDIS_SERVER)
                .args(["--port", &port.to_string(), "--cluster-port", &bus])
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&cluster.dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("share the log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {REDIS_SERVER}: {e}"));
            cluster.children.push(child);
        }
        for port in cluster.ports.clone() {
            cluster.await_node(port, |_| true).await;
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new(REDIS_CLI)
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {REDIS_CLI}: {e}"));
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed:\n{}",
            String::from_utf8_lossy(&created.stdout)
        );
        for port in cluster.ports.clone() {
            cluster
                .await_node(port, |info| info.contains("cluster_state:ok"))
                .await;
        }
        cluster
    }

    /// Every node, comma-separated, for `--redis-url` with
    /// `--redis-cluster`.
    pub fn url(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The nodes' ports.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Sends one command to the node on `port` and returns the reply.
    pub fn command(&self, port: u16, args: &[&str]) -> Reply {
        resp::command(port, args)
    }

    /// The port of the master that serves `key`'s hash slot: the one
    /// that answers a `GET` of it rather than redirecting with `MOVED`.
    pub fn master_of(&self, key: &str) -> u16 {
        self.ports
            .iter()
            .copied()
            .find(|&port| !matches!(self.command(port, &["GET", key]), Reply::Error(_)))
            .unwrap_or_else(|| panic!("no master serves {key}"))
    }

    /// How many keys the node on `port` holds.
    pub fn keys_on(&self, port: u16) -> i64 {
        match self.command(port, &["DBSIZE"]) {
            Reply::Integer(n) => n,
            other => panic!("DBSIZE answered {other:?}"),
        }
    }

    /// Waits until the node on `port` answers `CLUSTER INFO` with what
    /// `ok` accepts, failing with the logs if it exits or takes too long.
    async fn await_node(&mut self, port: u16, ok: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            for child in &mut self.children {
                if let Some(exit) = child.try_wait().expect("poll redis-server") {
                    panic!("a cluster node exited ({exit}):\n{}", self.logs());
                }
            }
            if resp::pong(port) {
                if let Reply::Bulk(Some(info)) = resp::command(port, &["CLUSTER", "INFO"]) {
                    if ok(&info) {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "cluster node {port} not ready:\n{}",
                self.logs()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    fn logs(&self) -> String {
        self.ports
            .iter()
            .map(|port| {
                let log = std::fs::read_to_string(self.dir.join(format!("redis-{port}.log")));
                format!("--- node {port}\n{}", log.unwrap_or_default())
            })
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let kept = artifacts_dir().join(format!("redis-cluster-{}.log", self.ports[0]));
            let _ = std::fs::write(kept, self.logs());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
