//! The command line: which server and transport, which scenario, its sizes,
//! and the server's pid for /proc readings. Everything a run reads comes
//! from here.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::adapters::Target;

/// Load generator for Parley and a Socket.IO peer.
#[derive(Debug, Parser)]
#[command(
    name = "parley-bench",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Args {
    /// Another action instead of a run.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Server and transport to drive.
    #[arg(long, value_enum, default_value = "parley-ws")]
    pub target: Target,

    /// The server's base URL (an IP address and port). Repeat it to spread
    /// the clients over several instances of one cluster: client i goes to
    /// URL i mod n, and the senders of fanout and sweep all go to the first.
    #[arg(long = "url", default_value = "http://127.0.0.1:3000")]
    pub urls: Vec<String>,

    /// What to measure.
    #[arg(long, value_enum, default_value = "fanout")]
    pub scenario: Scenario,

    /// The row name in reports (default: the scenario's name).
    #[arg(long)]
    pub label: Option<String>,

    /// The run's number among repeats (pairs runs for ratios).
    #[arg(long, default_value_t = 1)]
    pub run: u32,

    /// The server's pid, for its CPU and memory from /proc. Repeat it for
    /// a cluster (its instances and Redis): CPU and memory are summed, and
    /// CPU is also reported per pid, numbered in the order given.
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,

    /// Spread client sockets over this many source addresses from
    /// 127.0.0.2 on (0: let the kernel pick).
    #[arg(long, default_value_t = 8)]
    pub source_addrs: u8,

    /// Each WebSocket's read buffer in bytes: the most one read takes.
    #[arg(long, default_value_t = 16 * 1024)]
    pub read_buffer: usize,

    /// Connections being set up at once.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,

    /// hold: connections to open and log in.
    #[arg(long, default_value_t = 1000)]
    pub conns: usize,

    /// hold: users per room.
    #[arg(long, default_value_t = 50)]
    pub room_size: usize,

    /// hold: seconds to wait after the last login before reading memory.
    #[arg(long, default_value_t = 2.0)]
    pub settle_secs: f64,

    /// hold: seconds to hold the connections after that (any dropped are
    /// reported).
    #[arg(long, default_value_t = 3.0)]
    pub hold_secs: f64,

    /// fanout, sweep: clients in the room (the senders among them).
    #[arg(long, default_value_t = 100)]
    pub clients: usize,

    /// fanout, sweep: how many of the clients send.
    #[arg(long, default_value_t = 10)]
    pub senders: usize,

    /// fanout, sweep: rooms the clients are spread over (client i is in
    /// room i mod rooms, so with as many senders as rooms every room has
    /// one); 1 is the single room of the classic cases.
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,

    /// fanout: messages per second, all senders together.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,

    /// fanout, sweep: seconds of sending (per step for a sweep).
    #[arg(long, default_value_t = 5.0)]
    pub secs: f64,

    /// sweep: offered deliveries per second of the first step.
    #[arg(long, default_value_t = 10_000.0)]
    pub sweep_start: f64,

    /// sweep: each step offers this many times the previous one.
    #[arg(long, default_value_t = 1.5)]
    pub sweep_factor: f64,

    /// sweep: most steps.
    #[arg(long, default_value_t = 14)]
    pub sweep_steps: u32,

    /// sweep: a step fails when its p99 latency passes this.
    #[arg(long, default_value_t = 100.0)]
    pub p99_limit_ms: f64,

    /// storm: users logging in at once.
    #[arg(long, default_value_t = 1000)]
    pub users: usize,

    /// storm: give up after this many seconds (reported as incomplete).
    #[arg(long, default_value_t = 60.0)]
    pub deadline_secs: f64,

    /// soak: minutes of churn.
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,

    /// soak: WebSocket users.
    #[arg(long, default_value_t = 48)]
    pub soak_ws: usize,

    /// soak: long-polling users.
    #[arg(long, default_value_t = 24)]
    pub soak_poll: usize,

    /// soak: rooms the users visit.
    #[arg(long, default_value_t = 12)]
    pub soak_rooms: usize,

    /// soak: seconds between readers that stop reading (each is looked at
    /// 80 s later).
    #[arg(long, default_value_t = 60.0)]
    pub stuck_every_secs: f64,

    /// soak: seconds between readings of the server.
    #[arg(long, default_value_t = 10.0)]
    pub sample_secs: f64,

    /// soak: readings before this many seconds are left out of the summary
    /// (the rooms' histories are still filling).
    #[arg(long, default_value_t = 180.0)]
    pub warmup_secs: f64,

    /// soak: after the last user is gone, seconds to wait before reading
    /// the server at rest (abandoned polling sessions and nickname leases
    /// lapse within 45 + 15 s at the defaults; rooms then empty).
    #[arg(long, default_value_t = 90.0)]
    pub rest_secs: f64,

    /// soak: write every reading to this CSV file.
    #[arg(long)]
    pub csv: Option<PathBuf>,
}

/// What a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Idle logged-in connections: memory per connection, connect rate.
    Hold,
    /// One room, fixed send rate: deliveries, loss, latency, server CPU.
    Fanout,
    /// Fanout at rising rates until p99 or loss fails.
    Sweep,
    /// Many users log in at once: time until every roster is complete.
    Storm,
    /// Minutes of churn on both transports: RSS and open files over time.
    Soak,
}

impl Scenario {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Hold => "hold",
            Scenario::Fanout => "fanout",
            Scenario::Sweep => "sweep",
            Scenario::Storm => "storm",
            Scenario::Soak => "soak",
        }
    }
}

/// Actions other than a run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Prints the markdown comparison table for files of `result` lines.
    Summarize {
        /// Files holding the runs' output.
        files: Vec<PathBuf>,
    },
    /// Relays TCP connections, holding every chunk back in each direction:
    /// the cluster-*-delay cases put it between the servers and Redis.
    DelayProxy {
        /// Address to listen on.
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// Address to relay to.
        #[arg(long)]
        to: std::net::SocketAddr,
        /// Added round trip in milliseconds: half of it each way.
        #[arg(long, default_value_t = 1.0)]
        round_trip_ms: f64,
    },
}
