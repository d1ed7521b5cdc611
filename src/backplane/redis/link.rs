//! Where the Redis backplane's connections go: one Redis server, or a
//! Redis Cluster found from one or more of its nodes (`--redis-cluster`).
//! Commands go through one [`Link`], a plain connection or the `redis`
//! crate's `ClusterConnection`, which sends each command or script to the
//! primary of its key's slot and follows the cluster as it changes; the
//! subscription listens on one node ([`Target::feed_clients`]), since a
//! PUBLISH in a cluster reaches the subscribers of every node.
//!
//! It owns opening connections with [`IO_TIMEOUT`], and when a command
//! connection is opened again ([`Slot`]), and nothing else: what runs on
//! them is `redis.rs`'s, `pipeline.rs`'s and `feed.rs`'s.

use std::time::Instant;

use redis::cluster::ClusterClient;
use redis::{Client, Connection, ConnectionLike, ErrorKind, RedisError, RedisResult};

use super::{IO_TIMEOUT, RETRY_EVERY};

/// A command connection, to one server or to a cluster.
pub(super) type Link = Box<dyn ConnectionLike + Send>;

/// A command connection held by one thread, opened when needed: at first
/// use, after it broke (not sooner than [`RETRY_EVERY`] after), and when
/// any link of the backplane went down since it was opened (Redis may have
/// restarted under it without this one knowing).
pub(super) struct Slot {
    link: Option<Link>,
    /// The backplane's outage count when `link` was opened.
    opened_after: u64,
    /// No reopening before this.
    retry_at: Instant,
}

/// Why [`Slot::ready`] has no connection.
pub(super) enum NotReady {
    /// It broke a moment ago: not retried yet.
    Waiting,
    /// Opening it failed.
    Failed(RedisError),
}

impl Slot {
    /// A slot holding `link` (none: opened at first use).
    pub(super) fn new(link: Option<Link>) -> Slot {
        Slot {
            link,
            opened_after: 0,
            retry_at: Instant::now(),
        }
    }

    /// The connection, opened first if need be (`outages` is the
    /// backplane's count now), and whether it was just opened.
    pub(super) fn ready(
        &mut self,
        target: &Target,
        outages: u64,
    ) -> Result<(&mut Link, bool), NotReady> {
        if self.opened_after != outages {
            self.link = None;
        }
        let fresh = self.link.is_none();
        if fresh {
            if Instant::now() < self.retry_at {
                return Err(NotReady::Waiting);
            }
            self.link = Some(target.open().map_err(NotReady::Failed)?);
            self.opened_after = outages;
        }
        // unwrap: opened just above when missing.
        Ok((self.link.as_mut().unwrap(), fresh))
    }

    /// The connection, if open.
    pub(super) fn get(&mut self) -> Option<&mut Link> {
        self.link.as_mut()
    }

    /// Drops the connection, to open again at the next use.
    pub(super) fn close(&mut self) {
        self.link = None;
    }

    /// Drops the connection after a failure (`broke`, or while none is
    /// open), to open again no sooner than [`RETRY_EVERY`] from now.
    pub(super) fn failed(&mut self, broke: bool) {
        if broke || self.link.is_none() {
            self.link = None;
            self.retry_at = Instant::now() + RETRY_EVERY;
        }
    }
}

/// Retries of a cluster command (after a MOVED, or while a slot's primary
/// is failing over) before it counts as an outage: few, since the
/// ChatRoom's thread waits meanwhile, and a refused call is retried by
/// the client anyway.
const CLUSTER_RETRIES: u32 = 2;

/// What the backplane connects to.
#[derive(Clone)]
pub(super) enum Target {
    /// One Redis server.
    Single(Client),
    /// A Redis Cluster, and a plain client for each node it was given.
    Cluster {
        client: ClusterClient,
        seeds: Vec<Client>,
    },
}

impl Target {
    /// The target of `url`: one server, or with `cluster` a
    /// comma-separated list of cluster nodes.
    pub(super) fn parse(url: &str, cluster: bool) -> RedisResult<Target> {
        if !cluster {
            return Client::open(url).map(Target::Single);
        }
        let urls: Vec<&str> = url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect();
        let seeds = urls
            .iter()
            .map(|u| Client::open(*u))
            .collect::<RedisResult<Vec<_>>>()?;
        let client = ClusterClient::builder(urls)
            .connection_timeout(IO_TIMEOUT)
            .response_timeout(IO_TIMEOUT)
            .retries(CLUSTER_RETRIES)
            .build()?;
        Ok(Target::Cluster { client, seeds })
    }

    /// A command connection with [`IO_TIMEOUT`] on connecting, reading and
    /// writing.
    pub(super) fn open(&self) -> RedisResult<Link> {
        match self {
            Target::Single(client) => Ok(Box::new(open(client)?)),
            Target::Cluster { client, .. } => {
                let conn = client.get_connection()?;
                conn.set_read_timeout(Some(IO_TIMEOUT))?;
                conn.set_write_timeout(Some(IO_TIMEOUT))?;
                Ok(Box::new(conn))
            }
        }
    }

    /// A plain connection to the first node given that answers, to ask
    /// what kind of server it is.
    pub(super) fn first_node(&self) -> RedisResult<Connection> {
        let mut failed = None;
        for client in self.feed_clients() {
            match open(&client) {
                Ok(conn) => return Ok(conn),
                Err(e) => failed = Some(e),
            }
        }
        Err(failed.unwrap_or_else(|| {
            RedisError::from((ErrorKind::InvalidClientConfig, "no Redis node given"))
        }))
    }

    /// Where the subscription may listen, in the order to try: the one
    /// server, or each node given for the cluster.
    pub(super) fn feed_clients(&self) -> Vec<Client> {
        match self {
            Target::Single(client) => vec![client.clone()],
            Target::Cluster { seeds, .. } => seeds.clone(),
        }
    }
}

/// Whether the server behind `conn` runs in cluster mode (`INFO cluster`
/// says `cluster_enabled:1`): a plain connection to it would be answered
/// MOVED for most rooms, so the start is refused instead.
pub(super) fn is_cluster_node(conn: &mut dyn ConnectionLike) -> bool {
    redis::cmd("INFO")
        .arg("cluster")
        .query::<String>(conn)
        .is_ok_and(|info| info.contains("cluster_enabled:1"))
}

/// A plain connection with [`IO_TIMEOUT`] on connecting, reading and
/// writing.
pub(super) fn open(client: &Client) -> RedisResult<Connection> {
    let conn = client.get_connection_with_timeout(IO_TIMEOUT)?;
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(conn)
}
