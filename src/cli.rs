//! What the binary was asked to do, read from its arguments: serve (no
//! subcommand, exactly as before), `parley config TARGET` followed by
//! the server's own flags, which prints a configuration for them instead,
//! `parley doctor URL`, the connection check against a deployed URL, or
//! `parley export --room R` and `parley import`, a room's history as JSON
//! lines out of the store and back.
//! Both read the same [`Config`], with the same environment fallbacks, so a
//! printed configuration describes the server those flags would start. It
//! also notes which settings were given rather than defaulted, so that a
//! unit or a web.config can pass exactly those on.

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::Config;
use crate::deploy::{self, Setting, Target};

/// The command line: the server's flags, or a subcommand with them.
#[derive(Debug, Parser)]
#[command(name = "parley", version, about, long_about = None, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(flatten)]
    server: Config,

    #[command(subcommand)]
    command: Option<Sub>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Sub {
    /// Print a ready nginx, Apache, IIS or systemd configuration for these flags.
    ///
    /// Takes the server's own flags (and environment variables), e.g.
    /// `parley config nginx --port 3000 --base-path /chat`, and prints a
    /// configuration that fits a server started with them.
    #[command(name = "config")]
    Print(Box<PrintArgs>),

    /// Check, from this machine, that users can chat at URL: page, origin,
    /// WebSocket, long-polling, buffering and idle timeout through the proxy.
    ///
    /// URL is the address users open, e.g. `https://chat.example.com/chat/`.
    /// Prints a line per check with the fix when it fails; exits 0 only when
    /// both transports work.
    Doctor {
        /// The address users open.
        url: String,
    },

    /// Write a room's history to standard output as JSON lines, one message
    /// a line, from the data directory (the server stopped) or Redis.
    ///
    /// Takes the server's own flags to find the store: `parley export
    /// --room lobby --data-dir /var/lib/parley > lobby.jsonl`.
    Export(Box<ExportArgs>),

    /// Read JSON lines written by `parley export` from standard input into
    /// the data directory (the server stopped) or Redis.
    ///
    /// `parley import --redis-url redis://... < lobby.jsonl` moves a room
    /// from a single instance to Redis; ids continue the target room's.
    Import(Box<ImportArgs>),
}

/// The arguments of `parley export`.
#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// The room to export.
    #[arg(long)]
    room: String,

    #[command(flatten)]
    server: Config,
}

/// The arguments of `parley import`.
#[derive(Debug, clap::Args)]
struct ImportArgs {
    #[command(flatten)]
    server: Config,
}

/// The arguments of `parley config`.
#[derive(Debug, clap::Args)]
struct PrintArgs {
    /// What to write a configuration for.
    #[arg(value_enum)]
    target: Target,

    #[command(flatten)]
    server: Config,
}

/// What the binary is to do.
#[derive(Debug)]
pub enum Command {
    /// Run the server.
    Serve(Box<Config>),
    /// Print this configuration text and exit.
    Print(String),
    /// Run the connection check against this URL and exit with its verdict.
    Doctor(String),
    /// Write this room's history as JSON lines to standard output.
    Export(Box<Config>, String),
    /// Read JSON lines from standard input into the store.
    Import(Box<Config>),
}

impl Command {
    /// Reads the process's arguments and environment; exits with clap's
    /// message (or the help) when they do not parse.
    pub fn from_args() -> Command {
        Command::parse_args(std::env::args_os()).unwrap_or_else(|err| err.exit())
    }

    /// Reads explicit arguments (the program name first), environment
    /// fallbacks included.
    pub fn parse_args<I, T>(args: I) -> Result<Command, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Cli::command().try_get_matches_from(args)?;
        let cli = Cli::from_arg_matches(&matches)?;
        Ok(match cli.command {
            None => Command::Serve(Box::new(cli.server)),
            Some(Sub::Print(print)) => {
                let PrintArgs { target, server } = *print;
                let given = matches
                    .subcommand_matches("config")
                    .map(given_settings)
                    .unwrap_or_default();
                Command::Print(deploy::render(target, &server, &given))
            }
            Some(Sub::Doctor { url }) => Command::Doctor(url),
            Some(Sub::Export(export)) => {
                let ExportArgs { room, server } = *export;
                Command::Export(Box::new(server), room)
            }
            Some(Sub::Import(import)) => Command::Import(Box::new(import.server)),
        })
    }
}

/// The server settings that `matches` took from the command line or the
/// environment rather than from their defaults, in `--help` order. Hidden
/// ones (the ports IIS hands over) belong to the host, not to the operator.
fn given_settings(matches: &ArgMatches) -> Vec<Setting> {
    let command = Config::command();
    command
        .get_arguments()
        .filter(|arg| !arg.is_hide_set())
        .filter_map(|arg| {
            let id = arg.get_id().as_str();
            let explicit = matches!(
                matches.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            );
            let flag = arg.get_long()?;
            let env = arg.get_env()?.to_string_lossy().into_owned();
            let values: Vec<String> = matches
                .get_raw(id)?
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            explicit.then(|| Setting {
                flag: flag.to_owned(),
                env,
                value: values.join(","),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print(args: &[&str]) -> String {
        match Command::parse_args(std::iter::once("parley").chain(args.iter().copied())) {
            Ok(Command::Print(text)) => text,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    #[test]
    fn no_subcommand_serves_with_the_flags_given() {
        match Command::parse_args(["parley", "--port", "8080", "--base-path", "/chat"]) {
            Ok(Command::Serve(config)) => {
                assert_eq!(config.port(), 8080);
                assert_eq!(config.base_path(), "/chat");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Command::parse_args(["parley"]),
            Ok(Command::Serve(_))
        ));
    }

    #[test]
    fn config_takes_the_server_flags() {
        let text = print(&["config", "nginx", "--port", "3100", "--base-path", "/chat"]);
        assert!(text.contains("proxy_pass http://127.0.0.1:3100;"), "{text}");
        assert!(text.contains("location /chat/ {"), "{text}");
        assert!(text.contains("parley --port 3100 --bind 127.0.0.1 --trusted-proxies 127.0.0.1 --base-path /chat\n"), "{text}");
        let unit = print(&[
            "config",
            "systemd",
            "--allowed-origins",
            "https://a,https://b",
        ]);
        assert!(
            unit.contains("Environment=PARLEY_ALLOWED_ORIGINS=https://a,https://b\n"),
            "{unit}"
        );
    }

    #[test]
    fn config_refuses_unknown_targets_and_flags() {
        assert!(Command::parse_args(["parley", "config", "caddy"]).is_err());
        assert!(Command::parse_args(["parley", "config", "nginx", "--nope"]).is_err());
        assert!(Command::parse_args(["parley", "config"]).is_err());
    }

    #[test]
    fn doctor_takes_a_url() {
        match Command::parse_args(["parley", "doctor", "https://chat.example.com/chat/"]) {
            Ok(Command::Doctor(url)) => assert_eq!(url, "https://chat.example.com/chat/"),
            other => panic!("{other:?}"),
        }
        assert!(Command::parse_args(["parley", "doctor"]).is_err());
    }

    #[test]
    fn a_public_url_names_the_site_in_the_printed_proxy() {
        let text = print(&[
            "config",
            "nginx",
            "--public-url",
            "https://Chat.Example.com/chat/",
        ]);
        assert!(text.contains("server_name chat.example.com;"), "{text}");
        assert!(text.contains("location /chat/ {"), "{text}");
        assert!(text.contains("ssl"), "{text}");
    }
}
