//! The server's whole configuration as one typed struct, read once from the
//! command line with environment fallbacks (clap) and passed down. Nothing
//! else in the crate reads the environment.

use std::net::IpAddr;

use clap::Parser;

use crate::limits::Limits;

/// Port used when no flag or variable names one.
pub const DEFAULT_PORT: u16 = 3000;

/// Parley: a real-time chat server (WebSocket and long-polling).
#[derive(Debug, Clone, Parser)]
#[command(name = "parley", version, about, long_about = None)]
pub struct Config {
    /// TCP port to listen on; 0 picks a free one. Falls back to
    /// HTTP_PLATFORM_PORT (IIS HttpPlatformHandler), then ASPNETCORE_PORT
    /// (ASP.NET Core Module), then 3000.
    #[arg(long, env = "PORT")]
    pub port: Option<u16>,

    /// Port handed over by IIS's HttpPlatformHandler.
    #[arg(long, env = "HTTP_PLATFORM_PORT", hide = true)]
    pub http_platform_port: Option<u16>,

    /// Port handed over by the ASP.NET Core Module.
    #[arg(long, env = "ASPNETCORE_PORT", hide = true)]
    pub aspnetcore_port: Option<u16>,

    /// Address to bind.
    #[arg(long, env = "PARLEY_BIND", default_value = "0.0.0.0")]
    pub bind: IpAddr,

    /// HTTP worker threads; 0 means one per CPU core.
    #[arg(long, env = "PARLEY_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Origins allowed to open a WebSocket, comma-separated (e.g.
    /// https://chat.example.com), or * for any. The page's own origin is
    /// always allowed; clients that send no Origin (non-browsers) are too.
    #[arg(long, env = "PARLEY_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Messages kept per room (for history on join and resume).
    #[arg(long, env = "PARLEY_HISTORY_SIZE", default_value_t = Limits::default().history_size)]
    pub history_size: usize,

    /// Messages shown to someone joining afresh.
    #[arg(long, env = "PARLEY_HISTORY_ON_JOIN", default_value_t = Limits::default().history_on_join)]
    pub history_on_join: usize,

    /// Longest message, in characters.
    #[arg(long, env = "PARLEY_MAX_MESSAGE_CHARS", default_value_t = Limits::default().max_message_chars)]
    pub max_message_chars: usize,

    /// Longest nickname, in characters.
    #[arg(long, env = "PARLEY_MAX_NICK_CHARS", default_value_t = Limits::default().max_nick_chars)]
    pub max_nick_chars: usize,

    /// Largest client frame, in bytes; a larger WebSocket message closes the
    /// connection with 1009.
    #[arg(long, env = "PARLEY_MAX_FRAME_BYTES", default_value_t = Limits::default().max_frame_bytes)]
    pub max_frame_bytes: usize,

    /// Rooms held at once; past it the longest-idle empty room is forgotten.
    #[arg(long, env = "PARLEY_MAX_ROOMS", default_value_t = Limits::default().max_rooms)]
    pub max_rooms: usize,

    /// Participants per room.
    #[arg(long, env = "PARLEY_MAX_ROOM_MEMBERS", default_value_t = Limits::default().max_room_members)]
    pub max_room_members: usize,

    /// Frames one connection may send in a burst.
    #[arg(long, env = "PARLEY_RATE_BURST", default_value_t = Limits::default().rate_burst)]
    pub rate_burst: u32,

    /// Frames per second one connection may sustain.
    #[arg(long, env = "PARLEY_RATE_PER_SEC", default_value_t = Limits::default().rate_per_sec)]
    pub rate_per_sec: u32,

    /// Bytes queued for a client that does not read before it is dropped
    /// (it then resumes from history when it reconnects).
    #[arg(long, env = "PARLEY_MAX_OUTBOX_BYTES", default_value_t = Limits::default().max_outbox_bytes)]
    pub max_outbox_bytes: usize,
}

impl Config {
    /// Parses the process's arguments and environment.
    pub fn from_args() -> Self {
        Config::parse()
    }

    /// Parses explicit arguments (the program name first), environment
    /// fallbacks included; for tests and embedding.
    pub fn from_iter<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Config::try_parse_from(args)
    }

    /// The port to listen on, after every fallback.
    pub fn port(&self) -> u16 {
        self.port
            .or(self.http_platform_port)
            .or(self.aspnetcore_port)
            .unwrap_or(DEFAULT_PORT)
    }

    /// The limits the room core and transports enforce.
    pub fn limits(&self) -> Limits {
        Limits {
            max_message_chars: self.max_message_chars,
            max_nick_chars: self.max_nick_chars,
            max_frame_bytes: self.max_frame_bytes,
            history_size: self.history_size,
            history_on_join: self.history_on_join,
            max_rooms: self.max_rooms,
            max_room_members: self.max_room_members,
            rate_burst: self.rate_burst,
            rate_per_sec: self.rate_per_sec,
            max_outbox_bytes: self.max_outbox_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_falls_back_through_the_hosting_variables() {
        let parse = |args: &[&str]| {
            Config::from_iter(std::iter::once("parley").chain(args.iter().copied())).unwrap()
        };
        assert_eq!(
            parse(&["--port", "8080", "--http-platform-port", "9"]).port(),
            8080
        );
        assert_eq!(
            parse(&["--http-platform-port", "9", "--aspnetcore-port", "10"]).port(),
            9
        );
        assert_eq!(parse(&["--aspnetcore-port", "10"]).port(), 10);
        let defaults = parse(&[]);
        if std::env::var_os("PORT").is_none()
            && std::env::var_os("HTTP_PLATFORM_PORT").is_none()
            && std::env::var_os("ASPNETCORE_PORT").is_none()
        {
            assert_eq!(defaults.port(), DEFAULT_PORT);
        }
        assert_eq!(defaults.limits(), Limits::default());
    }

    #[test]
    fn origins_split_on_commas() {
        let config = Config::from_iter([
            "parley",
            "--allowed-origins",
            "https://a.example,https://b.example",
        ])
        .unwrap();
        assert_eq!(
            config.allowed_origins,
            vec!["https://a.example", "https://b.example"]
        );
    }
}
